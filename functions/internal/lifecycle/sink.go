package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Sink delivers events. Send returns one error per event, in order: nil for
// an event delivered.
type Sink interface {
	Send(ctx context.Context, events []Event) []error
}

// PutEventsAPI is the part of the EventBridge client the sink uses
// (*eventbridge.Client satisfies it).
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ PutEventsAPI = (*eventbridge.Client)(nil)

// maxEntries is PutEvents' limit of entries per call (EventBridge API
// reference, PutEvents). Our events are far below its 256 KiB per call.
const maxEntries = 10

// EventBridge puts events on one event bus with PutEvents.
type EventBridge struct {
	API PutEventsAPI
	// Bus is the event bus name or ARN; "" or "default" is the account's
	// default bus.
	Bus string
}

var _ Sink = (*EventBridge)(nil)

// ErrEntryFailed wraps the error code EventBridge gave one entry of a
// PutEvents call that partly failed (FailedEntryCount > 0).
var ErrEntryFailed = errors.New("lifecycle: EventBridge refused the event")

// Send puts events in calls of up to 10 entries. A call that fails fails its
// entries; an entry EventBridge answers with an ErrorCode fails alone
// (ErrEntryFailed).
func (b *EventBridge) Send(ctx context.Context, events []Event) []error {
	errs := make([]error, len(events))
	for start := 0; start < len(events); start += maxEntries {
		chunk := events[start:min(start+maxEntries, len(events))]
		entries := make([]types.PutEventsRequestEntry, len(chunk))
		for i, e := range chunk {
			detail, err := json.Marshal(e.Detail)
			if err != nil { // a Detail always marshals; keep the error path honest
				errs[start+i] = fmt.Errorf("lifecycle: encode detail: %w", err)
				continue
			}
			entries[i] = types.PutEventsRequestEntry{
				Source: aws.String(Source), DetailType: aws.String(e.DetailType),
				Detail: aws.String(string(detail)), Time: aws.Time(e.Time),
			}
			if b.Bus != "" {
				entries[i].EventBusName = aws.String(b.Bus)
			}
		}
		out, err := b.API.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err == nil && len(out.Entries) != len(entries) {
			err = fmt.Errorf("lifecycle: PutEvents answered %d entries for %d", len(out.Entries), len(entries))
		}
		for i := range chunk {
			switch {
			case errs[start+i] != nil:
			case err != nil:
				errs[start+i] = fmt.Errorf("lifecycle: PutEvents: %w", err)
			case out.Entries[i].ErrorCode != nil:
				errs[start+i] = fmt.Errorf("%w: %s: %s", ErrEntryFailed,
					aws.ToString(out.Entries[i].ErrorCode), aws.ToString(out.Entries[i].ErrorMessage))
			}
		}
	}
	return errs
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
