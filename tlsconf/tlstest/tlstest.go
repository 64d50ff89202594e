// Package tlstest gives tests certificate authorities and certificates
// in temporary directories, issued by tlsconf's own CA code, and Loaders
// of them. Only tests import it.
package tlstest

import (
	"path/filepath"
	"testing"
	"time"

	"ucv/tlsconf"
)

// CA is a test's certificate authority, its files in Dir.
type CA struct {
	Dir string
	t   testing.TB
	ca  *tlsconf.CA
}

// NewCA creates a CA in a new temporary directory of t.
func NewCA(t testing.TB) *CA {
	t.Helper()
	dir := t.TempDir()
	ca, err := tlsconf.NewCA("ucv test CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteFiles(dir, false); err != nil {
		t.Fatal(err)
	}
	return &CA{Dir: dir, t: t, ca: ca}
}

// File returns the path of the CA's certificate (ca.pem).
func (c *CA) File() string { return filepath.Join(c.Dir, tlsconf.CACertFile) }

// Pair names a certificate's and its key's files; the zero Pair is no
// certificate.
type Pair struct{ Cert, Key string }

// Issue signs a certificate for req (Validity defaults to an hour),
// writes it into Dir (replacing a certificate of the same name) and
// returns its files.
func (c *CA) Issue(req tlsconf.CertRequest) Pair {
	c.t.Helper()
	if req.Validity == 0 {
		req.Validity = time.Hour
	}
	cp, kp, err := c.ca.Issue(req, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	if err := tlsconf.WriteCert(c.Dir, req.Name, cp, kp, true); err != nil {
		c.t.Fatal(err)
	}
	cert, key := tlsconf.CertFiles(c.Dir, req.Name)
	return Pair{cert, key}
}

// CA returns the authority itself, to sign what Issue does not.
func (c *CA) CA() *tlsconf.CA { return c.ca }

// Server issues a server certificate (valid for 127.0.0.1 and
// localhost).
func (c *CA) Server(name string) Pair {
	c.t.Helper()
	return c.Issue(tlsconf.CertRequest{Name: name, Server: true})
}

// Client issues a client certificate.
func (c *CA) Client(name string) Pair {
	c.t.Helper()
	return c.Issue(tlsconf.CertRequest{Name: name, Client: true})
}

// Node issues a hub node's certificate (server and client).
func (c *CA) Node(name string) Pair {
	c.t.Helper()
	return c.Issue(tlsconf.CertRequest{Name: name, Server: true, Client: true})
}

// Load returns a Loader of the files (p may be the zero Pair, ca empty),
// polling them at every handshake (Poll 1 ns), so a test that replaces a
// file sees it at the next connection.
func Load(t testing.TB, p Pair, ca string) *tlsconf.Loader {
	t.Helper()
	cfg := tlsconf.DefaultConfig()
	cfg.CertFile, cfg.KeyFile, cfg.CAFile, cfg.Poll = p.Cert, p.Key, ca, time.Nanosecond
	l, err := tlsconf.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
