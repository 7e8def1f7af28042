package handler

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestHandle(t *testing.T) {
	fixed := time.Date(2026, time.November, 27, 16, 30, 0, 0, time.UTC)
	h := New(func() time.Time { return fixed })

	tests := []struct {
		name    string
		event   string // a file in the project's events/ folder
		status  int
		message string
	}{
		{"hello with a name", "hello.json", 200, "Hello, Chris"},
		{"hello without a name", "hello-default.json", 200, "Hello, World"},
		{"goodbye with a name", "goodbye.json", 200, "Goodbye, Chris"},
		{"unknown path", "not-found.json", 404, "Not found"},
		{"malformed event", "malformed.json", 400, "Bad request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "events", tc.event))
			if err != nil {
				t.Fatal(err)
			}

			resp, err := h.Handle(context.Background(), raw)
			if err != nil {
				t.Fatalf("Handle returned an error: %v", err)
			}

			if resp.StatusCode != tc.status {
				t.Errorf("statusCode = %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Headers["content-type"]; got != "application/json" {
				t.Errorf("content-type = %q, want application/json", got)
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

func TestHandleRejectsOtherMethods(t *testing.T) {
	h := New(time.Now)
	raw := json.RawMessage(`{"rawPath":"/hello","requestContext":{"http":{"method":"POST","path":"/hello"}}}`)

	resp, err := h.Handle(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 {
		t.Errorf("statusCode = %d, want 404", resp.StatusCode)
	}
}

func TestHandleAnswersNonObjectEvents(t *testing.T) {
	h := New(time.Now)
	for _, raw := range []string{`"just a string"`, `[1,2]`, `42`} {
		resp, err := h.Handle(context.Background(), json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if resp.StatusCode != 400 {
			t.Errorf("%s: statusCode = %d, want 400", raw, resp.StatusCode)
		}
	}
}
