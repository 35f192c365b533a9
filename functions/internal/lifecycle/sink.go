package lifecycle

import (
	"context"
	"log/slog"
)

// Sink delivers events. Send returns one error per event, in order: nil for
// an event delivered.
type Sink interface {
	Send(ctx context.Context, events []Event) []error
}

// Log writes each event as one JSON log line, "msg":"lifecycle event", with
// the event's source, detail-type and detail: the local server's stand-in
// for EventBridge.
type Log struct {
	Logger *slog.Logger
}

var _ Sink = Log{}

// Send logs every event; it never fails.
func (l Log) Send(ctx context.Context, events []Event) []error {
	for _, e := range events {
		l.Logger.LogAttrs(ctx, slog.LevelInfo, "lifecycle event",
			slog.String("source", Source), slog.String("detail-type", e.DetailType), slog.Any("detail", e.Detail))
	}
	return make([]error, len(events))
}
