package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Loader. Start from DefaultConfig.
type Config struct {
	// CertFile and KeyFile are this side's certificate (PEM, the leaf
	// first, then any intermediates) and private key. Required to serve;
	// a client without them presents no certificate.
	CertFile, KeyFile string
	// CAFile holds the PEM certificates of the CAs this side trusts
	// (several during a CA rotation): a server verifies client
	// certificates against them, a client the servers it dials. Empty: a
	// server cannot ask for client certificates, and a client trusts the
	// system's roots.
	CAFile string
	// CertName and CAName are what logs and the metrics
	// (ucv_tls_cert_expiry_seconds{cert=…}) call the two files; cmd
	// passes the flags that named them ("tls-cert", "hub-ca", …).
	CertName, CAName string
	// Node requires the certificate to be a hub node's: both serverAuth
	// and clientAuth, as `ucv tls cert create --server --client` issues.
	// A file without them is refused at New and at every reload.
	Node bool
	// NotNode refuses a hub node's certificate instead: an edge given one
	// (for its API or its hub link) would hold a key the hub's Raft port
	// accepts, so edges take --server or --client certificates only.
	NotNode bool
	// Poll is how often, at most, the files' modification times are
	// checked; the check runs inside a handshake or a metrics scrape, so
	// no goroutine is needed and a Loader has nothing to close. 0
	// disables it: the files are read again only by Reload.
	Poll time.Duration
	// HandshakeTimeout bounds a handshake made by Dial, DialNode and the
	// connections of Server.
	HandshakeTimeout time.Duration
	// Logger receives reloads and refused handshakes; nil discards them.
	Logger *slog.Logger
	// Now is the clock of the expiry checks and metrics.
	Now func() time.Time
}

// DefaultConfig returns the defaults: files polled every 2 s, handshakes
// bounded by 10 s.
func DefaultConfig() Config {
	return Config{
		CertName:         "cert",
		CAName:           "ca",
		Poll:             2 * time.Second,
		HandshakeTimeout: 10 * time.Second,
		Now:              time.Now,
	}
}

// Validate reports the first unusable setting.
func (c *Config) Validate() error {
	switch {
	case (c.CertFile == "") != (c.KeyFile == ""):
		return fmt.Errorf("%w: config: a certificate file needs its key file and a key file its certificate", ErrInvalid)
	case c.CertFile == "" && c.CAFile == "":
		return fmt.Errorf("%w: config: neither a certificate nor a CA file", ErrInvalid)
	case c.Node && c.CertFile == "":
		return fmt.Errorf("%w: config: Node needs a certificate", ErrInvalid)
	case c.Node && c.NotNode:
		return fmt.Errorf("%w: config: Node and NotNode exclude each other", ErrInvalid)
	case c.Poll < 0 || c.HandshakeTimeout <= 0:
		return fmt.Errorf("%w: config: Poll must not be negative and HandshakeTimeout must be positive", ErrInvalid)
	case c.Now == nil:
		return fmt.Errorf("%w: config: Now is required", ErrInvalid)
	}
	return nil
}

// ClientAuth is what a server asks of its clients.
type ClientAuth uint8

const (
	// NoClientCert asks for no client certificate.
	NoClientCert ClientAuth = iota
	// VerifyClientCertIfGiven asks for one: a certificate presented must
	// chain to the CA (or the handshake fails), none is allowed and the
	// application decides (the hub's routes do, with PeerOf).
	VerifyClientCertIfGiven
	// RequireClientCert fails the handshake without a certificate that
	// chains to the CA.
	RequireClientCert
	// RequireNodeCert is RequireClientCert for a hub node's certificate
	// (serverAuth and clientAuth) only.
	RequireNodeCert
	numClientAuth
)

func (a ClientAuth) String() string {
	if a >= numClientAuth {
		return fmt.Sprintf("ClientAuth(%d)", uint8(a))
	}
	return [...]string{"none", "verify-if-given", "require", "require-node"}[a]
}

// Loader holds a certificate, its key and the trusted CAs, read from
// files and read again when they change, and builds every TLS
// configuration from them. It is safe for concurrent use.
type Loader struct {
	cfg Config
	log *slog.Logger
	cur atomic.Pointer[material]

	// mu serializes loads; lastPoll (Unix ns) spaces the polls;
	// tried are the stamps of the last load attempted by a poll, so a
	// broken file is reported once, not at every poll.
	mu       sync.Mutex
	lastPoll atomic.Int64
	tried    [3]stamp

	// sessions caches client sessions for resumption.
	sessions tls.ClientSessionCache

	reloads, reloadErrors, refused atomic.Uint64
}

// material is one loaded generation of the files.
type material struct {
	cert     *tls.Certificate // nil without CertFile
	pool     *x509.CertPool   // nil without CAFile
	caExpiry time.Time        // the earliest end of the CAs in CAFile
	stamps   [3]stamp         // of CertFile, KeyFile, CAFile
	server   [numClientAuth]*tls.Config
}

// stamp identifies a version of a file: its identity (a rename puts a
// new file in place), size and modification time.
type stamp struct {
	info fs.FileInfo
}

