package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"
)

// PropertySecretID is the custom resource property naming the secret to
// initialise.
const PropertySecretID = "SecretId"

// Handle is the rotation function's entry point. It takes Secrets
// Manager's rotation events ({"Step", "SecretId", "ClientRequestToken"})
// and CloudFormation custom resource events ({"RequestType", ...,
// "ResourceProperties": {"SecretId"}}), which it answers at their
// ResponseURL: Create and Update initialise an empty secret, Delete does
// nothing (the secret is retained).
func (r *Rotator) Handle(ctx context.Context, raw json.RawMessage) (string, error) {
	var probe struct {
		RequestType string `json:"RequestType"`
		Step        string `json:"Step"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", fmt.Errorf("rotation: event is not a JSON object: %w", err)
	}
	switch {
	case probe.RequestType != "":
		var ev cfn.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return "", fmt.Errorf("rotation: custom resource event: %w", err)
		}
		return cfn.LambdaWrap(r.customResource)(ctx, ev)
	case probe.Step != "":
		var ev events.SecretsManagerSecretRotationEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return "", fmt.Errorf("rotation: rotation event: %w", err)
		}
		return "", r.Rotate(ctx, ev)
	default:
		return "", errors.New("rotation: neither a Secrets Manager rotation event nor a CloudFormation custom resource event")
	}
}

func (r *Rotator) customResource(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
	secretID, _ := ev.ResourceProperties[PropertySecretID].(string)
	if ev.RequestType == cfn.RequestDelete {
		// The secret outlives the stack (DeletionPolicy: Retain).
		return ev.PhysicalResourceID, nil, nil
	}
	if secretID == "" {
		return "", nil, fmt.Errorf("rotation: the custom resource has no %s property", PropertySecretID)
	}
	created, err := r.Initialise(ctx, secretID)
	if err != nil {
		return "", nil, err
	}
	return secretID, map[string]any{"Initialised": strconv.FormatBool(created)}, nil
}
