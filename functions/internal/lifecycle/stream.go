package lifecycle

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DecodeFunc reads the change an item written to the table records: ok is
// false for an item that records none (a key, a credential, a counter).
// ddbstore.DecodeChange is the one for the keys table.
type DecodeFunc func(item map[string]types.AttributeValue) (c Change, ok bool, err error)

// StreamHandler is the publisher function: it turns the INSERT records of
// the table's change stream that record a change into events and sends
// them. Records it cannot decode, build or send are reported as batch item
// failures (the event source mapping's ReportBatchItemFailures), so Lambda
// retries from the first of them and, once its retries are spent, hands
// the batch to the on-failure destination; the records before it are not
// sent again.
type StreamHandler struct {
	Decode DecodeFunc
	Keys   Keys
	Sink   Sink
	Logger *slog.Logger
}

// Handle processes one batch of stream records (aws-lambda-go's DynamoDB
// event; the response is the partial batch response of "Using AWS Lambda
// with Amazon DynamoDB", Lambda developer guide).
func (h *StreamHandler) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var (
		resp    = events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
		pending []Event
		seqs    []string // sequence number of each pending event's record
	)
	fail := func(seq string, err error) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
		h.Logger.ErrorContext(ctx, "lifecycle event not published", "sequenceNumber", seq, "err", err)
	}
	for _, r := range ev.Records {
		seq := r.Change.SequenceNumber
		if r.EventName != string(events.DynamoDBOperationTypeInsert) {
			continue // changes are recorded by new items only
		}
		item, err := FromStreamImage(r.Change.NewImage)
		if err != nil {
			fail(seq, err)
			continue
		}
		c, ok, err := h.Decode(item)
		if err != nil {
			fail(seq, err)
			continue
		}
		if !ok {
			continue
		}
		e, err := Build(ctx, h.Keys, c)
		if err != nil {
			fail(seq, err)
			continue
		}
		pending = append(pending, e)
		seqs = append(seqs, seq)
	}
	for i, err := range h.Sink.Send(ctx, pending) {
		if err != nil {
			fail(seqs[i], err)
			continue
		}
		e := pending[i]
		h.Logger.InfoContext(ctx, "lifecycle event published", "detail-type", e.DetailType,
			"id", e.Detail.ID, "firmId", e.Detail.FirmID, "keyId", e.Detail.KeyID)
	}
	return resp, nil
}

// FromStreamImage converts a stream record's image (aws-lambda-go's types)
// into the SDK's attribute values, the types the store decodes.
func FromStreamImage(image map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, len(image))
	for name, v := range image {
		av, err := attributeValue(v)
		if err != nil {
			return nil, fmt.Errorf("lifecycle: attribute %s: %w", name, err)
		}
		out[name] = av
	}
	return out, nil
}

func attributeValue(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		l := v.List()
		out := make([]types.AttributeValue, len(l))
		for i, e := range l {
			av, err := attributeValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = av
		}
		return &types.AttributeValueMemberL{Value: out}, nil
	case events.DataTypeMap:
		m, err := FromStreamImage(v.Map())
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("unknown attribute type %v", v.DataType())
}
