package pepper_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/kudurrustone/apikeys/functions/internal/motoserver"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/smfake"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(motoserver.Main(m)) }

// peer is a Secrets Manager the source is tested against: moto_server (the
// widely used emulator) and smfake (ours, which also injects latency,
// drops and throttles and counts calls). The cases below run on both, so
// smfake is held to what an independent implementation answers.
type peer interface {
	// create makes a new secret with value as its AWSCURRENT version and
	// returns its name and ARN.
	create(t *testing.T, value string) (name, arn string)
	// put writes a new AWSCURRENT version.
	put(t *testing.T, name, value string)
	// delete schedules the deletion (recovery window) or, with force,
	// deletes at once.
	delete(t *testing.T, name string, force bool)
	url(t *testing.T) string
}

type fakePeer struct{ fake *smfake.Server }

func (p *fakePeer) url(t *testing.T) string { return p.fake.URL() }

func (p *fakePeer) create(t *testing.T, value string) (string, string) {
	name := motoserver.Name("kst/pepper")
	p.fake.SetSecret(name, value)
	return name, p.fake.ARN(name)
}

func (p *fakePeer) put(t *testing.T, name, value string) { p.fake.SetSecret(name, value) }

func (p *fakePeer) delete(t *testing.T, name string, force bool) {
	if force {
		p.fake.ForceDeleteSecret(name)
	} else {
		p.fake.DeleteSecret(name)
	}
}

type motoPeer struct{}

func (motoPeer) url(t *testing.T) string { return motoserver.URL(t) }

func (motoPeer) create(t *testing.T, value string) (string, string) {
	name := motoserver.Name("kst/pepper")
	out, err := motoserver.SecretsManager(t).CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("moto: create secret: %v", err)
	}
	return name, aws.ToString(out.ARN)
}

func (motoPeer) put(t *testing.T, name, value string) {
	if _, err := motoserver.SecretsManager(t).PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), SecretString: aws.String(value)}); err != nil {
		t.Fatalf("moto: put secret value: %v", err)
	}
}

func (motoPeer) delete(t *testing.T, name string, force bool) {
	in := &secretsmanager.DeleteSecretInput{SecretId: aws.String(name)}
	if force {
		in.ForceDeleteWithoutRecovery = aws.Bool(true)
	}
	if _, err := motoserver.SecretsManager(t).DeleteSecret(t.Context(), in); err != nil {
		t.Fatalf("moto: delete secret: %v", err)
	}
}

var peers = []struct {
	name string
	new  func(t *testing.T) peer // lives as long as t
}{
	{"moto", func(*testing.T) peer { return motoPeer{} }},
	{"smfake", func(t *testing.T) peer { return &fakePeer{fake: smfake.New(t)} }},
}

// onPeers runs f against each peer with a fresh source reading the secret
// id that f's setup returns.
func onPeers(t *testing.T, f func(t *testing.T, p peer)) {
	for _, pc := range peers {
		t.Run(pc.name, func(t *testing.T) { f(t, pc.new(t)) })
	}
}

func newPeerSource(t *testing.T, p peer, secretID string, cfg pepper.SecretsManagerConfig) (*pepper.SecretsManager, *testkit.Clock, *testkit.SyncBuffer) {
	t.Helper()
	c, logs := newClock(), &testkit.SyncBuffer{}
	cfg.SecretID, cfg.Now, cfg.Logger = secretID, c.Now, slog.New(slog.NewJSONHandler(logs, nil))
	src, err := pepper.NewSecretsManager(newSMClient(p.url(t)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l := logs.String(); strings.Contains(l, testkit.Pepper1) || strings.Contains(l, testkit.Pepper2) {
			t.Errorf("logs contain a pepper:\n%s", l)
		}
	})
	return src, c, logs
}

