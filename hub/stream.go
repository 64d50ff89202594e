package hub

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"ucv/tlsconf"
)

// tlsStream is a raft.StreamLayer over mutual TLS: every connection, in
// and out, is a TLS 1.2+ session between two hub node certificates
// (serverAuth and clientAuth) signed by the Loader's CA. An accepted
// connection handshakes at its first read, within the Loader's
// HandshakeTimeout, so a peer that stalls holds no one up; a plain TCP
// peer, one without a certificate or with another CA's or an edge's is
// refused there (Raft's transport closes the connection) and counted in
// ucv_tls_handshakes_refused_total.
type tlsStream struct {
	ln        net.Listener
	advertise net.Addr
	tls       *tlsconf.Loader
}

var _ raft.StreamLayer = (*tlsStream)(nil)

// newTLSStream listens on bind; advertise (nil: the bound address) is the
// address the other nodes dial, which must be a concrete IP.
func newTLSStream(bind string, advertise net.Addr, l *tlsconf.Loader) (*tlsStream, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	s := &tlsStream{ln: ln, advertise: advertise, tls: l}
	a, ok := s.Addr().(*net.TCPAddr)
	if !ok || a.IP == nil || a.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft address %s cannot be advertised: bind a concrete IP", s.Addr())
	}
	return s, nil
}

// Accept returns the next connection; its TLS handshake runs at its
// first read.
func (s *tlsStream) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	tc, err := s.tls.Server(c, tlsconf.RequireNodeCert)
	if err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// Dial connects to the node at address and completes the handshake
// within timeout: the server must present a hub node certificate of the
// CA naming that address.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.tls.DialNode(ctx, "tcp", string(address))
}

// Close stops listening.
func (s *tlsStream) Close() error { return s.ln.Close() }

// Addr is the advertised address.
func (s *tlsStream) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.ln.Addr()
}
