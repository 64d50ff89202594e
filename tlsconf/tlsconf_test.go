package tlsconf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ucv/metric"
	"ucv/tlsconf"
	"ucv/tlsconf/tlstest"
)

func TestCAFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := tlsconf.NewCA("ucv CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteFiles(dir, false); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{tlsconf.CACertFile: 0o644, tlsconf.CAKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("CA dir mode = %v, want 0700", fi.Mode().Perm())
	}
	if err := ca.WriteFiles(dir, false); !errors.Is(err, tlsconf.ErrExists) {
		t.Errorf("WriteFiles over existing files = %v, want ErrExists", err)
	}
	got, err := tlsconf.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(ca.Cert) || !got.Cert.IsCA {
		t.Errorf("LoadCA = %v, want the CA written", got.Cert.Subject)
	}

	// A key that is not the certificate's is refused.
	other, err := tlsconf.NewCA("other", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	odir := t.TempDir()
	if err := other.WriteFiles(odir, false); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(odir, tlsconf.CAKeyFile))
	if err := os.WriteFile(filepath.Join(dir, tlsconf.CAKeyFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsconf.LoadCA(dir); !errors.Is(err, tlsconf.ErrInvalid) {
		t.Errorf("LoadCA with another CA's key = %v, want ErrInvalid", err)
	}
}

func parseCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssueKinds(t *testing.T) {
	ca := tlstest.NewCA(t)
	tests := []struct {
		name string
		req  tlsconf.CertRequest
		eku  []x509.ExtKeyUsage
		dns  []string
		ips  int
	}{
		{"server", tlsconf.CertRequest{Name: "edge-1", Server: true, IPs: []net.IP{net.ParseIP("10.0.0.5")}, DNSNames: []string{"edge-1.shop.example"}},
			[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []string{"localhost", "edge-1", "edge-1.shop.example"}, 3},
		{"client", tlsconf.CertRequest{Name: "till_3", Client: true}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, 0},
		{"node", tlsconf.CertRequest{Name: "hub-1", Server: true, Client: true},
			[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, []string{"localhost", "hub-1"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ca.Issue(tc.req)
			cert, key := p.Cert, p.Key
			c := parseCert(t, cert)
			if c.Subject.CommonName != tc.req.Name {
				t.Errorf("CN = %q, want %q", c.Subject.CommonName, tc.req.Name)
			}
			if !slices.Equal(c.ExtKeyUsage, tc.eku) {
				t.Errorf("ExtKeyUsage = %v, want %v", c.ExtKeyUsage, tc.eku)
			}
			if !slices.Equal(c.DNSNames, tc.dns) || len(c.IPAddresses) != tc.ips {
				t.Errorf("SANs = %v %v, want %v and %d IPs", c.DNSNames, c.IPAddresses, tc.dns, tc.ips)
			}
			if got := tlsconf.IsNode(c); got != (tc.name == "node") {
				t.Errorf("IsNode = %v", got)
			}
			if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
				t.Errorf("key mode = %v, want 0600", fi.Mode().Perm())
			}
			if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
				t.Errorf("the pair does not load: %v", err)
			}
		})
	}

	caCert := parseCert(t, ca.File())
	long := parseCert(t, ca.Issue(tlsconf.CertRequest{Name: "long", Client: true, Validity: 100 * time.Hour}).Cert)
	if long.NotAfter.After(caCert.NotAfter) {
		t.Errorf("certificate ends %v, after its CA (%v)", long.NotAfter, caCert.NotAfter)
	}

	loaded, err := tlsconf.LoadCA(ca.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []tlsconf.CertRequest{
		{Name: "", Client: true, Validity: time.Hour},
		{Name: "../etc/passwd", Client: true, Validity: time.Hour},
		{Name: "a b", Client: true, Validity: time.Hour},
		{Name: "x", Validity: time.Hour},
		{Name: "x", Client: true, IPs: []net.IP{net.IPv4(10, 0, 0, 1)}, Validity: time.Hour},
		{Name: "x", Server: true, DNSNames: []string{"bad_name"}, Validity: time.Hour},
	} {
		if _, _, err := loaded.Issue(bad, time.Now()); !errors.Is(err, tlsconf.ErrInvalid) {
			t.Errorf("Issue(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

// serve accepts connections on ln until the test ends; each handshakes
// and, when it succeeds, answers "ok" and the name of the client's
// certificate (PeerOf) and closes.
func serve(t *testing.T, ln net.Listener) {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var cs *tls.ConnectionState
				switch tc := c.(type) {
				case *tls.Conn:
					if tc.Handshake() != nil {
						return
					}
					s := tc.ConnectionState()
					cs = &s
				default: // a Server conn: handshakes at the first write
				}
				name := "-"
				if p, ok := tlsconf.PeerOf(cs); ok {
					name = p.Name
				}
				_, _ = io.WriteString(c, "ok "+name)
			}()
		}
	}()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// ask dials addr with l and returns what the server answered; a refused
// handshake is an error (with TLS 1.3 a client learns the server refused
// its certificate at its first read).
func ask(l *tlsconf.Loader, addr string) (string, error) {
	c, err := l.Dial(context.Background(), "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err == nil && len(b) == 0 {
		err = io.ErrUnexpectedEOF
	}
	return string(b), err
}

// TestHandshakes: each server mode admits whom it should and refuses
// the rest at the handshake — no certificate, another CA's, an edge's
// where a node's is required, no TLS at all, TLS below 1.2.
func TestHandshakes(t *testing.T) {
	ca, evil := tlstest.NewCA(t), tlstest.NewCA(t)
	srv := tlstest.Load(t, ca.Node("hub-1"), ca.File())
	clients := map[string]*tlsconf.Loader{
		"edge":   tlstest.Load(t, ca.Client("till-3"), ca.File()),
		"node":   tlstest.Load(t, ca.Node("hub-2"), ca.File()),
		"anon":   tlstest.Load(t, tlstest.Pair{}, ca.File()),
		"forged": tlstest.Load(t, evil.Client("till-3"), ca.File()),
		"web":    tlstest.Load(t, ca.Server("edge-1"), ca.File()), // serverAuth only
	}
	for _, tc := range []struct {
		auth tlsconf.ClientAuth
		want map[string]string // client → answer; "" = refused
	}{
		{tlsconf.NoClientCert, map[string]string{"anon": "ok -", "edge": "ok -", "forged": "ok -"}},
		{tlsconf.VerifyClientCertIfGiven, map[string]string{"anon": "ok -", "edge": "ok till-3", "node": "ok hub-2", "forged": "", "web": ""}},
		{tlsconf.RequireClientCert, map[string]string{"anon": "", "edge": "ok till-3", "node": "ok hub-2", "forged": "", "web": ""}},
		{tlsconf.RequireNodeCert, map[string]string{"anon": "", "edge": "", "node": "ok hub-2", "forged": "", "web": ""}},
	} {
		t.Run(tc.auth.String(), func(t *testing.T) {
			ln, err := srv.Listener(listen(t), tc.auth)
			if err != nil {
				t.Fatal(err)
			}
			serve(t, ln)
			for who, want := range tc.want {
				got, err := ask(clients[who], ln.Addr().String())
				if want == "" && err == nil {
					t.Errorf("client %s: answered %q, want refused", who, got)
				}
				if want != "" && got != want {
					t.Errorf("client %s: answered %q (%v), want %q", who, got, err, want)
				}
			}
		})
	}

	// A Server conn (Raft's stream): plain TCP is refused and counted.
	raw := listen(t)
	t.Cleanup(func() { raw.Close() })
	refused := make(chan error, 1)
	go func() {
		c, err := raw.Accept()
		if err != nil {
			refused <- err
			return
		}
		defer c.Close()
		sc, err := srv.Server(c, tlsconf.RequireNodeCert)
		if err != nil {
			refused <- err
			return
		}
		_, err = sc.Read(make([]byte, 1))
		refused <- err
	}()
	pc, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_, _ = pc.Write([]byte("\x00\x01plain raft rpc\n"))
	if err := <-refused; !errors.Is(err, tlsconf.ErrHandshake) {
		t.Errorf("plain TCP to a Server conn: read = %v, want ErrHandshake", err)
	}
	if n := srv.Stats().Refused; n != 1 {
		t.Errorf("Stats().Refused = %d, want 1", n)
	}

	// TLS 1.1 and below are refused; 1.2 is served.
	ln, err := srv.Listener(listen(t), tlsconf.NoClientCert)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(readFile(t, ca.File()))
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("a TLS 1.1 client completed a handshake")
	}
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12}); err != nil {
		t.Errorf("a TLS 1.2 client: %v", err)
	} else {
		c.Close()
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serveCert runs a server of l on 127.0.0.1 and returns its address.
func serveCert(t *testing.T, l *tlsconf.Loader) string {
	t.Helper()
	ln, err := l.Listener(listen(t), tlsconf.NoClientCert)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln)
	return ln.Addr().String()
}

// TestDialVerifiesServer: Dial refuses a server of another CA and one
// whose certificate does not name the host dialled; DialNode refuses a
// server that is no hub node.
func TestDialVerifiesServer(t *testing.T) {
	ca, evil := tlstest.NewCA(t), tlstest.NewCA(t)
	cl := tlstest.Load(t, ca.Node("hub-2"), ca.File())
	good := serveCert(t, tlstest.Load(t, ca.Node("hub-1"), ""))
	if got, err := ask(cl, good); got != "ok -" {
		t.Errorf("Dial to a node of the CA = %q, %v", got, err)
	}
	if c, err := cl.DialNode(context.Background(), "tcp", good); err != nil {
		t.Errorf("DialNode to a node of the CA: %v", err)
	} else {
		c.Close()
	}

	// A certificate of the right CA for another host only.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "elsewhere"},
		DNSNames: []string{"elsewhere.example"}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.CA().Cert, &key.PublicKey, ca.CA().Key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := tlsconf.WriteCert(ca.Dir, "elsewhere", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), false); err != nil {
		t.Fatal(err)
	}
	cert, kf := tlsconf.CertFiles(ca.Dir, "elsewhere")

	for what, addr := range map[string]string{
		"another CA's node":              serveCert(t, tlstest.Load(t, evil.Node("hub-1"), "")),
		"a certificate for another host": serveCert(t, tlstest.Load(t, tlstest.Pair{Cert: cert, Key: kf}, "")),
	} {
		if c, err := cl.Dial(context.Background(), "tcp", addr); !errors.Is(err, tlsconf.ErrHandshake) {
			if err == nil {
				c.Close()
			}
			t.Errorf("Dial to %s = %v, want ErrHandshake", what, err)
		}
	}
	web := serveCert(t, tlstest.Load(t, ca.Server("edge-1"), ""))
	if _, err := cl.DialNode(context.Background(), "tcp", web); !errors.Is(err, tlsconf.ErrHandshake) {
		t.Errorf("DialNode to a server-only certificate = %v, want ErrHandshake", err)
	}
	if got, err := ask(cl, web); got != "ok -" {
		t.Errorf("Dial to a server certificate = %q, %v", got, err)
	}
	if n := cl.Stats().Refused; n != 3 {
		t.Errorf("Stats().Refused = %d, want 3", n)
	}
}

// serial dials addr with cl and returns the serial number of the
// server's certificate.
func serial(t *testing.T, cl *tlsconf.Loader, addr string) string {
	t.Helper()
	c, err := cl.Dial(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

// TestRotation: a certificate replaced on disk is served from the next
// handshake on, by the same listener; a broken replacement is refused
// and the working certificate stays; Reload reports why.
func TestRotation(t *testing.T) {
	ca := tlstest.NewCA(t)
	p := ca.Node("hub-1")
	srv := tlstest.Load(t, p, ca.File())
	cl := tlstest.Load(t, tlstest.Pair{}, ca.File())
	addr := serveCert(t, srv)
	first := serial(t, cl, addr)
	ca.Node("hub-1") // rotated: the same files, a new certificate and key
	second := serial(t, cl, addr)
	if second == first {
		t.Fatalf("after rotation the server still presents %s", first)
	}
	if s := srv.Stats(); s.Reloads != 1 || s.ReloadErrors != 0 {
		t.Errorf("Stats = %+v, want 1 reload", s)
	}

	// A key of another certificate: refused, the rotated pair stays.
	other := ca.Node("hub-9")
	if err := os.WriteFile(p.Key, readFile(t, other.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := serial(t, cl, addr); got != second {
		t.Errorf("after a broken rotation the server presents %s, want %s", got, second)
	}
	if s := srv.Stats(); s.ReloadErrors != 1 {
		t.Errorf("Stats = %+v, want 1 reload error", s)
	}
	if err := srv.Reload(); err == nil {
		t.Error("Reload of a mismatched pair succeeded")
	}
	if got := serial(t, cl, addr); got != second {
		t.Errorf("after a failed Reload the server presents %s, want %s", got, second)
	}
}

// TestReloadWithoutPoll: with Poll 0 only Reload (SIGHUP) reads the files.
func TestReloadWithoutPoll(t *testing.T) {
	ca := tlstest.NewCA(t)
	p := ca.Server("edge-1")
	cfg := tlsconf.DefaultConfig()
	cfg.CertFile, cfg.KeyFile, cfg.Poll = p.Cert, p.Key, 0
	srv, err := tlsconf.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl := tlstest.Load(t, tlstest.Pair{}, ca.File())
	addr := serveCert(t, srv)
	first := serial(t, cl, addr)
	ca.Server("edge-1")
	if got := serial(t, cl, addr); got != first {
		t.Fatalf("without Poll the new certificate was served before Reload")
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serial(t, cl, addr); got == first {
		t.Error("Reload did not put the new certificate in use")
	}
}

// TestCARotation: a client whose CA file gains the new CA trusts servers
// of both, through the same HTTP transport.
func TestCARotation(t *testing.T) {
	oldCA, newCA := tlstest.NewCA(t), tlstest.NewCA(t)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, readFile(t, oldCA.File()), 0o644); err != nil {
		t.Fatal(err)
	}
	cl := tlstest.Load(t, tlstest.Pair{}, bundle)
	client := &http.Client{Transport: cl.Transport()}
	get := func(l *tlsconf.Loader) error {
		ln, err := l.Listener(listen(t), tlsconf.NoClientCert)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ErrorLog: log.New(io.Discard, "", 0)}
		go srv.Serve(ln)
		defer srv.Close()
		resp, err := client.Get("https://" + ln.Addr().String() + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	oldSrv, newSrv := tlstest.Load(t, oldCA.Server("hub"), ""), tlstest.Load(t, newCA.Server("hub"), "")
	if err := get(oldSrv); err != nil {
		t.Fatalf("old CA's server: %v", err)
	}
	if err := get(newSrv); err == nil {
		t.Fatal("a server of a CA not trusted yet was accepted")
	}
	if err := os.WriteFile(bundle+".new", append(readFile(t, oldCA.File()), readFile(t, newCA.File())...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bundle+".new", bundle); err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]*tlsconf.Loader{"old": oldSrv, "new": newSrv} {
		if err := get(l); err != nil {
			t.Errorf("%s CA's server after the bundle grew: %v", name, err)
		}
	}
}

// TestNewRefuses: files New must not start with.
func TestNewRefuses(t *testing.T) {
	ca := tlstest.NewCA(t)
	cp, kp, err := ca.CA().Issue(tlsconf.CertRequest{Name: "old", Server: true, Validity: time.Minute}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := tlsconf.WriteCert(ca.Dir, "old", cp, kp, false); err != nil {
		t.Fatal(err)
	}
	oc, ok := tlsconf.CertFiles(ca.Dir, "old")
	web := ca.Server("web")
	for what, cfg := range map[string]tlsconf.Config{
		"an expired certificate":        {CertFile: oc, KeyFile: ok},
		"a server certificate as node":  {CertFile: web.Cert, KeyFile: web.Key, Node: true},
		"a missing CA file":             {CAFile: filepath.Join(ca.Dir, "nope.pem")},
		"a key file as CA":              {CAFile: web.Key},
		"a certificate without its key": {CertFile: web.Cert},
	} {
		c := tlsconf.DefaultConfig()
		c.CertFile, c.KeyFile, c.CAFile, c.Node = cfg.CertFile, cfg.KeyFile, cfg.CAFile, cfg.Node
		if _, err := tlsconf.New(c); err == nil {
			t.Errorf("New with %s succeeded", what)
		}
	}
	// Serving needs a certificate; asking for client certificates a CA.
	if _, err := tlstest.Load(t, tlstest.Pair{}, ca.File()).ServerConfig(tlsconf.NoClientCert); err == nil {
		t.Error("ServerConfig without a certificate succeeded")
	}
	if _, err := tlstest.Load(t, web, "").ServerConfig(tlsconf.RequireClientCert); err == nil {
		t.Error("ServerConfig(RequireClientCert) without a CA succeeded")
	}
}

// TestExpiryMetric: ucv_tls_cert_expiry_seconds gives the seconds left of
// the certificate and of the earliest CA, labelled by their names.
func TestExpiryMetric(t *testing.T) {
	ca := tlstest.NewCA(t)
	p := ca.Issue(tlsconf.CertRequest{Name: "hub-1", Server: true, Client: true, Validity: 30 * time.Minute})
	now := time.Now()
	cfg := tlsconf.DefaultConfig()
	cfg.CertFile, cfg.KeyFile, cfg.CAFile = p.Cert, p.Key, ca.File()
	cfg.CertName, cfg.CAName = "tls-cert", "tls-client-ca"
	cfg.Now = func() time.Time { return now }
	l, err := tlsconf.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := metric.NewRegistry()
	reg.Register(tlsconf.Collector(l))
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := l.Stats()
	for _, want := range []string{
		fmt.Sprintf("ucv_tls_cert_expiry_seconds{cert=%q} %g", "tls-cert", s.CertNotAfter.Sub(now).Seconds()),
		fmt.Sprintf("ucv_tls_cert_expiry_seconds{cert=%q} %g", "tls-client-ca", s.CANotAfter.Sub(now).Seconds()),
		`ucv_tls_reloads_total{cert="tls-cert",result="error"} 0`,
		`ucv_tls_handshakes_refused_total{cert="tls-cert"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if left := s.CertNotAfter.Sub(now); left <= 29*time.Minute || left > 30*time.Minute {
		t.Errorf("certificate has %v left, want about 30m", left)
	}
}
