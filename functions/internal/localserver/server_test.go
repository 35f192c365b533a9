package localserver_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kudurrustone/apikeys/functions/internal/boltstore"
	"github.com/kudurrustone/apikeys/functions/internal/localserver"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// TestEveryRoute walks every SPEC route through the local server over real
// HTTP: generate, list, whoami, revoke (twice), whoami denied.
func TestEveryRoute(t *testing.T) {
	s := startServer(t, localserver.Config{})
	admin := token(t, s.URL, "alice", "acme", "admin", "premier")

	r := do(t, http.MethodPost, s.URL+"/v1/api-keys", admin, map[string]string{"label": "  Production Integration "})
	if r.Status != http.StatusCreated {
		t.Fatalf("generate: %d %s", r.Status, r.Body)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("generate Cache-Control = %q, want no-store", got)
	}
	created := r.JSON(t)
	key, _ := created["key"].(string)
	id, _ := created["id"].(string)
	if created["label"] != "Production Integration" || created["status"] != "active" || created["createdBy"] != "alice" || id == "" {
		t.Errorf("generate body = %s", r.Body)
	}
	for _, f := range []string{"lastUsedAt", "expiresAt", "revokedAt", "revokedBy"} {
		if v, ok := created[f]; !ok || v != nil {
			t.Errorf("generate: %s = %v, want null", f, v)
		}
	}

	r = do(t, http.MethodGet, s.URL+"/v1/api-keys", admin, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	var page struct {
		Items      []map[string]any `json:"items"`
		NextCursor *string          `json:"nextCursor"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0]["id"] != id || page.NextCursor != nil {
		t.Fatalf("list = %s", r.Body)
	}
	if _, leaked := page.Items[0]["key"]; leaked {
		t.Fatal("list shows the plaintext key")
	}

	r = do(t, http.MethodGet, s.URL+"/v1/whoami", key, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("whoami: %d %s", r.Status, r.Body)
	}
	who := r.JSON(t)
	if who["firmId"] != "acme" || who["keyId"] != id || who["label"] != "Production Integration" {
		t.Errorf("whoami = %s", r.Body)
	}

	// The first use sets the last used date.
	r = do(t, http.MethodGet, s.URL+"/v1/api-keys?status=active&limit=1", admin, nil)
	if items := r.JSON(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["lastUsedAt"] == nil {
		t.Errorf("lastUsedAt not set after use: %s", r.Body)
	}

	r = do(t, http.MethodPost, s.URL+"/v1/api-keys/"+id+"/revoke", admin, nil)
	if r.Status != http.StatusOK || r.JSON(t)["status"] != "revoked" {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	revokedAt := r.JSON(t)["revokedAt"]
	r = do(t, http.MethodPost, s.URL+"/v1/api-keys/"+id+"/revoke", admin, nil)
	if r.Status != http.StatusOK || r.JSON(t)["revokedAt"] != revokedAt {
		t.Errorf("revoke again: %d %s, want 200 with revokedAt %v", r.Status, r.Body, revokedAt)
	}

	r = do(t, http.MethodGet, s.URL+"/v1/whoami", key, nil)
	if r.Status != http.StatusForbidden || r.ErrorCode(t) != "unauthorized" {
		t.Errorf("whoami after revoke: %d %s, want 403 unauthorized", r.Status, r.Body)
	}
}

// TestErrorsThroughTheGateway checks the spec's error answers as a client
// sees them through the emulated gateway.
func TestErrorsThroughTheGateway(t *testing.T) {
	s := startServer(t, localserver.Config{MaxActiveKeys: 2})
	admin := token(t, s.URL, "alice", "acme", "admin", "premier")
	member := token(t, s.URL, "bob", "acme", "member", "premier")
	standard := token(t, s.URL, "carol", "acme", "admin", "standard")
	other := token(t, s.URL, "dave", "globex", "admin", "premier")
	first, _ := generate(t, s.URL, admin, "Office Sync Tool")
	generate(t, s.URL, admin, "Accounting Export")

	cases := []struct {
		name         string
		method, path string
		tok          string
		body         any
		status       int
		code         string
	}{
		{"list without token", "GET", "/v1/api-keys", "", nil, 401, "unauthorized"},
		{"list as member", "GET", "/v1/api-keys", member, nil, 403, "not_firm_admin"},
		{"generate as member", "POST", "/v1/api-keys", member, map[string]string{"label": "x"}, 403, "not_firm_admin"},
		{"generate without Premier", "POST", "/v1/api-keys", standard, map[string]string{"label": "x"}, 403, "premier_required"},
		{"list without Premier is allowed", "GET", "/v1/api-keys", standard, nil, 200, ""},
		{"empty label", "POST", "/v1/api-keys", admin, map[string]string{"label": "   "}, 400, "invalid_label"},
		{"long label", "POST", "/v1/api-keys", admin, map[string]string{"label": strings.Repeat("a", 65)}, 400, "invalid_label"},
		{"control character", "POST", "/v1/api-keys", admin, map[string]string{"label": "a\u0007b"}, 400, "invalid_label"},
		{"unknown field", "POST", "/v1/api-keys", admin, map[string]any{"label": "x", "admin": true}, 400, "invalid_request"},
		{"malformed JSON", "POST", "/v1/api-keys", admin, "{", 400, "invalid_request"},
		{"expiresAt in the past", "POST", "/v1/api-keys", admin, map[string]string{"label": "x", "expiresAt": "2000-01-01T00:00:00Z"}, 400, "invalid_request"},
		{"bad status", "GET", "/v1/api-keys?status=gone", admin, nil, 400, "invalid_request"},
		{"bad limit", "GET", "/v1/api-keys?limit=101", admin, nil, 400, "invalid_request"},
		{"bad cursor", "GET", "/v1/api-keys?cursor=nope", admin, nil, 400, "invalid_request"},
		{"limit reached", "POST", "/v1/api-keys", admin, map[string]string{"label": "Third"}, 409, "key_limit_reached"},
		{"revoke unknown", "POST", "/v1/api-keys/01ARZ3NDEKTSV4RRFFQ69G5FAV/revoke", admin, nil, 404, "not_found"},
		{"revoke another firm's key", "POST", "/v1/api-keys/" + first["id"].(string) + "/revoke", other, nil, 404, "not_found"},
		{"unknown route", "GET", "/v1/nothing", admin, nil, 404, "not_found"},
		{"wrong method", "DELETE", "/v1/api-keys", admin, nil, 404, "not_found"},
		{"whoami without key", "GET", "/v1/whoami", "", nil, 401, "unauthorized"},
		{"whoami with junk", "GET", "/v1/whoami", "kst_junk", nil, 403, "unauthorized"},
		{"whoami with an admin token", "GET", "/v1/whoami", admin, nil, 403, "unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, s.URL+tc.path, tc.tok, tc.body)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.code != "" {
				if got := r.ErrorCode(t); got != tc.code {
					t.Errorf("code %q, want %q", got, tc.code)
				}
			}
		})
	}
}

// signingKey reads the server's signing key from its data folder and the
// kid it puts in its tokens.
func signingKey(t *testing.T, s *testServer) (*rsa.PrivateKey, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.DataDir, localserver.SigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tok := token(t, s.URL, "alice", "acme", "admin", "premier")
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(hdr, &h); err != nil {
		t.Fatal(err)
	}
	if h["alg"] != "RS256" || h["typ"] != "JWT" {
		t.Errorf("token header = %s, want RS256 JWT", hdr)
	}
	kid, _ := h["kid"].(string)
	return k.(*rsa.PrivateKey), kid
}

// TestJWTVerification presents forged, stale and malformed admin tokens:
// each is refused with 401 unauthorized before any handler runs, as API
// Gateway's JWT authorizer refuses them.
func TestJWTVerification(t *testing.T) {
	s := startServer(t, localserver.Config{})
	key, kid := signingKey(t, s)
	otherKey := testkit.RSAKey(t)
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{
			"iss": localserver.DefaultIssuer, "aud": localserver.DefaultAudience,
			"sub": "mallory", "firmId": "acme", "role": "admin", "tier": "premier",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		}
	}
	sign := func(method jwt.SigningMethod, k any, kid string, claims jwt.MapClaims) string {
		return testkit.SignJWT(t, method, k, kid, claims)
	}
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := valid()
		edit(c)
		return c
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	// The token's payload alone, with alg none and no signature.
	noneTok := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"` + kid + `"}`))
		p, _ := json.Marshal(valid())
		return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
	}()
	good := sign(jwt.SigningMethodRS256, key, kid, valid())
	parts := strings.Split(good, ".")
	tampered := func() string {
		p, _ := json.Marshal(with(func(c jwt.MapClaims) { c["firmId"] = "globex" }))
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
	}()

	cases := []struct {
		name   string
		header string // the whole Authorization header; "" sends none
		want   int
	}{
		{"valid token", "Bearer " + good, 200},
		{"valid token without the Bearer prefix", good, 200},
		{"missing", "", 401},
		{"empty bearer", "Bearer ", 401},
		{"not a JWT", "Bearer not-a-jwt", 401},
		{"bad signature (another key, same kid)", "Bearer " + sign(jwt.SigningMethodRS256, otherKey, kid, valid()), 401},
		{"tampered payload", "Bearer " + tampered, 401},
		{"expired", "Bearer " + sign(jwt.SigningMethodRS256, key, kid, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), 401},
		{"no exp", "Bearer " + sign(jwt.SigningMethodRS256, key, kid, with(func(c jwt.MapClaims) { delete(c, "exp") })), 401},
		{"not yet valid (nbf)", "Bearer " + sign(jwt.SigningMethodRS256, key, kid, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() })), 401},
		{"issued in the future (iat)", "Bearer " + sign(jwt.SigningMethodRS256, key, kid, with(func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Minute).Unix() })), 401},
		{"wrong issuer", "Bearer " + sign(jwt.SigningMethodRS256, key, kid, with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), 401},
		{"no issuer", "Bearer " + sign(jwt.SigningMethodRS256, key, kid, with(func(c jwt.MapClaims) { delete(c, "iss") })), 401},
		{"wrong audience", "Bearer " + sign(jwt.SigningMethodRS256, key, kid, with(func(c jwt.MapClaims) { c["aud"] = "someone-else" })), 401},
		{"unknown kid", "Bearer " + sign(jwt.SigningMethodRS256, key, "0000000000000000", valid()), 401},
		{"no kid", "Bearer " + sign(jwt.SigningMethodRS256, key, "", valid()), 401},
		{"alg none", "Bearer " + noneTok, 401},
		{"alg HS256 keyed with the public key", "Bearer " + sign(jwt.SigningMethodHS256, pubDER, kid, valid()), 401},
		{"alg RS512 (not the configured algorithm)", "Bearer " + sign(jwt.SigningMethodRS512, key, kid, valid()), 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, s.URL+"/v1/api-keys", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			res, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.want, body)
			}
			if tc.want == 401 {
				if code := (response{Body: body}).ErrorCode(t); code != "unauthorized" {
					t.Errorf("code %q, want unauthorized", code)
				}
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("no Bearer challenge: %q", res.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

// TestTokenClaimsReachTheHandlers checks that the request context the
// gateway builds is the one API Gateway would: the subject of the token and
// the client's address end up in the audit record.
func TestTokenClaimsReachTheHandlers(t *testing.T) {
	s := startServer(t, localserver.Config{})
	admin := token(t, s.URL, "alice@acme.example", "acme", "admin", "premier")
	created, _ := generate(t, s.URL, admin, "Production Integration")
	s.Stop(t)

	store, err := boltstore.Open(filepath.Join(s.DataDir, localserver.StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	audit, err := store.ListAudit(context.Background(), "acme", "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 {
		t.Fatalf("audit = %+v, want one record", audit)
	}
	a := audit[0]
	if a.Actor != "alice@acme.example" || a.SourceIP != "127.0.0.1" || a.KeyID != created["id"] || a.Action != "key.generated" {
		t.Errorf("audit record = %+v", a)
	}
}

// TestCustomClaimNames: with CLAIM_* configured, /dev/token signs the
// configured claims and the handlers read them.
func TestCustomClaimNames(t *testing.T) {
	env := map[string]string{"CLAIM_FIRM_ID": "custom:firm", "CLAIM_ROLE": "custom:role", "ADMIN_ROLE": "owner"}
	cfg, err := localserver.ParseConfig(nil, func(k string) string { return env[k] }, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	s := startServer(t, cfg)
	tok := token(t, s.URL, "alice", "acme", "owner", "premier")
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	if claims["custom:firm"] != "acme" || claims["custom:role"] != "owner" || claims["tier"] != "premier" {
		t.Errorf("claims = %s", payload)
	}
	generate(t, s.URL, tok, "Custom claims")
}

func TestDevToken(t *testing.T) {
	s := startServer(t, localserver.Config{})
	cases := []struct {
		name string
		body string
		want int
	}{
		{"full", `{"sub":"alice","firmId":"acme","role":"admin","tier":"premier"}`, 200},
		{"role and tier optional", `{"sub":"alice","firmId":"acme"}`, 200},
		{"empty role", `{"sub":"alice","firmId":"acme","role":"","tier":""}`, 200},
		{"no sub", `{"firmId":"acme","role":"admin","tier":"premier"}`, 400},
		{"empty sub", `{"sub":"","firmId":"acme"}`, 400},
		{"blank firm", `{"sub":"alice","firmId":"  "}`, 400},
		{"no firm", `{"sub":"alice"}`, 400},
		{"number sub", `{"sub":1,"firmId":"acme"}`, 400},
		{"null tier", `{"sub":"alice","firmId":"acme","tier":null}`, 400},
		{"array role", `{"sub":"alice","firmId":"acme","role":["admin"]}`, 400},
		{"unknown field", `{"sub":"alice","firmId":"acme","exp":99999999999}`, 400},
		{"duplicate role", `{"sub":"alice","firmId":"acme","role":"member","role":"admin"}`, 400},
		{"duplicate firm", `{"sub":"alice","firmId":"acme","firmId":"globex"}`, 400},
		{"not JSON", `sub=alice`, 400},
		{"array body", `["alice"]`, 400},
		{"two objects", `{"sub":"a","firmId":"b"}{}`, 400},
		{"empty body", ``, 400},
		{"too long", `{"sub":"` + strings.Repeat("a", 300) + `","firmId":"acme"}`, 400},
		{"over 8 KiB", `{"sub":"alice","firmId":"acme","role":"` + strings.Repeat(" ", 9000) + `"}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodPost, s.URL+"/dev/token", "", tc.body)
			if r.Status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.want, r.Body)
			}
			if tc.want == 400 {
				if code := r.ErrorCode(t); code != "invalid_request" {
					t.Errorf("code %q, want invalid_request", code)
				}
				return
			}
			tok, _ := r.JSON(t)["token"].(string)
			if len(strings.Split(tok, ".")) != 3 || r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("token response: %s (Cache-Control %q)", r.Body, r.Header.Get("Cache-Control"))
			}
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			var c struct {
				Iat, Nbf, Exp int64
				Iss, Aud, Sub string
			}
			if err := json.Unmarshal(payload, &c); err != nil {
				t.Fatal(err)
			}
			if c.Exp-c.Iat != int64(time.Hour/time.Second) || c.Nbf != c.Iat || c.Iss != localserver.DefaultIssuer || c.Aud != localserver.DefaultAudience || c.Sub != "alice" {
				t.Errorf("claims = %s, want a one-hour token for alice", payload)
			}
		})
	}
	if r := do(t, http.MethodGet, s.URL+"/dev/token", "", nil); r.Status != http.StatusMethodNotAllowed || r.ErrorCode(t) != "invalid_request" {
		t.Errorf("GET /dev/token: %d %s", r.Status, r.Body)
	}
}

// TestSigningKeyPersists: the key is created once with mode 0600 and reused,
// so a token from before a restart still works; a key file others can read
// is refused.
func TestSigningKeyPersists(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, localserver.Config{DataDir: dir})
	tok := token(t, s.URL, "alice", "acme", "admin", "premier")
	s.Stop(t)
	for _, name := range []string{localserver.SigningKeyFile, localserver.PepperFile, localserver.StoreFile} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode %04o, want 0600", name, perm)
		}
	}
	s2 := startServer(t, localserver.Config{DataDir: dir})
	if r := do(t, http.MethodGet, s2.URL+"/v1/api-keys", tok, nil); r.Status != http.StatusOK {
		t.Errorf("token from before the restart: %d %s", r.Status, r.Body)
	}
	s2.Stop(t)

	if err := os.Chmod(filepath.Join(dir, localserver.SigningKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := localserver.New(context.Background(), localserver.Config{DataDir: dir, Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("New with a 0644 key: %v, want a refusal that says chmod 600", err)
	}
}

// TestShutdownLosesNoWrite: generate calls in flight when the server is told
// to stop all finish, and everything acknowledged is there after a restart.
func TestShutdownLosesNoWrite(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, localserver.Config{DataDir: dir})
	admin := token(t, s.URL, "alice", "acme", "admin", "premier")

	const n = 12
	var wg sync.WaitGroup
	ids := make(chan string, n)
	firstAck := make(chan struct{})
	var ackOnce sync.Once
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/api-keys", strings.NewReader(`{"label":"Concurrent"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+admin)
			res, err := httpClient.Do(req)
			if err != nil {
				return // refused after shutdown began: never acknowledged
			}
			defer res.Body.Close()
			var body struct {
				ID string `json:"id"`
			}
			if res.StatusCode == http.StatusCreated && json.NewDecoder(res.Body).Decode(&body) == nil {
				ids <- body.ID
				ackOnce.Do(func() { close(firstAck) })
			}
		}()
	}
	close(start)
	// Stop as soon as the first write is acknowledged: the others are in
	// flight then.
	select {
	case <-firstAck:
	case <-time.After(10 * time.Second):
		t.Fatal("no generate call was acknowledged")
	}
	s.Stop(t)
	wg.Wait()
	close(ids)

	s2 := startServer(t, localserver.Config{DataDir: dir})
	r := do(t, http.MethodGet, s2.URL+"/v1/api-keys?limit=100", admin, nil)
	stored := map[string]bool{}
	for _, it := range r.JSON(t)["items"].([]any) {
		stored[it.(map[string]any)["id"].(string)] = true
	}
	acked := 0
	for id := range ids {
		acked++
		if !stored[id] {
			t.Errorf("key %s was acknowledged (201) but is gone after the restart", id)
		}
	}
	t.Logf("%d of %d generate calls were acknowledged before shutdown; all %d are stored", acked, n, acked)
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"KST_ADDR": "127.0.0.1:9999", "KST_DATA": "/tmp/x", "TABLE_NAME": "t1", "MAX_ACTIVE_KEYS": "7"}
	getenv := func(k string) string { return env[k] }
	cfg, err := localserver.ParseConfig(nil, getenv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9999" || cfg.DataDir != "/tmp/x" || cfg.Table != "t1" || cfg.MaxActiveKeys != 7 || cfg.DynamoDBEndpoint != "" {
		t.Errorf("from env: %+v", cfg)
	}
	cfg, err = localserver.ParseConfig([]string{"-addr", "127.0.0.1:1", "-data", "d", "-dynamodb-endpoint", "http://127.0.0.1:8000", "-table", "t2"}, getenv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:1" || cfg.DataDir != "d" || cfg.Table != "t2" || cfg.DynamoDBEndpoint != "http://127.0.0.1:8000" {
		t.Errorf("flags over env: %+v", cfg)
	}
	cfg, err = localserver.ParseConfig(nil, func(string) string { return "" }, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.DataDir != ".data" || cfg.MaxActiveKeys != 50 {
		t.Errorf("defaults: %+v", cfg)
	}
	for _, bad := range [][]string{{"-nope"}, {"extra"}, {"-log-level", "loud"}} {
		if _, err := localserver.ParseConfig(bad, func(string) string { return "" }, &strings.Builder{}); err == nil {
			t.Errorf("ParseConfig(%q) accepted", bad)
		}
	}
	if _, err := localserver.ParseConfig(nil, func(k string) string { return map[string]string{"MAX_ACTIVE_KEYS": "many"}[k] }, &strings.Builder{}); err == nil {
		t.Error("MAX_ACTIVE_KEYS=many accepted")
	}
}

// TestRefusesForeignHost: a page on another site that rebinds its name to
// 127.0.0.1 cannot use the local server (it would mint admin tokens).
func TestRefusesForeignHost(t *testing.T) {
	s := startServer(t, localserver.Config{})
	for _, host := range []string{"attacker.example", "attacker.example:8080", "192.0.2.1"} {
		for _, path := range []string{"/dev/token", "/v1/api-keys", "/"} {
			req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(`{"sub":"a","firmId":"b"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = host
			res, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusMisdirectedRequest || (response{Body: body}).ErrorCode(t) != "invalid_request" {
				t.Errorf("Host %s, POST %s: %d %s, want 421", host, path, res.StatusCode, body)
			}
		}
	}
	for _, host := range []string{"localhost", "LOCALHOST:8080", "127.0.0.1", "[::1]:8080", "127.1.2.3"} {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/dev/token", strings.NewReader(`{"sub":"a","firmId":"b"}`))
		req.Host = host
		res, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("Host %s: %d, want 200", host, res.StatusCode)
		}
	}
}
