// Package token holds the hub API's credentials: the roles a token can
// carry, the tokens file (one `name role secret-hash` line per token, the
// hash a bcrypt one), hashing a secret for that file, and verifying a
// presented secret. It is the one home of golang.org/x/crypto.
//
// bcrypt is slow on purpose (tens of milliseconds a comparison at the
// default cost), so a Set remembers what it verified: the SHA-256 of a
// secret that matched maps to its identity, the SHA-256 of one that did
// not is remembered as unknown, and only a secret seen for the first
// time pays for bcrypt. See docs/decisions/0028-hub-tokens-and-roles.md.
package token

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a token may do on the hub; hub/api's role matrix says
// which routes each role opens.
type Role string

// The roles. People hold admin, steward, privacy and auditor tokens,
// edges sync tokens, hub nodes node tokens.
const (
	// Admin operates the hub: membership, the identity model, and
	// everything a steward may do.
	Admin Role = "admin"
	// Steward decides on people: merges, unmerges, the review queue.
	Steward Role = "steward"
	// Privacy answers privacy requests: looks people up and exports
	// what the hub holds on them.
	Privacy Role = "privacy"
	// Auditor reads without seeing raw identifiers: status, the
	// identity model, profiles with identifier values and traits hashed.
	Auditor Role = "auditor"
	// Sync is an edge: the token's name is the edge's ID.
	Sync Role = "sync"
	// Node is a hub node talking to the others: forwarded commands,
	// the peer exchange, joining.
	Node Role = "node"
)

// Roles lists every role, in the order the role matrix prints them.
func Roles() []Role { return []Role{Admin, Steward, Privacy, Auditor, Sync, Node} }

// ParseRole returns the role named s; an unknown name is an error that
// lists the known ones.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("token: unknown role %q (want admin, steward, privacy, auditor, sync or node)", s)
}

// Identity is who a request acts as.
type Identity struct {
	// Name is the token's name; for a sync token it is the edge's ID.
	// Empty for an anonymous request.
	Name string
	// Role is the token's role; empty for an anonymous request.
	Role Role
	// Shared marks a credential many clients hold: the hub's
	// --sync-token and --admin-token development shortcuts. A shared
	// sync identity names no edge in particular.
	Shared bool
}

// Anonymous reports whether the identity presented no credential.
func (id Identity) Anonymous() bool { return id.Role == "" }

// MaxSecretBytes is the longest secret bcrypt takes whole; longer ones
// are refused rather than silently cut.
const MaxSecretBytes = 72

// MaxNameBytes bounds a token's name (an edge ID at most as long as the
// hub accepts).
const MaxNameBytes = 512

// DefaultCost is the bcrypt cost Hash uses: about 75 ms a comparison on
// a small VM core, paid once per secret a hub sees (Set caches).
// MinCost is the cheapest cost bcrypt takes (for tests).
const (
	DefaultCost = bcrypt.DefaultCost
	MinCost     = bcrypt.MinCost
)

// Errors of the package.
var (
	// ErrUnknown: the secret matches no token.
	ErrUnknown = errors.New("token: unknown token")
	// ErrSyntax: a tokens file line is malformed; the error names the
	// line and field.
	ErrSyntax = errors.New("token: syntax error")
)

