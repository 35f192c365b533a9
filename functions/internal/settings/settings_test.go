package settings_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestReadStore(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    settings.Store
		wantErr []string
	}{
		{name: "defaults", env: map[string]string{"TABLE_NAME": "keys"},
			want: settings.Store{TableName: "keys", MaxActiveKeys: 50, LogLevel: slog.LevelInfo}},
		{name: "everything set", env: map[string]string{"TABLE_NAME": " keys ", "MAX_ACTIVE_KEYS": "7", "LOG_LEVEL": "debug",
			"DYNAMODB_ENDPOINT": "http://127.0.0.1:8000", "AWS_SAM_LOCAL": "true"},
			want: settings.Store{TableName: "keys", MaxActiveKeys: 7, LogLevel: slog.LevelDebug, DynamoDBEndpoint: "http://127.0.0.1:8000", SAMLocal: true}},
		{name: "bounds", env: map[string]string{"TABLE_NAME": "keys", "MAX_ACTIVE_KEYS": "100000"},
			want: settings.Store{TableName: "keys", MaxActiveKeys: 100000, LogLevel: slog.LevelInfo}},
		{name: "every problem at once", env: map[string]string{"MAX_ACTIVE_KEYS": "0", "LOG_LEVEL": "loud", "DYNAMODB_ENDPOINT": "localhost:1"},
			wantErr: []string{"TABLE_NAME is not set", "MAX_ACTIVE_KEYS", "LOG_LEVEL", "DYNAMODB_ENDPOINT"}},
		{name: "max active keys not a number", env: map[string]string{"TABLE_NAME": "k", "MAX_ACTIVE_KEYS": "fifty"}, wantErr: []string{`MAX_ACTIVE_KEYS="fifty"`}},
		{name: "max active keys too many", env: map[string]string{"TABLE_NAME": "k", "MAX_ACTIVE_KEYS": "100001"}, wantErr: []string{"between 1 and 100000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := settings.ReadStore(env(tt.env))
			checkErr(t, err, tt.wantErr)
			if err == nil && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadPepper(t *testing.T) {
	const local = `{"current":"1","1":"0123456789abcdef0123456789abcdef"}`
	tests := []struct {
		name    string
		env     map[string]string
		want    settings.Pepper
		wantErr []string
	}{
		{"defaults", map[string]string{"PEPPER_SECRET_ARN": "arn:x"}, settings.Pepper{SecretID: "arn:x", Refresh: 5 * time.Minute, Grace: time.Hour}, nil},
		{"durations and endpoint", map[string]string{"PEPPER_SECRET_ARN": "s", "PEPPER_REFRESH": "90s", "PEPPER_GRACE": "2h", "SECRETSMANAGER_ENDPOINT": "http://x"},
			settings.Pepper{SecretID: "s", Refresh: 90 * time.Second, Grace: 2 * time.Hour, Endpoint: "http://x"}, nil},
		{"missing secret", map[string]string{}, settings.Pepper{}, []string{"PEPPER_SECRET_ARN is not set"}},
		{"bad refresh and grace", map[string]string{"PEPPER_SECRET_ARN": "s", "PEPPER_REFRESH": "5", "PEPPER_GRACE": "-1h"}, settings.Pepper{}, []string{"PEPPER_REFRESH", "PEPPER_GRACE"}},
		{"local pepper under sam local", map[string]string{"AWS_SAM_LOCAL": "true", "LOCAL_PEPPER": local}, settings.Pepper{Local: local}, nil},
		{"local pepper ignored outside sam local", map[string]string{"LOCAL_PEPPER": local}, settings.Pepper{}, []string{"PEPPER_SECRET_ARN is not set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := settings.ReadPepper(env(tt.env))
			checkErr(t, err, tt.wantErr)
			if err == nil && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadCacheReset(t *testing.T) {
	if _, err := settings.ReadCacheReset(env(map[string]string{"API_ID": "abc"})); err == nil || !strings.Contains(err.Error(), "API_ID and STAGE_NAME") {
		t.Errorf("API_ID alone: %v", err)
	}
	got, err := settings.ReadCacheReset(env(map[string]string{"API_ID": "abc", "STAGE_NAME": "prod", "APIGATEWAY_ENDPOINT": "http://gw"}))
	if err != nil || got != (settings.CacheReset{APIID: "abc", StageName: "prod", Endpoint: "http://gw"}) {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestAuthorizerResponse(t *testing.T) {
	for v, want := range map[string]string{"": "policy", "policy": "policy", "SIMPLE": "simple", " simple ": "simple"} {
		if got, err := settings.AuthorizerResponse(v); err != nil || got != want {
			t.Errorf("AuthorizerResponse(%q) = %q, %v; want %q", v, got, err, want)
		}
	}
	if _, err := settings.AuthorizerResponse("iam"); err == nil {
		t.Error("AuthorizerResponse(iam) succeeded")
	}
}

func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}
