package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ucv/hub/api"
	"ucv/hub/hubtest"
	"ucv/replication"
)

// These tests talk to the hub over raw loopback sockets, pacing the
// client as a slow or hostile peer would. The server's timeouts are
// shrunk to fractions of a second; the client's own read deadline
// (guard) only turns a hang into a failure.
const guard = 30 * time.Second

// shortTimeouts shrinks the server's timeouts to d (the header timeout
// too, so a stuck test fails fast either way).
func shortTimeouts(d time.Duration) func(*api.Config) {
	return func(c *api.Config) {
		c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout = d, d, d, d
	}
}

func dial(t *testing.T, url string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetReadDeadline(time.Now().Add(guard)); err != nil {
		t.Fatal(err)
	}
	return c
}

// trickle writes b to c in pieces of n bytes, one per tick, until b is
// out, a write fails or stop is closed. It returns when it is done.
func trickle(c net.Conn, b []byte, n int, tick time.Duration, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for len(b) > 0 {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			k := min(n, len(b))
			if _, err := c.Write(b[:k]); err != nil {
				return
			}
			b = b[k:]
		}
	}()
	return done
}

// readClosed reads c to the end and reports whether the server closed it
// (EOF or reset) rather than the guard expiring.
func readClosed(t *testing.T, r io.Reader) {
	t.Helper()
	_, err := io.Copy(io.Discard, r)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server held the connection open for %s", guard)
	}
}

// A client that sends its headers and then its body one byte at a time
// is cut once the body deadline passes: 408 naming the body, then the
// connection closes. Before, only ReadHeaderTimeout was set and the
// connection was held for as long as the client kept trickling.
func TestSlowLorisBodyIsCut(t *testing.T) {
	_, url := newHub(t, shortTimeouts(300*time.Millisecond))
	c := dial(t, url)
	head := "POST /v1/sync/push HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/msgpack\r\nContent-Length: 100000\r\n\r\n"
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := trickle(c, bytes.Repeat([]byte{0}, 100000), 1, 20*time.Millisecond, stop)
	defer func() { close(stop); <-done }()

	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a trickled body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if code, msg := errCode(t, b); resp.StatusCode != http.StatusRequestTimeout || code != "request_timeout" || !strings.Contains(msg, "body") {
		t.Fatalf("trickled body = %d %s, want 408 request_timeout naming the body", resp.StatusCode, b)
	}
	readClosed(t, br)
}

// Headers trickled byte by byte are cut at ReadHeaderTimeout.
func TestSlowLorisHeadersAreCut(t *testing.T) {
	_, url := newHub(t, shortTimeouts(300*time.Millisecond))
	c := dial(t, url)
	stop := make(chan struct{})
	done := trickle(c, []byte("GET /healthz HTTP/1.1\r\nHost: hub\r\n"+strings.Repeat("X-Pad: 1\r\n", 1000)), 1, 20*time.Millisecond, stop)
	defer func() { close(stop); <-done }()
	readClosed(t, c)
}

// A keep-alive connection left idle is closed after IdleTimeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	_, url := newHub(t, shortTimeouts(300*time.Millisecond))
	c := dial(t, url)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz = %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	readClosed(t, br)
}

// A push whose body keeps a steady pace above MinBodyBytesPerSec goes
// through although it takes several ReadTimeouts to arrive (a big
// batch over a slow shop uplink).
func TestSteadyBodyOutlivesReadTimeout(t *testing.T) {
	n, url := newHub(t, shortTimeouts(300*time.Millisecond), func(c *api.Config) { c.MinBodyBytesPerSec = 1000 })
	e := hubtest.NewEdge("store-1", 1)
	var es []replication.Entry
	for i := range 40 {
		es = append(es, e.Delta(hubtest.Event{Profile: fmt.Sprintf("p%02d", i), Traits: map[string]any{"note": strings.Repeat("x", 40)}}))
	}
	body := push(t, "e1", es...)
	// 100 bytes per 20 ms: 5 kB/s, five times the minimum rate; the body
	// takes len(body)/5 kB/s, at least three times ReadTimeout.
	if len(body) < 4500 {
		t.Fatalf("body of %d bytes arrives too fast to outlive ReadTimeout", len(body))
	}
	c := dial(t, url)
	head := fmt.Sprintf("POST /v1/sync/push HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer %s\r\nContent-Type: application/msgpack\r\nContent-Length: %d\r\n\r\n", token, len(body))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	<-trickle(c, body, 100, 20*time.Millisecond, nil)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || ack(t, b).Seq != 40 {
		t.Fatalf("steady push = %d %q, want 200 acknowledging 40 entries", resp.StatusCode, b)
	}
	if got := n.FSM().EdgeSeq("e1"); got != 40 {
		t.Fatalf("EdgeSeq = %d, want 40", got)
	}
}

