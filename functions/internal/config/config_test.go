package config_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/config"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func base() map[string]string {
	return map[string]string{"TABLE_NAME": "keys", "PEPPER_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:p"}
}

func with(kv ...string) map[string]string {
	m := base()
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		needs   config.Needs
		wantErr []string
		check   func(t *testing.T, c config.Config)
	}{
		{name: "defaults", env: base(), needs: config.StoreAndPepper, check: func(t *testing.T, c config.Config) {
			if c.TableName != "keys" || c.MaxActiveKeys != keyservice.DefaultMaxActiveKeys || c.LogLevel != slog.LevelInfo ||
				c.Pepper.SecretID == "" || c.SAMLocal || c.LocalPepper != nil || c.Identity.AdminRole != "admin" {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "everything set", needs: config.StoreAndPepper, env: with("MAX_ACTIVE_KEYS", "7", "LOG_LEVEL", "debug",
			"DYNAMODB_ENDPOINT", "http://127.0.0.1:8000", "API_ID", "abc", "STAGE_NAME", "prod", "CLAIM_FIRM_ID", "org"),
			check: func(t *testing.T, c config.Config) {
				if c.MaxActiveKeys != 7 || c.LogLevel != slog.LevelDebug || c.DynamoDBEndpoint != "http://127.0.0.1:8000" ||
					c.APIID != "abc" || c.StageName != "prod" || c.Identity.FirmClaim != "org" {
					t.Errorf("config = %+v", c)
				}
			}},
		{name: "list and revoke need no pepper", needs: config.StoreOnly, env: map[string]string{"TABLE_NAME": "keys"}},
		{name: "every problem at once", needs: config.StoreAndPepper, env: map[string]string{"MAX_ACTIVE_KEYS": "0", "LOG_LEVEL": "loud", "API_ID": "abc", "SECRETSMANAGER_ENDPOINT": "localhost:1"},
			wantErr: []string{"TABLE_NAME is not set", "PEPPER_SECRET_ARN is not set", "MAX_ACTIVE_KEYS", "LOG_LEVEL", "API_ID and STAGE_NAME", "SECRETSMANAGER_ENDPOINT"}},
		{name: "max active keys not a number", needs: config.StoreOnly, env: with("MAX_ACTIVE_KEYS", "fifty"), wantErr: []string{"MAX_ACTIVE_KEYS=\"fifty\""}},
		{name: "bad pepper refresh", needs: config.StoreAndPepper, env: with("PEPPER_REFRESH", "soon"), wantErr: []string{"PEPPER_REFRESH"}},
		{name: "local pepper under sam local", needs: config.StoreAndPepper,
			env: map[string]string{"TABLE_NAME": "keys", "AWS_SAM_LOCAL": "true", "LOCAL_PEPPER": `{"current":"1","1":"0123456789abcdef0123456789abcdef"}`},
			check: func(t *testing.T, c config.Config) {
				if c.LocalPepper == nil || c.LocalPepper.Current().Version != "1" || !c.SAMLocal {
					t.Errorf("local pepper not used: %+v", c)
				}
			}},
		{name: "local pepper ignored outside sam local", needs: config.StoreAndPepper,
			env:     map[string]string{"TABLE_NAME": "keys", "LOCAL_PEPPER": `{"current":"1","1":"0123456789abcdef0123456789abcdef"}`},
			wantErr: []string{"PEPPER_SECRET_ARN is not set"}},
		{name: "malformed local pepper", needs: config.StoreAndPepper,
			env: map[string]string{"TABLE_NAME": "keys", "AWS_SAM_LOCAL": "true", "LOCAL_PEPPER": `{"current":"9"}`}, wantErr: []string{"LOCAL_PEPPER"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.FromEnv(env(tt.env), tt.needs)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}
