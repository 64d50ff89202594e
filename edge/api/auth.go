package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
)

// Scope is what a read key may read. Each read route requires exactly one
// scope; a key lists every scope it needs.
type Scope string

// Read key scopes.
const (
	// ScopeProfiles reads profiles: /v1/profiles/{ref} and its
	// sub-resources (traits, events, external IDs, computed traits,
	// merges) — raw traits and identifiers included.
	ScopeProfiles Scope = "profiles"
	// ScopeDecide is for decision routes, which answer a decision about a
	// profile and never its raw traits or identifiers: GET
	// /v1/decide/{ref}. Its ?explain=true shows the values the offers'
	// expressions read, so it also needs ScopeProfiles. A key with only
	// this scope is refused (403) on /v1/profiles.
	ScopeDecide Scope = "decide"
	// ScopeStream reads the live stream, /v1/stream (profile IDs,
	// versions, changed trait keys and audience transitions; no trait
	// values or identifiers). A key with only this scope is refused (403)
	// on /v1/profiles.
	ScopeStream Scope = "stream"
)

// Scopes lists every scope, in the order help and errors name them.
var Scopes = []Scope{ScopeProfiles, ScopeDecide, ScopeStream}

// MinReadKeySecretBytes is the shortest read key secret accepted: a read
// key reads raw profiles, so it must not be guessable.
const MinReadKeySecretBytes = 16

// ReadKey is a credential for the read routes. A client sends it as
// "Authorization: Bearer SECRET" or HTTP Basic (username NAME and
// password SECRET, or username SECRET and no password).
type ReadKey struct {
	// Name identifies the key in logs, metrics and error messages; it is
	// not secret. 1 to 64 of A-Z a-z 0-9 . _ -.
	Name string
	// Secret is what the client sends: at least MinReadKeySecretBytes
	// printable ASCII bytes, no white space and no ','. It is never
	// logged nor echoed.
	Secret string
	// Scopes are what the key may read; at least one.
	Scopes []Scope
}

// validName reports whether s is a read key name.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Validate checks the key on its own. Its messages name the part at
// fault and never hold the secret (nor the name, which a swapped
// NAME=SECRET could make the secret).
func (k ReadKey) Validate() error {
	if !validName(k.Name) {
		return errors.New("name: must be 1 to 64 of A-Z a-z 0-9 . _ -")
	}
	if len(k.Secret) < MinReadKeySecretBytes {
		return fmt.Errorf("secret: must be at least %d bytes", MinReadKeySecretBytes)
	}
	for _, c := range []byte(k.Secret) {
		if c <= ' ' || c >= 0x7f || c == ',' {
			return errors.New("secret: must be printable ASCII without white space or ','")
		}
	}
	if len(k.Scopes) == 0 {
		return fmt.Errorf("scopes: at least one is required (%s)", scopeList())
	}
	for _, sc := range k.Scopes {
		if !slices.Contains(Scopes, sc) {
			return fmt.Errorf("scopes: unknown scope; scopes are %s", scopeList())
		}
	}
	return nil
}

// validateReadKeys checks keys, that names and secrets are unique, and
// that no secret is also a write key. Messages name keys by position and
// name and never show a secret.
func validateReadKeys(keys []ReadKey, writeKeys map[string]string) error {
	names := map[string]bool{}
	secrets := map[string]bool{}
	for i, k := range keys {
		if err := k.Validate(); err != nil {
			return fmt.Errorf("ReadKeys[%d]: %w", i, err)
		}
		if names[k.Name] {
			return fmt.Errorf("ReadKeys[%d]: name: %q is used twice", i, k.Name)
		}
		names[k.Name] = true
		if secrets[k.Secret] {
			return fmt.Errorf("ReadKeys[%d] (key %q): secret: another read key has the same secret", i, k.Name)
		}
		secrets[k.Secret] = true
		if _, ok := writeKeys[k.Secret]; ok {
			return fmt.Errorf("ReadKeys[%d] (key %q): secret: is also a write key; a key either writes or reads", i, k.Name)
		}
	}
	return nil
}

// scopeList names every scope: "profiles, decide, stream".
func scopeList() string {
	s := make([]string, len(Scopes))
	for i, sc := range Scopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ", ")
}