// A long-poll waits longer than the read and write timeouts and still
// answers: the feed extends its own deadlines by its wait.
func TestLongPollOutlivesTimeouts(t *testing.T) {
	_, url := newHub(t, shortTimeouts(200*time.Millisecond))
	resp, b := do(t, "GET", url+"/v1/sync/feed?cursor=0&wait=1s", token, nil)
	page, err := replication.UnmarshalFeedResponse(b)
	if resp.StatusCode != 200 || err != nil || len(page.Items) != 0 {
		t.Fatalf("long-poll of 1 s with 200 ms timeouts = %d %+v %v, want 200 and an empty page", resp.StatusCode, page, err)
	}
}

// smallBuffers makes every accepted connection's send buffer small, so a
// client that reads slowly holds the server's writes back at once.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// snapshotHub runs a hub with 300 clusters of ~800 bytes each and short
// timeouts behind a listener with small send buffers.
func snapshotHub(t *testing.T, logs io.Writer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nd := serveNode(t, smallBuffers{ln}, new(hubtest.Network), "h0", true, shortTimeouts(400*time.Millisecond), func(c *api.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	waitFor(t, "h0 leads", nd.hub.IsLeader)
	e := hubtest.NewEdge("store-1", 1)
	var es []replication.Entry
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		// Incompressible notes: profile states are compressed.
		note := make([]byte, 500)
		for j := range note {
			note[j] = byte('a' + rng.IntN(26))
		}
		es = append(es, e.Delta(hubtest.Event{Profile: fmt.Sprintf("p%03d", i), Traits: map[string]any{"note": string(note)}}))
	}
	if resp, b := do(t, "POST", nd.url+"/v1/sync/push", token, push(t, "e1", es...)); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	return nd.url
}

// snapshotRequest sends GET /v1/sync/snapshot on a connection with a
// small receive buffer.
func snapshotRequest(t *testing.T, url string) net.Conn {
	t.Helper()
	// The receive buffer is set before connecting, so the window the
	// client offers is small from the first byte.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	c, err := d.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetReadDeadline(time.Now().Add(guard)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /v1/sync/snapshot HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer "+token+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// pacedReader reads at most n bytes per tick and counts them.
type pacedReader struct {
	r     io.Reader
	n     int
	tick  *time.Ticker
	total int
}

func (p *pacedReader) Read(b []byte) (int, error) {
	<-p.tick.C
	n, err := p.r.Read(b[:min(len(b), p.n)])
	p.total += n
	return n, err
}

// A snapshot stream that keeps moving runs as long as it needs: the
// reader here takes more than a second for ~240 kB, several WriteTimeouts,
// and gets every cluster and the end record: every 16 kB gets its own
// write deadline.
func TestSnapshotStreamOutlivesWriteTimeout(t *testing.T) {
	url := snapshotHub(t, io.Discard)
	c := snapshotRequest(t, url)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	// 1 kB per 5 ms: 200 kB/s, 16 kB (one WriteTimeout's worth) in 80 ms.
	pr := &pacedReader{r: c, n: 1 << 10, tick: tick}
	resp, err := http.ReadResponse(bufio.NewReader(pr), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("snapshot = %d", resp.StatusCode)
	}
	start := time.Now()
	sr, err := replication.NewSnapshotReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for {
		page, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("stream cut after %d clusters and %s: %v", got, time.Since(start), err)
		}
		got += len(page)
	}
	if got != 300 {
		t.Fatalf("snapshot held %d clusters, want 300", got)
	}
	// At 200 kB/s the stream must take at least twice WriteTimeout
	// (400 ms) for the test to mean anything.
	if pr.total < 160<<10 {
		t.Fatalf("the stream was only %d bytes: too short to outlive WriteTimeout", pr.total)
	}
}

// A reader that stops reading is cut once 16 kB cannot be written within
// WriteTimeout; the stream ends without its end record.
func TestSnapshotStalledReaderIsCut(t *testing.T) {
	var logs syncBuffer
	url := snapshotHub(t, &logs)
	c := snapshotRequest(t, url)
	waitFor(t, "the server to cut the stalled stream", func() bool { return strings.Contains(logs.String(), "snapshot stream cut") })
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sr, err := replication.NewSnapshotReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err := sr.Next()
		if err == io.EOF {
			t.Fatal("a stalled stream ended with its end record")
		}
		if err != nil {
			return // cut short, as the edge will see it
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