func TestPeersLoadAndRotate(t *testing.T) {
	onPeers(t, func(t *testing.T, p peer) {
		for _, by := range []string{"name", "ARN"} {
			t.Run("by "+by, func(t *testing.T) {
				name, arn := p.create(t, testkit.SecretV1)
				id := name
				if by == "ARN" {
					id = arn
				}
				src, c, _ := newPeerSource(t, p, id, pepper.SecretsManagerConfig{Refresh: 5 * 60e9})
				if err := src.Load(t.Context()); err != nil {
					t.Fatalf("Load: %v", err)
				}
				before := testkit.LoadPeppers(t, src)
				if v := before.Current().Version; v != "1" {
					t.Fatalf("current = %q, want 1", v)
				}
				old := newKey(t)
				oldDigest := before.Current().Hash(old)

				p.put(t, name, testkit.SecretV12)
				c.Advance(5 * 60e9)
				after := testkit.LoadPeppers(t, src)
				if v := after.Current().Version; v != "2" {
					t.Errorf("after a new version and a refresh: current = %q, want 2", v)
				}
				if v, ok := verifies(after, old, oldDigest); !ok || v != "1" {
					t.Errorf("a key of version 1 verifies = %v under %q", ok, v)
				}
			})
		}
	})
}

func TestPeersDeletedSecret(t *testing.T) {
	onPeers(t, func(t *testing.T, p peer) {
		for _, tc := range []struct {
			name   string
			force  bool
			wantAs any
		}{
			{"in its recovery window", false, new(*types.InvalidRequestException)},
			{"force-deleted", true, new(*types.ResourceNotFoundException)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				name, _ := p.create(t, testkit.SecretV1)
				p.delete(t, name, tc.force)
				src, _, logs := newPeerSource(t, p, name, pepper.SecretsManagerConfig{})
				err := src.Load(t.Context())
				if !errors.As(err, tc.wantAs) {
					t.Errorf("Load error %v does not contain %T", err, tc.wantAs)
				}
				if _, err := src.Peppers(t.Context()); !errors.Is(err, pepper.ErrUnavailable) {
					t.Errorf("Peppers: err = %v, want ErrUnavailable", err)
				}
				if !strings.Contains(logs.String(), `"level":"ERROR"`) {
					t.Errorf("no error logged:\n%s", logs.String())
				}
			})
		}
		t.Run("never created", func(t *testing.T) {
			src, _, _ := newPeerSource(t, p, motoserver.Name("kst/never"), pepper.SecretsManagerConfig{})
			p.url(t)
			var nf *types.ResourceNotFoundException
			if err := src.Load(t.Context()); !errors.As(err, &nf) {
				t.Errorf("Load error %v is not ResourceNotFoundException", err)
			}
		})
	})
}

func TestPeersMalformed(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"not JSON", "xq" + testkit.Pepper1, "not valid JSON"},
		{"JSON array", fmt.Sprintf("[%q]", testkit.Pepper1), "not a JSON object"},
		{"current names no version", fmt.Sprintf(`{"current":"2","1":%q}`, testkit.Pepper1), `current version "2" has no pepper`},
		{"pepper shorter than 16 bytes", `{"current":"1","1":"short-pepper-15"}`, `version "1" is shorter than 16 bytes`},
		{"next without nextFrom", fmt.Sprintf(`{"current":"1","next":"2","1":%q,"2":%q}`, testkit.Pepper1, testkit.Pepper2), `"next" is set without "nextFrom"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onPeers(t, func(t *testing.T, p peer) {
				name, _ := p.create(t, tc.value)
				src, _, _ := newPeerSource(t, p, name, pepper.SecretsManagerConfig{})
				err := src.Load(t.Context())
				if !errors.Is(err, pepper.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Load: err = %v, want ErrMalformed saying %q", err, tc.want)
				}
				if strings.Contains(err.Error(), testkit.Pepper1) || strings.Contains(err.Error(), "short-pepper") {
					t.Errorf("error %q holds the secret", err)
				}
			})
		})
	}
}
