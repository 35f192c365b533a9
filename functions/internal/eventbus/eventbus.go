// Package eventbus puts lifecycle events (package lifecycle) on an Amazon
// EventBridge event bus. It is apart from lifecycle so that only the
// publisher links the EventBridge client.
package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/kudurrustone/apikeys/functions/internal/lifecycle"
)

// PutEventsAPI is the part of the EventBridge client the sink uses
// (*eventbridge.Client satisfies it).
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ PutEventsAPI = (*eventbridge.Client)(nil)

// maxEntries is PutEvents' limit of entries per call (EventBridge API
// reference, PutEvents). Our events are far below its 256 KiB per call.
const maxEntries = 10

// Sink puts events on one event bus with PutEvents.
type Sink struct {
	API PutEventsAPI
	// Bus is the event bus name or ARN; "" or "default" is the account's
	// default bus.
	Bus string
}

var _ lifecycle.Sink = (*Sink)(nil)

// ErrEntryFailed wraps the error code EventBridge gave one entry of a
// PutEvents call that partly failed (FailedEntryCount > 0).
var ErrEntryFailed = errors.New("eventbus: EventBridge refused the event")

// Send puts events in calls of up to 10 entries. A call that fails fails its
// entries; an entry EventBridge answers with an ErrorCode fails alone
// (ErrEntryFailed).
func (b *Sink) Send(ctx context.Context, events []lifecycle.Event) []error {
	errs := make([]error, len(events))
	for start := 0; start < len(events); start += maxEntries {
		chunk := events[start:min(start+maxEntries, len(events))]
		entries := make([]types.PutEventsRequestEntry, len(chunk))
		for i, e := range chunk {
			detail, err := json.Marshal(e.Detail)
			if err != nil { // a Detail always marshals; keep the error path honest
				errs[start+i] = fmt.Errorf("eventbus: encode detail: %w", err)
				continue
			}
			entries[i] = types.PutEventsRequestEntry{
				Source: aws.String(lifecycle.Source), DetailType: aws.String(e.DetailType),
				Detail: aws.String(string(detail)), Time: aws.Time(e.Time),
			}
			if b.Bus != "" {
				entries[i].EventBusName = aws.String(b.Bus)
			}
		}
		out, err := b.API.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err == nil && len(out.Entries) != len(entries) {
			err = fmt.Errorf("eventbus: PutEvents answered %d entries for %d", len(out.Entries), len(entries))
		}
		for i := range chunk {
			switch {
			case errs[start+i] != nil:
			case err != nil:
				errs[start+i] = fmt.Errorf("eventbus: PutEvents: %w", err)
			case out.Entries[i].ErrorCode != nil:
				errs[start+i] = fmt.Errorf("%w: %s: %s", ErrEntryFailed,
					aws.ToString(out.Entries[i].ErrorCode), aws.ToString(out.Entries[i].ErrorMessage))
			}
		}
	}
	return errs
}
