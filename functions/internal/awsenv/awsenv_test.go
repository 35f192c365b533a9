package awsenv_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/awsenv"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfig(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		wantErr    error // matched with errors.Is; nil: no error
		anyErr     bool
		wantRegion string
		wantKey    string
		wantToken  string
	}{
		{"Lambda's variables", map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDLAMBDA", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "tok"},
			nil, false, "eu-west-1", "AKIDLAMBDA", "tok"},
		{"AWS_DEFAULT_REGION when AWS_REGION is unset", map[string]string{"AWS_DEFAULT_REGION": "us-east-2", "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "s"},
			nil, false, "us-east-2", "A", ""},
		{"AWS_REGION first", map[string]string{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-2", "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "s"},
			nil, false, "eu-west-1", "A", ""},
		{"no region", map[string]string{"AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "s"}, awsenv.ErrNoRegion, false, "", "", ""},
		{"no credentials", map[string]string{"AWS_REGION": "eu-west-1"}, awsenv.ErrNoCredentials, false, "", "", ""},
		{"a key id without its secret", map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "A"}, awsenv.ErrNoCredentials, false, "", "", ""},
		{"container URI over plain HTTP to another host", map[string]string{"AWS_REGION": "eu-west-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://example.com/creds"}, nil, true, "", "", ""},
		{"container URI not a URL", map[string]string{"AWS_REGION": "eu-west-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "/creds"}, nil, true, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := awsenv.Config(env(tt.env))
			switch {
			case tt.wantErr != nil || tt.anyErr:
				if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
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
			if creds.AccessKeyID != tt.wantKey || creds.SessionToken != tt.wantToken {
				t.Errorf("credentials = %q/%q, want %q/%q", creds.AccessKeyID, creds.SessionToken, tt.wantKey, tt.wantToken)
			}
		})
	}
}

// TestConfigContainerCredentials: without the key variables, credentials
// come from the container credential endpoint, with the authorization
// token, in the documented response shape, and are cached.
func TestConfigContainerCredentials(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if got := r.Header.Get("Authorization"); got != "container-token" {
			http.Error(w, `{"code":"AccessDenied","message":"bad token"}`, http.StatusForbidden)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId": "ASIACONTAINER", "SecretAccessKey": "s", "Token": "session",
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		})
	}))
	t.Cleanup(srv.Close)
	cfg, err := awsenv.Config(env(map[string]string{"AWS_REGION": "eu-west-1",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": srv.URL + "/2018-06-01/credentials", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-token"}))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		creds, err := cfg.Credentials.Retrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if creds.AccessKeyID != "ASIACONTAINER" || creds.SessionToken != "session" || !creds.CanExpire {
			t.Fatalf("credentials = %+v", creds)
		}
	}
	if calls != 1 {
		t.Fatalf("endpoint called %d times for 3 retrievals, want 1 (cached)", calls)
	}
}
