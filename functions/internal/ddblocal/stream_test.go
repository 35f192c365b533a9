package ddblocal_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
)

// TestStreamRecordsAreLambdaEvents writes items and reads them back from
// DynamoDB Local's stream as a Lambda DynamoDB event: every record decodes
// into aws-lambda-go's type with its new image and source ARN, and a second
// read returns only what was written since.
func TestStreamRecordsAreLambdaEvents(t *testing.T) {
	client, table := ddblocal.NewTable(t)
	s := ddblocal.OpenStream(t, table)
	put := func(sk string) {
		t.Helper()
		_, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "FIRM#acme"}, "SK": &types.AttributeValueMemberS{Value: sk},
			"n": &types.AttributeValueMemberN{Value: "7"},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("A")
	put("B")
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(s.Event(t), &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) != 2 {
		t.Fatalf("%d records, want 2", len(ev.Records))
	}
	for i, want := range []string{"A", "B"} {
		r := ev.Records[i]
		if r.EventName != "INSERT" || r.EventSourceArn != s.ARN() || r.EventSource != "aws:dynamodb" {
			t.Errorf("record %d: name %q source %q arn %q", i, r.EventName, r.EventSource, r.EventSourceArn)
		}
		if got := r.Change.NewImage["SK"].String(); got != want {
			t.Errorf("record %d: SK %q, want %q", i, got, want)
		}
		if got := r.Change.NewImage["n"].Number(); got != "7" {
			t.Errorf("record %d: n %q, want 7", i, got)
		}
		if r.Change.SequenceNumber == "" || r.Change.StreamViewType != "NEW_IMAGE" {
			t.Errorf("record %d: sequence %q view %q", i, r.Change.SequenceNumber, r.Change.StreamViewType)
		}
	}
	put("C")
	if recs := s.Records(t); len(recs) != 1 {
		t.Fatalf("second read: %d records, want only the new one", len(recs))
	}
	if recs := s.Records(t); len(recs) != 0 {
		t.Fatalf("third read: %d records, want none", len(recs))
	}
}
