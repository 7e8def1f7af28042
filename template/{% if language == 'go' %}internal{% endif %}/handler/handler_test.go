package handler

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// event reads a file in the project's events/ folder, shared with the
// emulator tests.
func event(t *testing.T, file string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", file))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestHandle(t *testing.T) {
	fixed := time.Date(2026, time.November, 27, 16, 30, 0, 0, time.UTC)
	h := New(func() time.Time { return fixed })

	tests := []struct {
		name    string
		file    string // a file in events/, or
		raw     string // an inline event
		status  int
		message string
		headers map[string]string // besides content-type
	}{
		// The shared events.
		{name: "hello with a name", file: "hello.json", status: 200, message: "Hello, Chris"},
		{name: "hello without a name", file: "hello-default.json", status: 200, message: "Hello, World"},
		{name: "goodbye with a name", file: "goodbye.json", status: 200, message: "Goodbye, Chris"},
		{name: "unknown path", file: "not-found.json", status: 404, message: "Not found"},
		{name: "malformed event", file: "malformed.json", status: 400, message: "Bad request"},
		{name: "POST /hello", file: "method-not-allowed.json", status: 405, message: "Method not allowed",
			headers: map[string]string{"allow": "GET"}},
		// Edge cases.
		{name: "empty name", raw: `{"rawPath":"/hello","queryStringParameters":{"name":""},"requestContext":{"http":{"method":"GET"}}}`,
			status: 200, message: "Hello, World"},
		{name: "no query", raw: `{"rawPath":"/goodbye","requestContext":{"http":{"method":"GET"}}}`,
			status: 200, message: "Goodbye, World"},
		{name: "DELETE /goodbye", raw: `{"rawPath":"/goodbye","requestContext":{"http":{"method":"DELETE"}}}`,
			status: 405, message: "Method not allowed", headers: map[string]string{"allow": "GET"}},
		{name: "POST to an unknown path", raw: `{"rawPath":"/nope","requestContext":{"http":{"method":"POST"}}}`,
			status: 404, message: "Not found"},
		{name: "GET /", raw: `{"rawPath":"/","requestContext":{"http":{"method":"GET"}}}`, status: 404, message: "Not found"},
		{name: "trailing slash", raw: `{"rawPath":"/hello/","requestContext":{"http":{"method":"GET"}}}`,
			status: 404, message: "Not found"},
		{name: "a string", raw: `"just a string"`, status: 400, message: "Bad request"},
		{name: "an array", raw: `[1,2]`, status: 400, message: "Bad request"},
		{name: "a number", raw: `42`, status: 400, message: "Bad request"},
		{name: "method not a string", raw: `{"rawPath":"/hello","requestContext":{"http":{"method":1}}}`,
			status: 400, message: "Bad request"},
		{name: "query not a map", raw: `{"rawPath":"/hello","queryStringParameters":7,"requestContext":{"http":{"method":"GET"}}}`,
			status: 400, message: "Bad request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := json.RawMessage(tc.raw)
			if tc.file != "" {
				raw = event(t, tc.file)
			}

			resp, err := h.Handle(context.Background(), raw)
			if err != nil {
				t.Fatalf("Handle returned an error: %v", err)
			}

			if resp.StatusCode != tc.status {
				t.Errorf("statusCode = %d, want %d", resp.StatusCode, tc.status)
			}
			wantHeaders := map[string]string{"content-type": "application/json"}
			maps.Copy(wantHeaders, tc.headers)
			if !maps.Equal(resp.Headers, wantHeaders) {
				t.Errorf("headers = %v, want %v", resp.Headers, wantHeaders)
			}
			var body Body
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, resp.Body)
			}
			want := Body{Timestamp: "2026-11-27T16:30:00Z", Status: tc.status, Message: tc.message}
			if body != want {
				t.Errorf("body = %+v, want %+v", body, want)
			}
		})
	}
}