func (s stamp) same(o stamp) bool {
	switch {
	case s.info == nil || o.info == nil:
		return s.info == nil && o.info == nil
	default:
		return os.SameFile(s.info, o.info) && s.info.Size() == o.info.Size() && s.info.ModTime().Equal(o.info.ModTime())
	}
}

// New reads the files of cfg and returns a Loader serving them; a file
// that is missing, unreadable, expired or of the wrong kind is an error.
func New(cfg Config) (*Loader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Loader{cfg: cfg, log: cfg.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	m, err := l.load()
	if err != nil {
		return nil, err
	}
	l.cur.Store(m)
	l.lastPoll.Store(time.Now().UnixNano())
	l.sessions = tls.NewLRUClientSessionCache(0)
	return l, nil
}

// Reload reads the files again now. On an error the material in use
// stays (and the error says why the new files were refused).
func (l *Loader) Reload() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reload(l.stamps())
}

// reload loads the files, stamped st, and puts them in use; l.mu is held.
func (l *Loader) reload(st [3]stamp) error {
	l.tried = st
	m, err := l.load()
	if err != nil {
		l.reloadErrors.Add(1)
		l.log.Warn("tls files refused; the ones loaded before stay in use", "cert", l.name(), "err", err)
		return err
	}
	old := l.cur.Swap(m)
	l.reloads.Add(1)
	attrs := []any{"cert", l.name()}
	if m.cert != nil {
		attrs = append(attrs, "serial", m.cert.Leaf.SerialNumber.Text(16), "not_after", m.cert.Leaf.NotAfter.UTC(),
			"new_certificate", old.cert == nil || !old.cert.Leaf.Equal(m.cert.Leaf))
	}
	l.log.Info("tls files reloaded", attrs...)
	return nil
}

// poll reloads the files when Poll has passed since the last check and
// they changed since the last load attempted. It never blocks: a poll
// already under way (or a Reload) makes it return at once.
func (l *Loader) poll() {
	if l.cfg.Poll <= 0 {
		return
	}
	now := time.Now().UnixNano()
	last := l.lastPoll.Load()
	if now-last < int64(l.cfg.Poll) || !l.lastPoll.CompareAndSwap(last, now) {
		return
	}
	if !l.mu.TryLock() {
		return
	}
	defer l.mu.Unlock()
	st := l.stamps()
	if sameStamps(st, l.cur.Load().stamps) || sameStamps(st, l.tried) {
		return
	}
	_ = l.reload(st) // logged and counted
}

func sameStamps(a, b [3]stamp) bool {
	for i := range a {
		if !a[i].same(b[i]) {
			return false
		}
	}
	return true
}

func (l *Loader) stamps() [3]stamp {
	var st [3]stamp
	for i, p := range []string{l.cfg.CertFile, l.cfg.KeyFile, l.cfg.CAFile} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			st[i] = stamp{fi}
		}
	}
	return st
}

// load reads and checks the files (stamped before reading, so a change
// during the read is seen by the next poll).
func (l *Loader) load() (*material, error) {
	m := &material{stamps: l.stamps()}
	now := l.cfg.Now()
	if l.cfg.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(l.cfg.CertFile, l.cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: %s %s and its key %s: %w", l.cfg.CertName, l.cfg.CertFile, l.cfg.KeyFile, err)
		}
		leaf := pair.Leaf
		if leaf == nil { // populated since Go 1.23 unless x509keypairleaf=0
			if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
				return nil, fmt.Errorf("tlsconf: %s %s: %w", l.cfg.CertName, l.cfg.CertFile, err)
			}
			pair.Leaf = leaf
		}
		switch {
		case now.After(leaf.NotAfter):
			return nil, fmt.Errorf("%w: %s %s expired at %s", ErrInvalid, l.cfg.CertName, l.cfg.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
		case l.cfg.Node && !IsNode(leaf):
			return nil, fmt.Errorf("%w: %s %s is not a hub node's certificate (it needs both serverAuth and clientAuth: ucv tls cert create --server --client)", ErrInvalid, l.cfg.CertName, l.cfg.CertFile)
		case l.cfg.NotNode && IsNode(leaf):
			return nil, fmt.Errorf("%w: %s %s is a hub node's certificate (serverAuth and clientAuth), which opens the hub's Raft port: give an edge a --server or a --client certificate", ErrInvalid, l.cfg.CertName, l.cfg.CertFile)
		}
		m.cert = &pair
	}
	if l.cfg.CAFile != "" {
		b, err := os.ReadFile(l.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: %s: %w", l.cfg.CAName, err)
		}
		cas, err := parseCerts(b)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: %s %s: %w", l.cfg.CAName, l.cfg.CAFile, err)
		}
		m.pool = x509.NewCertPool()
		for _, c := range cas {
			m.pool.AddCert(c)
			if m.caExpiry.IsZero() || c.NotAfter.Before(m.caExpiry) {
				m.caExpiry = c.NotAfter
			}
		}
	}
	if m.cert != nil {
		for a := range numClientAuth {
			if a > NoClientCert && m.pool == nil {
				continue
			}
			m.server[a] = l.serverConfig(m, a)
		}
	}
	return m, nil
}

