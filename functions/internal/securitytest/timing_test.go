package securitytest_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// timingWorld is a service over a counting bolt store with one valid key
// whose last-used time is fresh, and a well-formed key never issued.
func timingWorld(tb testing.TB) (s *stack, counter *countingStore, valid, unknown string) {
	tb.Helper()
	s = newStack(tb, openBolt(tb), withStoreWrapper(func(st keyservice.Store) keyservice.Store {
		counter = &countingStore{Store: st}
		return counter
	}))
	valid = s.generate(storetest.NewFirmID(tb), "Timing").Key
	if _, err := s.svc.Authorize(context.Background(), valid); err != nil { // sets last-used
		tb.Fatal(err)
	}
	unknown, err := apikey.Generate(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s, counter, valid, unknown
}

// TestUnknownAndValidKeyTakeTheSameStorePath: rejecting a well-formed
// unknown key and accepting a valid one (last-used fresh, as for every use
// but one a minute) cost the same store calls — one FindCredential — so the
// store path does not tell them apart. A malformed key costs none.
func TestUnknownAndValidKeyTakeTheSameStorePath(t *testing.T) {
	s, counter, valid, unknown := timingWorld(t)
	ctx := context.Background()
	calls := func(key string) (int64, int64, error) {
		c0, f0 := counter.calls.Load(), counter.finds.Load()
		_, err := s.svc.Authorize(ctx, key)
		return counter.calls.Load() - c0, counter.finds.Load() - f0, err
	}
	vc, vf, verr := calls(valid)
	uc, uf, uerr := calls(unknown)
	// A malformed key: the last character changed, so the checksum fails.
	// Always "x" made the valid key itself whenever it ended in "x".
	last := "x"
	if strings.HasSuffix(valid, last) {
		last = "y"
	}
	mc, _, merr := calls(valid[:len(valid)-1] + last)
	if verr != nil || !errors.Is(uerr, keyservice.ErrDenied) || !errors.Is(merr, keyservice.ErrDenied) {
		t.Fatalf("valid: %v, unknown: %v, malformed: %v", verr, uerr, merr)
	}
	if vc != 1 || vf != 1 || uc != vc || uf != vf {
		t.Fatalf("store calls: valid %d (%d FindCredential), unknown %d (%d FindCredential); want 1 and 1 each", vc, vf, uc, uf)
	}
	if mc != 0 {
		t.Fatalf("a malformed key made %d store calls, want 0", mc)
	}
}

// BenchmarkAuthorizeUnknownVsValid measures Authorize for a well-formed
// unknown key and a valid key over the embedded store: the same path (one
// HMAC per pepper version, one store read), so the same cost.
func BenchmarkAuthorizeUnknownVsValid(b *testing.B) {
	s, counter, valid, unknown := timingWorld(b)
	ctx := context.Background()
	for _, c := range []struct {
		name, key string
		denied    bool
	}{{"unknown", unknown, true}, {"valid", valid, false}} {
		b.Run(c.name, func(b *testing.B) {
			f0 := counter.finds.Load()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				_, err := s.svc.Authorize(ctx, c.key)
				if (err != nil) != c.denied {
					b.Fatalf("Authorize: %v", err)
				}
				n++
			}
			b.ReportMetric(float64(counter.finds.Load()-f0)/float64(n), "finds/op")
		})
	}
}

// TestSecretComparisonsAreConstantTime scans the production code for == or
// != on anything that holds a secret (a key, token, digest, pepper,
// signature or checksum), other than against the empty string, nil, a
// length or a constant. Secrets are compared with crypto/subtle (apikey's
// checksum and Digest.Equal) or not at all (the digest is a lookup key);
// JWT signatures are checked by crypto/rsa inside golang-jwt.
func TestSecretComparisonsAreConstantTime(t *testing.T) {
	root, err := testkit.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	err = filepath.WalkDir(filepath.Join(root, "functions"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hits := variableTimeComparisons(fset, files)
	for _, h := range hits {
		t.Errorf("variable-time comparison of a secret? %s", h)
	}
	// The scanner does find what it looks for.
	probe, err := parser.ParseFile(fset, "probe.go", `package p
func f(key, presented string, digest, e [32]byte, n int) bool { return key == presented || digest != e || n == 3 || key == "" }`, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := variableTimeComparisons(fset, []*ast.File{probe}); len(got) != 2 {
		t.Fatalf("probe: found %q, want the two secret comparisons", got)
	}
}

// variableTimeComparisons lists == and != between secret-looking values.
func variableTimeComparisons(fset *token.FileSet, files []*ast.File) []string {
	secret := []string{"key", "token", "digest", "pepper", "secret", "signature", "checksum", "sum", "mac", "hash", "presented"}
	// Identifiers that contain those words but hold no secret.
	public := []string{"keyid", "keyids", "keylabel", "keyprefix", "keyschema", "keyitem", "partitionkey", "sortkey",
		"kid", "keys", "keyfields", "keyobj", "keyjson", "tokenerror", "hashkey", "keytype", "keycond", "apikey", "storedkey",
		"prefix", "idempotency", "tokenauthority", "bearertoken"}
	// Comparing with a constant (a length, a mode) reveals nothing.
	consts := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, sp := range g.Specs {
					for _, n := range sp.(*ast.ValueSpec).Names {
						consts[n.Name] = true
					}
				}
			}
		}
	}
	var hits []string
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			be, ok := n.(*ast.BinaryExpr)
			if !ok || (be.Op != token.EQL && be.Op != token.NEQ) {
				return true
			}
			if harmless(be.X) || harmless(be.Y) || isConst(be.X, consts) || isConst(be.Y, consts) {
				return true
			}
			for _, side := range []ast.Expr{be.X, be.Y} {
				name := strings.ToLower(exprName(side))
				if name == "" || containsAny(name, public) {
					continue
				}
				if containsAny(name, secret) {
					hits = append(hits, fset.Position(be.Pos()).String()+": "+exprName(be.X)+" "+be.Op.String()+" "+exprName(be.Y))
					break
				}
			}
			return true
		})
	}
	return hits
}

// harmless: comparisons against "", nil, a literal, a constant-looking
// identifier or a length reveal nothing about a secret's content.
func harmless(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return x.Name == "nil" || x.Name == "true" || x.Name == "false" || (len(x.Name) > 0 && x.Name[0] >= 'A' && x.Name[0] <= 'Z')
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && (id.Name == "len" || id.Name == "cap") {
			return true
		}
	case *ast.SelectorExpr:
		// pkg.Constant
		return len(x.Sel.Name) > 0 && x.Sel.Name[0] >= 'A' && x.Sel.Name[0] <= 'Z' && isPkgIdent(x.X)
	}
	return false
}

func isConst(e ast.Expr, consts map[string]bool) bool {
	id, ok := e.(*ast.Ident)
	return ok && consts[id.Name]
}

func isPkgIdent(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == strings.ToLower(id.Name)
}

func exprName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprName(x.X) + "." + x.Sel.Name
	case *ast.IndexExpr:
		return exprName(x.X) + "[]"
	case *ast.SliceExpr:
		return exprName(x.X) + "[:]"
	case *ast.CallExpr:
		return exprName(x.Fun) + "()"
	case *ast.StarExpr:
		return "*" + exprName(x.X)
	case *ast.ParenExpr:
		return exprName(x.X)
	case *ast.BasicLit:
		return x.Value
	}
	return ""
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
