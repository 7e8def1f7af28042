// Package handler answers API Gateway HTTP API (payload format 2.0) events.
package handler

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Body is the JSON document every response carries.
type Body struct {
	Timestamp string `json:"timestamp"`
	Status    int    `json:"status"`
	Message   string `json:"message"`
}

// Handler routes requests. Its clock is injected so tests can fix the time.
type Handler struct {
	now func() time.Time
}

// New returns a Handler that reads the time from now.
func New(now func() time.Time) *Handler {
	return &Handler{now: now}
}

// Handle takes the raw event so that a malformed one is answered with a 400
// instead of failing the invocation in the runtime's own decoder.
func (h *Handler) Handle(_ context.Context, raw json.RawMessage) (events.APIGatewayV2HTTPResponse, error) {
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return h.respond(http.StatusBadRequest, "Bad request", nil)
	}

	var greeting string
	switch req.RawPath {
	case "/hello":
		greeting = "Hello"
	case "/goodbye":
		greeting = "Goodbye"
	default:
		return h.respond(http.StatusNotFound, "Not found", nil)
	}
	if req.RequestContext.HTTP.Method != http.MethodGet {
		return h.respond(http.StatusMethodNotAllowed, "Method not allowed", map[string]string{"allow": http.MethodGet})
	}

	name := req.QueryStringParameters["name"]
	if name == "" {
		name = "World"
	}
	return h.respond(http.StatusOK, greeting+", "+name, nil)
}

// respond answers with a JSON Body and the given headers besides its content-type.
func (h *Handler) respond(status int, message string, headers map[string]string) (events.APIGatewayV2HTTPResponse, error) {
	body, err := json.Marshal(Body{
		Timestamp: h.now().UTC().Format(time.RFC3339),
		Status:    status,
		Message:   message,
	})
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	all := map[string]string{"content-type": "application/json"}
	maps.Copy(all, headers)
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    all,
		Body:       string(body),
	}, nil
}
