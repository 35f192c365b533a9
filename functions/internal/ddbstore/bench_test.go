package ddbstore_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

var benchAdmin = keyservice.Admin{Subject: "alice", FirmID: "bench", IsAdmin: true, IsPremier: true, SourceIP: "203.0.113.7"}

// benchService returns a service over a fresh DynamoDB Local table with a
// two-version pepper set (current "2"), and one generated key.
func benchService(b *testing.B) (*keyservice.Service, keyservice.Key, string, *dynamodb.Client, string) {
	b.Helper()
	s, client, table := newStore(b)
	svc := keyservice.New(s, testkit.Peppers{Set: storetest.TestPepperSet(b, "2", "1")},
		keyservice.Config{MaxActiveKeys: 1 << 30, Logger: slog.New(slog.DiscardHandler)})
	k, plain, err := svc.Generate(context.Background(), benchAdmin, keyservice.GenerateInput{Label: "Benchmark"})
	if err != nil {
		b.Fatal(err)
	}
	// Warm DynamoDB Local's JIT so the first benchmark of a run is not
	// slower for that reason alone.
	for range 500 {
		if _, err := s.FindCredential(context.Background(), k.Digest); err != nil {
			b.Fatal(err)
		}
	}
	return svc, k, plain, client, table
}

// BenchmarkAuthorize: a warm authorization of a valid key (checksum, HMAC,
// one consistent GetItem; last-used was written by the first call and is
// fresh for a minute, so no write).
func BenchmarkAuthorize(b *testing.B) {
	svc, _, plain, _, _ := benchService(b)
	ctx := context.Background()
	if _, err := svc.Authorize(ctx, plain); err != nil { // sets last-used
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Authorize(ctx, plain); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetItemBaseline: the bare SDK GetItem of the same credential
// item, the floor under BenchmarkAuthorize.
func BenchmarkGetItemBaseline(b *testing.B) {
	_, k, _, client, table := benchService(b)
	ctx := context.Background()
	in := &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "CRED#" + k.Digest.String()},
			"SK": &types.AttributeValueMemberS{Value: "CRED"},
		},
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := client.GetItem(ctx, in)
		if err != nil || len(out.Item) == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkGenerate: one Generate (key, HMAC, one TransactWriteItems of
// four items).
func BenchmarkGenerate(b *testing.B) {
	svc, _, _, _, _ := benchService(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, _, err := svc.Generate(ctx, benchAdmin, keyservice.GenerateInput{Label: "Benchmark " + strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHMACBaseline: the bare HMAC-SHA-256 of a key-sized message, so
// the figures above can be given as ratios measured in the same run.
func BenchmarkHMACBaseline(b *testing.B) {
	secret := []byte("benchmark pepper, 32 bytes long!")
	msg := []byte("kst_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh123456")
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, secret)
		m.Write(msg)
		_ = m.Sum(nil)
	}
}