// Hash returns the bcrypt hash of secret at cost (DefaultCost when cost
// is 0), the third field of a tokens file line. An empty secret, one
// longer than MaxSecretBytes or one with white space is refused.
func Hash(secret string, cost int) (string, error) {
	if err := checkSecret(secret); err != nil {
		return "", err
	}
	if cost == 0 {
		cost = DefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return "", fmt.Errorf("token: cost %d outside %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(secret), cost)
	if err != nil {
		return "", fmt.Errorf("token: hash: %w", err)
	}
	return string(h), nil
}

func checkSecret(secret string) error {
	switch {
	case secret == "":
		return errors.New("token: empty secret")
	case len(secret) > MaxSecretBytes:
		return fmt.Errorf("token: secret of %d bytes, at most %d", len(secret), MaxSecretBytes)
	case strings.IndexFunc(secret, unicode.IsSpace) >= 0:
		return errors.New("token: secret contains white space")
	}
	return nil
}

// NewSecret returns a random secret for the token named name:
// "NAME." followed by 32 characters of base64url (192 random bits), or
// only the random part when the name makes it longer than
// MaxSecretBytes. The name prefix lets a Set try that token's hash first;
// it adds no secrecy and takes none away.
func NewSecret(name string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: random secret: %w", err)
	}
	r := base64.RawURLEncoding.EncodeToString(b)
	if len(name)+1+len(r) <= MaxSecretBytes && checkName(name) == nil {
		return name + "." + r, nil
	}
	return r, nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case len(name) > MaxNameBytes:
		return fmt.Errorf("name of %d bytes, at most %d", len(name), MaxNameBytes)
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return errors.New("name contains white space or unprintable characters")
	}
	return nil
}

// entry is one token: a bcrypt hash (the tokens file) or, for the
// development shortcuts, the secret itself.
type entry struct {
	id     Identity
	hash   []byte
	secret []byte
}

// maxUnknown bounds the cache of secrets known not to match; when full it
// starts over.
const maxUnknown = 4096

// Set is a set of tokens and the cache of what it verified. Build it
// with Parse or Load and Add; it must not change once Verify runs. Safe
// for concurrent use after that.
type Set struct {
	entries []entry
	byName  map[string]int

	mu       sync.Mutex
	known    map[[32]byte]Identity
	unknown  map[[32]byte]struct{}
	inflight map[[32]byte]chan struct{}
	sem      chan struct{} // bounds concurrent bcrypt comparisons

	compares atomic.Int64
}

// New returns an empty Set.
func New() *Set {
	return &Set{byName: map[string]int{}, known: map[[32]byte]Identity{}, unknown: map[[32]byte]struct{}{},
		inflight: map[[32]byte]chan struct{}{}, sem: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
}

// Load reads the tokens file at path (see Parse).
func Load(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	defer f.Close()
	s, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse reads a tokens file: one token a line, `name role secret-hash`
// separated by white space; blank lines and lines starting with # are
// skipped. The name is unique, the role one of Roles, the hash a bcrypt
// hash (as Hash writes it). The first bad line is an error wrapping
// ErrSyntax that names its number and field, never the hash.
func Parse(r io.Reader) (*Set, error) {
	s := New()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: line %d: %d fields, want 3 (name role secret-hash)", ErrSyntax, n, len(f))
		}
		role, err := ParseRole(f[1])
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: role: %w", ErrSyntax, n, err)
		}
		if _, err := bcrypt.Cost([]byte(f[2])); err != nil {
			return nil, fmt.Errorf("%w: line %d: secret-hash: not a bcrypt hash (make one with `ucv tokens hash`)", ErrSyntax, n)
		}
		if err := s.add(entry{id: Identity{Name: f[0], Role: role}, hash: []byte(f[2])}); err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrSyntax, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token: read: %w", err)
	}
	return s, nil
}

// AddHash adds the token name with role and a bcrypt hash of its secret,
// as a tokens file line does.
func (s *Set) AddHash(name string, role Role, hash string) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("token: %s: not a bcrypt hash", name)
	}
	return s.add(entry{id: Identity{Name: name, Role: role}, hash: []byte(hash)})
}

// AddShared adds a development shortcut: a secret given as is (the
// hub's --sync-token, --admin-token), compared in constant time, whose
// identity is Shared. Two tokens with the same secret are refused.
func (s *Set) AddShared(name string, role Role, secret string) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if err := checkSecret(secret); err != nil {
		return fmt.Errorf("token: %s: %w", name, err)
	}
	for _, e := range s.entries {
		if e.secret != nil && subtle.ConstantTimeCompare(e.secret, []byte(secret)) == 1 {
			return fmt.Errorf("token: %s and %s have the same secret", e.id.Name, name)
		}
	}
	return s.add(entry{id: Identity{Name: name, Role: role, Shared: true}, secret: []byte(secret)})
}

