// Package handler answers API Gateway HTTP API (payload format 2.0) events.
package handler

import (
	"context"
	"encoding/json"
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
		return h.respond(http.StatusBadRequest, "Bad request")
	}
	if req.RequestContext.HTTP.Method != http.MethodGet {
		return h.respond(http.StatusNotFound, "Not found")
	}

	name := req.QueryStringParameters["name"]
	if name == "" {
		name = "World"
	}
	switch req.RawPath {
	case "/hello":
		return h.respond(http.StatusOK, "Hello, "+name)
	case "/goodbye":
		return h.respond(http.StatusOK, "Goodbye, "+name)
	default:
		return h.respond(http.StatusNotFound, "Not found")
	}
}

func (h *Handler) respond(status int, message string) (events.APIGatewayV2HTTPResponse, error) {
	body, err := json.Marshal(Body{
		Timestamp: h.now().UTC().Format(time.RFC3339),
		Status:    status,
		Message:   message,
	})
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"content-type": "application/json"},
		Body:       string(body),
	}, nil
}