// serverConfig is the configuration a server handshake of kind a uses
// with material m.
func (l *Loader) serverConfig(m *material, a ClientAuth) *tls.Config {
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*m.cert},
		ClientCAs:    m.pool,
	}
	switch a {
	case VerifyClientCertIfGiven:
		c.ClientAuth = tls.VerifyClientCertIfGiven
	case RequireClientCert:
		c.ClientAuth = tls.RequireAndVerifyClientCert
	case RequireNodeCert:
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 || !IsNode(cs.VerifiedChains[0][0]) {
				return fmt.Errorf("%w: the client's certificate is not a hub node's", ErrHandshake)
			}
			return nil
		}
	}
	return c
}

// ServerConfig returns a server configuration asking a of clients; each
// handshake uses the material loaded at that moment. It fails without a
// certificate, or when a asks for client certificates without a CA.
func (l *Loader) ServerConfig(a ClientAuth) (*tls.Config, error) {
	if a >= numClientAuth {
		return nil, fmt.Errorf("%w: client auth %d", ErrInvalid, a)
	}
	m := l.cur.Load()
	if m.cert == nil {
		return nil, fmt.Errorf("%w: serving TLS needs a certificate and key", ErrInvalid)
	}
	if a > NoClientCert && m.pool == nil {
		return nil, fmt.Errorf("%w: asking for client certificates (%s) needs a CA file", ErrInvalid, a)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			l.poll()
			return l.cur.Load().server[a], nil
		},
	}, nil
}

// clientConfig returns the configuration of a handshake with the server
// at host (node: the server must be a hub node too). Verification is
// VerifyConnection's, against the CAs loaded at the handshake and bound
// to host — a client's ConnectionState names no server for an IP
// address, so the host comes from the dial —, and checks what the
// standard library would (chain, validity, serverAuth, host name);
// InsecureSkipVerify only turns off the built-in check, which is bound
// to a fixed RootCAs.
func (l *Loader) clientConfig(host string, node bool) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		InsecureSkipVerify: true, // verified in VerifyConnection, see above
		ClientSessionCache: l.sessions,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := l.cur.Load().cert; c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil // none: the server decides
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if err := l.verifyServer(cs, host, node); err != nil {
				return fmt.Errorf("%w: %w", ErrHandshake, err)
			}
			return nil
		},
	}
}

// verifyServer verifies a server's certificate chain as crypto/tls does,
// against the CAs in use (the system's without a CA file), for host.
func (l *Loader) verifyServer(cs tls.ConnectionState, host string, node bool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server presented no certificate")
	}
	if host == "" {
		return errors.New("no server name to verify")
	}
	opts := x509.VerifyOptions{
		Roots:         l.cur.Load().pool,
		DNSName:       host,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   l.cfg.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(opts); err != nil {
		return err
	}
	if node && !IsNode(leaf) {
		return fmt.Errorf("the server's certificate %q is not a hub node's", leaf.Subject.CommonName)
	}
	return nil
}

// HasCA reports whether the Loader has a CA file (it can verify client
// certificates).
func (l *Loader) HasCA() bool { return l.cur.Load().pool != nil }

// HasCert reports whether the Loader has a certificate (it can serve).
func (l *Loader) HasCert() bool { return l.cur.Load().cert != nil }

// CertName returns the common name of the certificate in use — the
// identity it gives its holder (see PeerOf) — or "" without one.
func (l *Loader) CertName() string {
	if c := l.cur.Load().cert; c != nil {
		return c.Leaf.Subject.CommonName
	}
	return ""
}

// name is the Loader's name in logs and metrics.
func (l *Loader) name() string {
	if l.cfg.CertFile != "" {
		return l.cfg.CertName
	}
	return l.cfg.CAName
}

// IsNode reports whether c is a hub node's certificate: valid both to
// serve (serverAuth) and as a client (clientAuth). A certificate that
// lists no extended key usage is not one: the Raft port admits only
// certificates issued for the purpose.
func IsNode(c *x509.Certificate) bool {
	if slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return true
	}
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) && slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
}

// Stats count what a Loader did since New.
type Stats struct {
	// Reloads counts material put in use after New; ReloadErrors files
	// refused (the old material stayed).
	Reloads, ReloadErrors uint64
	// Refused counts handshakes that failed on Server connections and
	// in Dial and DialNode (the HTTP servers' own handshakes are not
	// seen here).
	Refused uint64
	// CertNotAfter and CANotAfter are when the certificate and the
	// earliest CA in use end (zero without them).
	CertNotAfter, CANotAfter time.Time
}

// Stats returns the counts and the expiry of the material in use.
func (l *Loader) Stats() Stats {
	m := l.cur.Load()
	s := Stats{Reloads: l.reloads.Load(), ReloadErrors: l.reloadErrors.Load(), Refused: l.refused.Load(), CANotAfter: m.caExpiry}
	if m.cert != nil {
		s.CertNotAfter = m.cert.Leaf.NotAfter
	}
	return s
}
