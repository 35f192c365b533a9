package motoserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/kudurrustone/apikeys/functions/internal/motoserver"
)

func TestMain(m *testing.M) { os.Exit(motoserver.Main(m)) }

// TestCaptureReceivesMatchingEvents proves the harness: an event put on the
// bus reaches the capture queue with its source, detail-type and detail; an
// event the rule does not match does not.
func TestCaptureReceivesMatchingEvents(t *testing.T) {
	c := motoserver.NewCapture(t, "", `{"source":["kudurrustone.api-keys"]}`)
	eb := motoserver.EventBridge(t)
	out, err := eb.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{EventBusName: aws.String(c.Bus), Source: aws.String("someone.else"), DetailType: aws.String("Other"), Detail: aws.String(`{}`)},
		{EventBusName: aws.String(c.Bus), Source: aws.String("kudurrustone.api-keys"), DetailType: aws.String("API Key Generated"), Detail: aws.String(`{"keyId":"k1"}`)},
	}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v", err)
	}
	got := c.Receive(t, 2, 2*time.Second)
	if len(got) != 1 {
		t.Fatalf("received %d events, want 1: %+v", len(got), got)
	}
	var detail map[string]string
	if err := json.Unmarshal(got[0].Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if got[0].Source != "kudurrustone.api-keys" || got[0].DetailType != "API Key Generated" || detail["keyId"] != "k1" {
		t.Errorf("received %+v detail %v", got[0], detail)
	}
}

// TestSecretsManagerRoundTrip: a secret written through the real SDK client
// reads back, and a missing one is ResourceNotFoundException, as in AWS.
func TestSecretsManagerRoundTrip(t *testing.T) {
	sm := motoserver.SecretsManager(t)
	name := motoserver.Name("smoke")
	if _, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v1")}); err != nil {
		t.Fatal(err)
	}
	out, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil || aws.ToString(out.SecretString) != "v1" {
		t.Fatalf("GetSecretValue = %v, %v", out, err)
	}
	_, err = sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(motoserver.Name("missing"))})
	var nf *smtypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("missing secret: err = %v, want ResourceNotFoundException", err)
	}
}
