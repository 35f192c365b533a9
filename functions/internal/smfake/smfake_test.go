package smfake_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/kudurrustone/apikeys/functions/internal/smfake"
)

func client(url string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(aws.Config{
		Region:           smfake.Region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1,
	}, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(url) })
}

func TestRealClient(t *testing.T) {
	fake := smfake.New(t)
	v1 := fake.SetSecret("s", "one")
	v2 := fake.SetSecret("s", "two")
	c := client(fake.URL())

	tests := []struct {
		name       string
		in         secretsmanager.GetSecretValueInput
		wantValue  string
		wantID     string
		wantStages []string
		wantErr    any
	}{
		{"current by name", secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}, "two", v2, []string{"AWSCURRENT"}, nil},
		{"current by ARN", secretsmanager.GetSecretValueInput{SecretId: aws.String(fake.ARN("s"))}, "two", v2, []string{"AWSCURRENT"}, nil},
		{"previous stage", secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSPREVIOUS")}, "one", v1, []string{"AWSPREVIOUS"}, nil},
		{"by version id", secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(v1)}, "one", v1, []string{"AWSPREVIOUS"}, nil},
		{"unknown secret", secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")}, "", "", nil, new(*types.ResourceNotFoundException)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.GetSecretValue(t.Context(), &tc.in)
			if tc.wantErr != nil {
				if !errors.As(err, tc.wantErr) {
					t.Fatalf("err = %v, want %T", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.SecretString) != tc.wantValue || aws.ToString(out.VersionId) != tc.wantID ||
				strings.Join(out.VersionStages, ",") != strings.Join(tc.wantStages, ",") {
				t.Errorf("got %q %q %v, want %q %q %v", aws.ToString(out.SecretString), aws.ToString(out.VersionId),
					out.VersionStages, tc.wantValue, tc.wantID, tc.wantStages)
			}
			if aws.ToString(out.ARN) != fake.ARN("s") || aws.ToString(out.Name) != "s" || out.CreatedDate == nil || out.CreatedDate.IsZero() {
				t.Errorf("metadata: ARN %q Name %q CreatedDate %v", aws.ToString(out.ARN), aws.ToString(out.Name), out.CreatedDate)
			}
		})
	}
	if got := fake.Calls(); got != len(tests) {
		t.Errorf("Calls = %d, want %d", got, len(tests))
	}
}

func TestWireErrors(t *testing.T) {
	fake := smfake.New(t)
	tests := []struct {
		name, target, body string
		wantStatus         int
		wantType           string
	}{
		{"unsigned", "secretsmanager.GetSecretValue", `{"SecretId":"s"}`, 400, "MissingAuthenticationTokenException"},
		{"other operation", "secretsmanager.ListSecrets", `{}`, 400, "UnknownOperationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, fake.URL()+"/", strings.NewReader(tc.body))
			req.Header.Set("X-Amz-Target", tc.target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus || body.Type != tc.wantType || body.Message == "" {
				t.Errorf("got %d %+v, want %d %s", resp.StatusCode, body, tc.wantStatus, tc.wantType)
			}
		})
	}
}

func TestFailures(t *testing.T) {
	fake := smfake.New(t)
	fake.SetSecret("s", "v")
	c := client(fake.URL())
	get := func() error {
		_, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
		return err
	}
	fake.FailWith(400, "AccessDeniedException", "denied")
	if err := get(); err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Errorf("FailWith: err = %v", err)
	}
	fake.Recover()
	fake.SetUnavailable(true)
	if err := get(); err == nil {
		t.Error("SetUnavailable: request succeeded")
	}
	fake.Recover()
	if err := get(); err != nil {
		t.Errorf("after Recover: %v", err)
	}
	// As in AWS: a secret in its recovery window is InvalidRequestException,
	// a restored one reads again, a force-deleted one is not found.
	fake.DeleteSecret("s")
	var inv *types.InvalidRequestException
	if err := get(); !errors.As(err, &inv) {
		t.Errorf("after DeleteSecret: err = %v, want InvalidRequestException", err)
	}
	fake.RestoreSecret("s")
	if err := get(); err != nil {
		t.Errorf("after RestoreSecret: %v", err)
	}
	fake.ForceDeleteSecret("s")
	var nf *types.ResourceNotFoundException
	if err := get(); !errors.As(err, &nf) {
		t.Errorf("after ForceDeleteSecret: err = %v, want ResourceNotFoundException", err)
	}
}
