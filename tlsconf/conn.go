package tlsconf

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// Listener returns ln serving TLS that asks a of clients. Its
// connections are *tls.Conn, which net/http recognizes (Request.TLS is
// set) and which handshake at their first read or write, under the
// server's own deadlines. It fails as ServerConfig does.
func (l *Loader) Listener(ln net.Listener, a ClientAuth) (net.Listener, error) {
	c, err := l.ServerConfig(a)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, c), nil
}

// Server returns the server side of TLS on c, asking a of the client,
// for a stream whose user sets no deadlines of its own (Raft's
// transport): the handshake runs at the first Read or Write, bounded by
// HandshakeTimeout, and a failed one — a client that speaks no TLS,
// presents no certificate, or one of another CA or the wrong kind — is
// logged, counted (Stats.Refused) and returned by every Read and Write
// as ErrHandshake. It fails as ServerConfig does.
func (l *Loader) Server(c net.Conn, a ClientAuth) (net.Conn, error) {
	cfg, err := l.ServerConfig(a)
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(c, cfg), l: l}, nil
}

type serverConn struct {
	*tls.Conn
	l    *Loader
	once sync.Once
	err  error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.l.cfg.HandshakeTimeout)
		defer cancel()
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.err = fmt.Errorf("%w: from %s: %w", ErrHandshake, c.RemoteAddr(), err)
			c.l.refused.Add(1)
			c.l.log.Warn("tls handshake refused", "cert", c.l.name(), "remote", c.RemoteAddr().String(), "err", err)
		}
	})
	return c.err
}

func (c *serverConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// Dial connects to addr (HOST:PORT) over TCP and completes a TLS
// handshake within HandshakeTimeout (and ctx): the server's certificate
// must chain to the CA (the system's roots without one) and name HOST;
// the Loader's certificate, if any, is presented when asked for. A
// refused handshake is counted (Stats.Refused) and wraps ErrHandshake.
func (l *Loader) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return l.dial(ctx, nil, network, addr, false)
}

// DialFunc makes a plain TCP connection (net.Dialer.DialContext's shape).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// DialNode is Dial to a hub node: the server's certificate must be a hub
// node's too (IsNode).
func (l *Loader) DialNode(ctx context.Context, network, addr string) (net.Conn, error) {
	return l.dial(ctx, nil, network, addr, true)
}

// dial makes the TCP connection with tcp (nil: a plain net.Dialer) and
// the handshake over it.
func (l *Loader) dial(ctx context.Context, tcp DialFunc, network, addr string, node bool) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: dial %s: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.HandshakeTimeout)
	defer cancel()
	if tcp == nil {
		tcp = (&net.Dialer{}).DialContext
	}
	raw, err := tcp(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	l.poll()
	c := tls.Client(raw, l.clientConfig(host, node))
	if err := c.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		l.refused.Add(1)
		return nil, fmt.Errorf("%w: with %s: %w", ErrHandshake, addr, err)
	}
	return c, nil
}

// Transport returns an HTTP transport (http.DefaultTransport's settings)
// whose HTTPS connections are made by Dial: the server verified and the
// certificate presented with the material in use at each handshake. It
// connects directly, never through a proxy named by the environment:
// links between ucv's nodes are point to point, and a proxy would need
// a TLS configuration of its own.
func (l *Loader) Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialTLSContext = l.Dial
	t.ForceAttemptHTTP2 = false // HTTP/1.1: Dial offers no ALPN
	return t
}

// TransportOver is Transport with the TCP connections under TLS made by
// tcp (its timeouts, keepalive and socket options), the handshake still
// bounded by HandshakeTimeout.
func (l *Loader) TransportOver(tcp DialFunc) *http.Transport {
	t := l.Transport()
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return l.dial(ctx, tcp, network, addr, false)
	}
	return t
}

// Peer is whom a verified client certificate names.
type Peer struct {
	// Name is the certificate's common name (its first DNS name when it
	// has none): an edge's, an operator's or a hub node's name.
	Name string
	// Node reports whether it is a hub node's certificate (IsNode).
	Node bool
}

// PeerOf returns whom the client certificate of a server-side connection
// names; ok is false without a certificate verified against the CA (cs
// nil — no TLS —, no certificate presented, or no name in it).
func PeerOf(cs *tls.ConnectionState) (p Peer, ok bool) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Peer{}, false
	}
	leaf := cs.VerifiedChains[0][0]
	name := leaf.Subject.CommonName
	if name == "" && len(leaf.DNSNames) > 0 {
		name = leaf.DNSNames[0]
	}
	return Peer{Name: name, Node: IsNode(leaf)}, name != ""
}
