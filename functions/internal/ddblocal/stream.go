package ddblocal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// Stream reads the change stream of a table on DynamoDB Local through the
// SDK's dynamodbstreams client, and hands back the records exactly as
// DynamoDB Local sent them, in the shape a Lambda event source mapping
// delivers them: each GetRecords record plus "eventSourceARN" (see "DynamoDB
// Streams and AWS Lambda triggers" in the DynamoDB developer guide). It is
// not safe for concurrent use.
type Stream struct {
	client *dynamodbstreams.Client
	raw    *rawRecords
	arn    string
	iters  map[string]string // shard id -> next iterator
	done   map[string]bool   // closed shards read to their end
}

// OpenStream finds the stream of table (created by NewTable from a template
// whose KeysTable has a StreamSpecification) and starts reading it at its
// oldest record. It fails t when the table has no stream.
func OpenStream(t testing.TB, table string) *Stream {
	t.Helper()
	raw := &rawRecords{next: http.DefaultClient}
	client := dynamodbstreams.New(dynamodbstreams.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		BaseEndpoint: aws.String(Endpoint(t)),
		HTTPClient:   raw,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := client.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("ddblocal: list streams of %s: %v", table, err)
	}
	if len(out.Streams) == 0 {
		t.Fatalf("ddblocal: table %s has no stream (KeysTable needs a StreamSpecification in template.yaml)", table)
	}
	return &Stream{client: client, raw: raw, arn: aws.ToString(out.Streams[0].StreamArn),
		iters: map[string]string{}, done: map[string]bool{}}
}

// ARN is the stream's ARN (the event source ARN of its records).
func (s *Stream) ARN() string { return s.arn }

// Records returns the records written since the previous call (the first
// call: since the table was created), shard by shard in stream order, each
// as raw JSON with "eventSourceARN" added.
func (s *Stream) Records(t testing.TB) []json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	desc, err := s.client.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(s.arn)})
	if err != nil {
		t.Fatalf("ddblocal: describe stream: %v", err)
	}
	var out []json.RawMessage
	for _, shard := range desc.StreamDescription.Shards {
		id := aws.ToString(shard.ShardId)
		if s.done[id] {
			continue
		}
		iter, ok := s.iters[id]
		if !ok {
			it, err := s.client.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
				StreamArn: aws.String(s.arn), ShardId: shard.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
			})
			if err != nil {
				t.Fatalf("ddblocal: shard iterator: %v", err)
			}
			iter = aws.ToString(it.ShardIterator)
		}
		for iter != "" {
			got, err := s.client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(iter)})
			if err != nil {
				t.Fatalf("ddblocal: get records: %v", err)
			}
			records, err := s.raw.take(s.arn)
			if err != nil {
				t.Fatal(err)
			}
			if len(records) != len(got.Records) {
				t.Fatalf("ddblocal: captured %d raw records, the SDK decoded %d", len(records), len(got.Records))
			}
			out = append(out, records...)
			iter = aws.ToString(got.NextShardIterator)
			if len(got.Records) == 0 {
				break // an open shard always has a next iterator: stop at its end for now
			}
		}
		if iter == "" {
			s.done[id] = true
		}
		s.iters[id] = iter
	}
	return out
}

// Event returns the records written since the previous call as one Lambda
// DynamoDB stream event, {"Records": [...]}.
func (s *Stream) Event(t testing.TB) []byte {
	t.Helper()
	return EventOf(t, s.Records(t))
}

// EventOf wraps records in a Lambda DynamoDB stream event.
func EventOf(t testing.TB, records []json.RawMessage) []byte {
	t.Helper()
	if records == nil {
		records = []json.RawMessage{}
	}
	b, err := json.Marshal(struct {
		Records []json.RawMessage `json:"Records"`
	}{records})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawRecords is the streams client's HTTP client: it keeps the body of the
// last GetRecords answer, so the records reach the test byte for byte as
// DynamoDB Local produced them rather than re-encoded from SDK types.
type rawRecords struct {
	next *http.Client
	mu   sync.Mutex
	body []byte
}

func (r *rawRecords) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	if err != nil || req.Header.Get("X-Amz-Target") != "DynamoDBStreams_20120810.GetRecords" {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.body = body
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// take returns the records of the last GetRecords answer with
// eventSourceARN set.
func (r *rawRecords) take(arn string) ([]json.RawMessage, error) {
	r.mu.Lock()
	body := r.body
	r.body = nil
	r.mu.Unlock()
	var page struct {
		Records []map[string]json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("ddblocal: GetRecords answer: %w", err)
	}
	src, _ := json.Marshal(arn)
	out := make([]json.RawMessage, 0, len(page.Records))
	for _, rec := range page.Records {
		rec["eventSourceARN"] = src
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