func (s *Set) add(e entry) error {
	if err := checkName(e.id.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if _, dup := s.byName[e.id.Name]; dup {
		return fmt.Errorf("name: %q appears twice", e.id.Name)
	}
	s.byName[e.id.Name] = len(s.entries)
	s.entries = append(s.entries, e)
	return nil
}

// Len returns the number of tokens; a nil Set has none.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// Has reports whether some token has role r.
func (s *Set) Has(r Role) bool {
	if s == nil {
		return false
	}
	for _, e := range s.entries {
		if e.id.Role == r {
			return true
		}
	}
	return false
}

// Seen reports whether Verify would answer secret from its cache
// (without bcrypt): a secret verified before, or a shortcut.
func (s *Set) Seen(secret string) bool {
	if s == nil {
		return true
	}
	sum := sha256.Sum256([]byte(secret))
	s.mu.Lock()
	_, ok := s.known[sum]
	_, bad := s.unknown[sum]
	s.mu.Unlock()
	return ok || bad
}

// Compares returns how many bcrypt comparisons the Set has run: each
// secret costs them only the first time it is presented.
func (s *Set) Compares() int64 { return s.compares.Load() }

// Verify returns the identity of the token whose secret is secret, or
// ErrUnknown. A secret seen before is answered from memory (a SHA-256
// and a map lookup); a new one is compared with the shortcuts in
// constant time and then with the bcrypt hashes — the hash of the token
// its "NAME." prefix names first, then the others — at most GOMAXPROCS
// comparisons at a time across callers, and concurrent callers with the
// same new secret share one verification. Verify blocks while it waits
// for bcrypt; ctx ends the wait (ctx's error). Safe for concurrent use.
func (s *Set) Verify(ctx context.Context, secret string) (Identity, error) {
	if s == nil || checkSecret(secret) != nil {
		return Identity{}, ErrUnknown
	}
	sum := sha256.Sum256([]byte(secret))
	for {
		s.mu.Lock()
		if id, ok := s.known[sum]; ok {
			s.mu.Unlock()
			return id, nil
		}
		if _, bad := s.unknown[sum]; bad {
			s.mu.Unlock()
			return Identity{}, ErrUnknown
		}
		wait, busy := s.inflight[sum]
		if !busy {
			s.inflight[sum] = make(chan struct{})
			s.mu.Unlock()
			break
		}
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return Identity{}, ctx.Err()
		}
	}
	id, ok, err := s.compare(ctx, secret)
	s.mu.Lock()
	switch {
	case err != nil: // not settled: the next caller tries again
	case ok:
		s.known[sum] = id
	default:
		if len(s.unknown) >= maxUnknown {
			s.unknown = map[[32]byte]struct{}{}
		}
		s.unknown[sum] = struct{}{}
	}
	close(s.inflight[sum])
	delete(s.inflight, sum)
	s.mu.Unlock()
	switch {
	case err != nil:
		return Identity{}, err
	case !ok:
		return Identity{}, ErrUnknown
	}
	return id, nil
}

// compare finds the entry secret matches.
func (s *Set) compare(ctx context.Context, secret string) (Identity, bool, error) {
	match := -1
	for i, e := range s.entries {
		if e.secret != nil && subtle.ConstantTimeCompare(e.secret, []byte(secret)) == 1 {
			match = i
		}
	}
	if match >= 0 {
		return s.entries[match].id, true, nil
	}
	order := make([]int, 0, len(s.entries))
	hint := -1
	if i := strings.LastIndexByte(secret, '.'); i > 0 {
		if j, ok := s.byName[secret[:i]]; ok && s.entries[j].hash != nil {
			hint = j
			order = append(order, j)
		}
	}
	for i, e := range s.entries {
		if e.hash != nil && i != hint {
			order = append(order, i)
		}
	}
	for _, i := range order {
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return Identity{}, false, ctx.Err()
		}
		s.compares.Add(1)
		err := bcrypt.CompareHashAndPassword(s.entries[i].hash, []byte(secret))
		<-s.sem
		if err == nil {
			return s.entries[i].id, true, nil
		}
	}
	return Identity{}, false, nil
}
