package awsenv_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/awsenv"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfig(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		wantErr    error // matched with errors.Is; nil: no error
		wantRegion string
		wantKey    string
		wantToken  string
	}{
		{"Lambda's variables", map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDLAMBDA", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "tok"},
			nil, "eu-west-1", "AKIDLAMBDA", "tok"},
		{"AWS_DEFAULT_REGION when AWS_REGION is unset", map[string]string{"AWS_DEFAULT_REGION": "us-east-2", "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "s"},
			nil, "us-east-2", "A", ""},
		{"AWS_REGION first", map[string]string{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-2", "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "s"},
			nil, "eu-west-1", "A", ""},
		{"no region", map[string]string{"AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "s"}, awsenv.ErrNoRegion, "", "", ""},
		{"no credentials", map[string]string{"AWS_REGION": "eu-west-1"}, awsenv.ErrNoCredentials, "", "", ""},
		{"a key id without its secret", map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "A"}, awsenv.ErrNoCredentials, "", "", ""},
		{"container credentials are not read", map[string]string{"AWS_REGION": "eu-west-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds"}, awsenv.ErrNoCredentials, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := awsenv.Config(env(tt.env))
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if cfg.Region != tt.wantRegion {
				t.Errorf("region = %q, want %q", cfg.Region, tt.wantRegion)
			}
			creds, err := cfg.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if creds.AccessKeyID != tt.wantKey || creds.SecretAccessKey != tt.env["AWS_SECRET_ACCESS_KEY"] || creds.SessionToken != tt.wantToken {
				t.Errorf("credentials = %q/%q/%q, want %q/%q/%q", creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken,
					tt.wantKey, tt.env["AWS_SECRET_ACCESS_KEY"], tt.wantToken)
			}
		})
	}
}