// readKey is a configured read key as the server holds it.
type readKey struct {
	name   string
	scopes []Scope
	bucket *bucket // nil without a rate limit
}

// secretHash keys the read key table: a request's credential is hashed
// and looked up, so the lookup's timing says nothing about the secrets.
type secretHash [sha256.Size]byte

func hashSecret(s string) secretHash { return sha256.Sum256([]byte(s)) }

// readAuthChallenge is the WWW-Authenticate of a 401 on a read route.
const readAuthChallenge = `Bearer realm="ucv-edge", Basic realm="ucv-edge"`

// authorizeRead admits a request to a read route that requires scope:
// always when no read key is configured (open reads: loopback or
// InsecureOpenReads, which the edge node enforces); otherwise only with a
// read key holding scope, within the key's rate limit. It answers 401
// without a credential or with an unknown one, 403 for a write key or a
// read key without scope, 429 over the rate limit.
func (s *Server) authorizeRead(ctx *fasthttp.RequestCtx, scope Scope) error {
	if len(s.readKeys) == 0 {
		return nil
	}
	h := &ctx.Request.Header
	user, secret, ok := credential(h)
	if !ok {
		if wk := h.Peek("X-Write-Key"); len(wk) > 0 && s.isWriteKey(string(wk)) {
			return errorf(ErrForbidden, "a write key cannot read; send a read key (Authorization: Bearer READ_KEY)")
		}
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, readAuthChallenge)
		return errorf(ErrUnauthorized, "a read key is required (Authorization: Bearer READ_KEY, or HTTP Basic)")
	}
	k, known := s.readKeys[hashSecret(secret)]
	switch {
	case !known && s.isWriteKey(secret):
		return errorf(ErrForbidden, "a write key cannot read; send a read key (Authorization: Bearer READ_KEY)")
	case !known, user != "" && user != k.name:
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, readAuthChallenge)
		return errorf(ErrUnauthorized, "unknown read key")
	case !slices.Contains(k.scopes, scope):
		return errorf(ErrForbidden, fmt.Sprintf("read key %q lacks scope %q", k.name, scope))
	}
	return s.take(k.bucket, "read key "+quote(k.name), "read", k.name)
}

// hasScope reports whether the request's read key (already admitted by
// authorizeRead) holds scope; true when reads are open.
func (s *Server) hasScope(ctx *fasthttp.RequestCtx, scope Scope) bool {
	if len(s.readKeys) == 0 {
		return true
	}
	_, secret, ok := credential(&ctx.Request.Header)
	if !ok {
		return false
	}
	k, known := s.readKeys[hashSecret(secret)]
	return known && slices.Contains(k.scopes, scope)
}

// isWriteKey reports whether key is a configured write key.
func (s *Server) isWriteKey(key string) bool {
	_, ok := s.cfg.WriteKeys[key]
	return ok
}

// isReadKey reports whether key is a configured read key's secret: the
// write routes refuse it (403) rather than call it unknown.
func (s *Server) isReadKey(key string) bool {
	if len(s.readKeys) == 0 || key == "" {
		return false
	}
	_, ok := s.readKeys[hashSecret(key)]
	return ok
}

// errReadKeyWrites answers a read key sent to a write route.
var errReadKeyWrites = errorf(ErrForbidden, "a read key cannot write; send a write key")

// credential returns the secret of the Authorization header: a Bearer
// token, or HTTP Basic's password with its username in user — or, when
// the password is empty, the username as the secret (Segment's way of
// sending a key). Schemes are case-insensitive (RFC 9110 §11.1).
func credential(h *fasthttp.RequestHeader) (user, secret string, ok bool) {
	auth := h.Peek(fasthttp.HeaderAuthorization)
	if len(auth) > 7 && strings.EqualFold(string(auth[:7]), "bearer ") {
		return "", strings.TrimSpace(string(auth[7:])), true
	}
	if len(auth) < 6 || !strings.EqualFold(string(auth[:6]), "basic ") {
		return "", "", false
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(auth[6:])))
	if err != nil {
		return "", "", true // a malformed credential is a wrong key, not no key
	}
	u, p, _ := bytes.Cut(dec, []byte(":"))
	if len(p) == 0 {
		return "", string(u), true
	}
	return string(u), string(p), true
}

// quote quotes a key name for a client message.
func quote(name string) string { return fmt.Sprintf("%q", name) }
