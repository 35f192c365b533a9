package localserver_test

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/localserver"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
)

// TestDataFolderHoldsNoPlaintextKey runs a session (keys generated, used,
// revoked, listed), stops the server, and scans every byte of every file in
// the data folder, and the server's logs, for the keys or any 5-character
// run of their secret parts.
func TestDataFolderHoldsNoPlaintextKey(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, localserver.Config{DataDir: dir})
	admin := token(t, s.URL, "alice", "acme", "admin", "premier")
	var keys []string
	for i := 0; i < 8; i++ {
		created, key := generate(t, s.URL, admin, "Integration "+strconv.Itoa(i))
		keys = append(keys, key)
		if r := do(t, http.MethodGet, s.URL+"/v1/whoami", key, nil); r.Status != http.StatusOK {
			t.Fatalf("whoami: %d %s", r.Status, r.Body)
		}
		if i%2 == 0 {
			if r := do(t, http.MethodPost, s.URL+"/v1/api-keys/"+created["id"].(string)+"/revoke", admin, nil); r.Status != http.StatusOK {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
		}
	}
	if r := do(t, http.MethodGet, s.URL+"/v1/api-keys", admin, nil); r.Status != http.StatusOK {
		t.Fatalf("list: %d", r.Status)
	}
	s.Stop(t)

	var dump []byte
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		dump = append(dump, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("scanned %d files, want the store, the pepper and the signing key", files)
	}
	storetest.AssertNoPlaintext(t, dump, keys)
	storetest.AssertNoPlaintext(t, s.Logs.Bytes(), keys)
	t.Logf("scanned %d files (%d bytes) and %d bytes of logs for %d keys", files, len(dump), len(s.Logs.Bytes()), len(keys))
}

// TestDynamoDBEndpoint runs the local server on DynamoDB Local instead of
// the embedded store: the table is created when missing, and the whole
// flow works. It fails (never skips) when DynamoDB Local is unavailable.
func TestDynamoDBEndpoint(t *testing.T) {
	endpoint := ddblocal.Endpoint(t)
	client := ddblocal.NewClient(t)
	table := "localserver-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
			t.Errorf("delete table %s: %v", table, err)
		}
	})
	dir := t.TempDir()
	s := startServer(t, localserver.Config{DataDir: dir, DynamoDBEndpoint: endpoint, Table: table})
	admin := token(t, s.URL, "alice", "acme", "admin", "premier")
	created, key := generate(t, s.URL, admin, "Production Integration")
	r := do(t, http.MethodGet, s.URL+"/v1/whoami", key, nil)
	if r.Status != http.StatusOK || r.JSON(t)["keyId"] != created["id"] {
		t.Fatalf("whoami: %d %s", r.Status, r.Body)
	}
	if _, err := os.Stat(filepath.Join(dir, localserver.StoreFile)); err == nil {
		t.Error("the embedded store was created although DynamoDB was configured")
	}
	s.Stop(t)

	// The table exists now; a second server reuses it and sees the key.
	s2 := startServer(t, localserver.Config{DataDir: dir, DynamoDBEndpoint: endpoint, Table: table})
	if r := do(t, http.MethodPost, s2.URL+"/v1/api-keys/"+created["id"].(string)+"/revoke", admin, nil); r.Status != http.StatusOK {
		t.Fatalf("revoke on the second server: %d %s", r.Status, r.Body)
	}
	if r := do(t, http.MethodGet, s2.URL+"/v1/whoami", key, nil); r.Status != http.StatusForbidden {
		t.Errorf("whoami after revoke: %d %s", r.Status, r.Body)
	}
}
