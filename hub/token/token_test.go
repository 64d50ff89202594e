package token_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"ucv/hub/token"
)

// hash hashes secret at bcrypt's minimum cost: tests check behaviour,
// not the KDF's slowness.
func hash(t testing.TB, secret string) string {
	t.Helper()
	h, err := token.Hash(secret, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseAndVerify(t *testing.T) {
	file := fmt.Sprintf(`# hub tokens
ops      admin   %s

store-1  sync    %s
	auditor-ann auditor %s
`, hash(t, "ops-secret"), hash(t, "s1-secret"), hash(t, "ann-secret"))
	s, err := token.Parse(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || !s.Has(token.Sync) || s.Has(token.Node) {
		t.Fatalf("Len %d, Has(sync) %v, Has(node) %v; want 3, true, false", s.Len(), s.Has(token.Sync), s.Has(token.Node))
	}
	ctx := context.Background()
	for _, c := range []struct {
		secret string
		want   token.Identity
	}{
		{"ops-secret", token.Identity{Name: "ops", Role: token.Admin}},
		{"s1-secret", token.Identity{Name: "store-1", Role: token.Sync}},
		{"ann-secret", token.Identity{Name: "auditor-ann", Role: token.Auditor}},
	} {
		if got, err := s.Verify(ctx, c.secret); err != nil || got != c.want {
			t.Errorf("Verify(%q) = %+v, %v; want %+v", c.secret, got, err, c.want)
		}
	}
	for _, bad := range []string{"nope", "", "ops-secret ", strings.Repeat("x", 73), "OPS-SECRET"} {
		if got, err := s.Verify(ctx, bad); !errors.Is(err, token.ErrUnknown) {
			t.Errorf("Verify(%q) = %+v, %v; want ErrUnknown", bad, got, err)
		}
	}
}

func TestParseErrorsNameLineAndField(t *testing.T) {
	h := hash(t, "x")
	for _, c := range []struct {
		name, file, want string
	}{
		{"two fields", "a admin\n", "line 1: 2 fields"},
		{"unknown role", "\n# c\na root " + h + "\n", "line 3: role: token: unknown role \"root\""},
		{"not bcrypt", "a admin sha256:abcd\n", "line 1: secret-hash: not a bcrypt hash"},
		{"plain secret", "a admin hunter2\n", "line 1: secret-hash"},
		{"duplicate", "a admin " + h + "\na sync " + h + "\n", "line 2: name: \"a\" appears twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := token.Parse(strings.NewReader(c.file))
			if !errors.Is(err, token.ErrSyntax) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse = %v, want ErrSyntax containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "$2a$") {
				t.Fatalf("error %q repeats the secret or hash", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("e1 sync "+hash(t, "e1-secret")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := token.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s.Verify(context.Background(), "e1-secret"); err != nil || id.Name != "e1" {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
	if _, err := token.Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

// TestVerifyCaches: bcrypt runs once per secret; later requests with the
// same secret (right or wrong) are answered from memory.
func TestVerifyCaches(t *testing.T) {
	s := token.New()
	for i := range 5 {
		if err := s.AddHash(fmt.Sprint("edge-", i), token.Sync, hash(t, fmt.Sprint("secret-", i))); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if s.Seen("secret-4") {
		t.Fatal("Seen before the first Verify")
	}
	for range 100 {
		if id, err := s.Verify(ctx, "secret-4"); err != nil || id.Name != "edge-4" {
			t.Fatalf("Verify = %+v, %v", id, err)
		}
	}
	if got := s.Compares(); got != 5 {
		t.Errorf("%d bcrypt comparisons for 100 requests with the fifth token's secret, want 5 (the first request only)", got)
	}
	for range 100 {
		if _, err := s.Verify(ctx, "wrong"); !errors.Is(err, token.ErrUnknown) {
			t.Fatalf("Verify(wrong) = %v", err)
		}
	}
	if got := s.Compares(); got != 10 {
		t.Errorf("%d bcrypt comparisons after 100 wrong requests, want 10 (5 for the first wrong one)", got)
	}
	if !s.Seen("secret-4") || !s.Seen("wrong") || s.Seen("secret-3") {
		t.Error("Seen does not match what was verified")
	}
}

// TestVerifyNamePrefix: a secret made by NewSecret names its token, which
// is tried first: one bcrypt comparison however many tokens there are.
func TestVerifyNamePrefix(t *testing.T) {
	s := token.New()
	var secret string
	for i := range 20 {
		name := fmt.Sprint("store.", i) // a dot in the name: the prefix is cut at the last one
		sec, err := token.NewSecret(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sec, name+".") || len(sec) > token.MaxSecretBytes {
			t.Fatalf("NewSecret(%q) = %q", name, sec)
		}
		if i == 17 {
			secret = sec
		}
		if err := s.AddHash(name, token.Sync, hash(t, sec)); err != nil {
			t.Fatal(err)
		}
	}
	if id, err := s.Verify(context.Background(), secret); err != nil || id.Name != "store.17" {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
	if got := s.Compares(); got != 1 {
		t.Errorf("%d bcrypt comparisons, want 1", got)
	}
	long, err := token.NewSecret(strings.Repeat("n", 60))
	// Only the random part: 32 base64url characters, no "NAME." prefix
	// (the random part may itself start with an "n": testing for that
	// failed one run in 64).
	if err != nil || len(long) != 32 || strings.Contains(long, ".") {
		t.Errorf("NewSecret(60-byte name) = %q, %v; want only the random part", long, err)
	}
}

// TestVerifyConcurrentSharesWork: callers presenting the same new secret
// at once share one verification.
func TestVerifyConcurrentSharesWork(t *testing.T) {
	s := token.New()
	if err := s.AddHash("e1", token.Sync, hash(t, "e1-secret")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if id, err := s.Verify(context.Background(), "e1-secret"); err != nil || id.Name != "e1" {
				t.Errorf("Verify = %+v, %v", id, err)
			}
		})
	}
	wg.Wait()
	if got := s.Compares(); got != 1 {
		t.Errorf("%d bcrypt comparisons for 16 concurrent first requests, want 1", got)
	}
}

func TestShared(t *testing.T) {
	s := token.New()
	if err := s.AddShared("sync", token.Sync, "st"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddShared("admin", token.Admin, "st"); err == nil {
		t.Error("a second shortcut with the same secret was accepted")
	}
	if err := s.AddShared("admin", token.Admin, "at"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddShared("x", "root", "xt"); err == nil {
		t.Error("an unknown role was accepted")
	}
	id, err := s.Verify(context.Background(), "at")
	if want := (token.Identity{Name: "admin", Role: token.Admin, Shared: true}); err != nil || id != want {
		t.Errorf("Verify(at) = %+v, %v; want %+v", id, err, want)
	}
	if s.Compares() != 0 {
		t.Error("a shortcut ran bcrypt")
	}
}

func TestHash(t *testing.T) {
	for _, bad := range []string{"", "a b", strings.Repeat("x", 73)} {
		if _, err := token.Hash(bad, bcrypt.MinCost); err == nil {
			t.Errorf("Hash(%q) succeeded", bad)
		}
	}
	if _, err := token.Hash("x", 3); err == nil {
		t.Error("Hash with cost 3 succeeded")
	}
	h, err := token.Hash("s3cret", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost([]byte(h)); c != token.DefaultCost {
		t.Errorf("cost %d, want %d", c, token.DefaultCost)
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range token.Roles() {
		if got, err := token.ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	if _, err := token.ParseRole("Admin"); err == nil {
		t.Error("ParseRole is case-insensitive; roles are exact")
	}
}

// BenchmarkVerifyCached is the cost a request pays for its token once
// the secret was verified (a SHA-256 and a map lookup).
func BenchmarkVerifyCached(b *testing.B) {
	s := token.New()
	if err := s.AddHash("e1", token.Sync, hash(b, "e1-secret")); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Verify(ctx, "e1-secret"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBcryptDefaultCost is what a secret costs the first time.
func BenchmarkBcryptDefaultCost(b *testing.B) {
	h, err := token.Hash("e1-secret", 0)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s := token.New()
		if err := s.AddHash("e1", token.Sync, h); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Verify(context.Background(), "e1-secret"); err != nil {
			b.Fatal(err)
		}
	}
}
