package hub_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
	"ucv/tlsconf"
	"ucv/tlsconf/tlstest"
)

// tlsNode starts a hub node with Raft over mutual TLS on 127.0.0.1 with
// the certificate p, trusting the CA file ca.
func tlsNode(t *testing.T, id string, bootstrap bool, p tlstest.Pair, ca string) (*hub.Server, *tlsconf.Loader) {
	t.Helper()
	cfg := hub.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.RaftAddr, cfg.Bootstrap = id, t.TempDir(), "127.0.0.1:0", bootstrap
	cfg.Raft = hubtest.RaftConfig()
	cfg.RaftTLS = tlstest.Load(t, p, ca)
	s, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, cfg.RaftTLS
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 20 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRaftOverMutualTLS: two nodes with certificates of the cluster's CA
// replicate over TLS; a node with a certificate of another CA, though
// added as a voter, never receives an entry and never votes (every
// connection between it and the others is refused at the handshake);
// a plain Raft transport is refused too.
func TestRaftOverMutualTLS(t *testing.T) {
	ca, evil := tlstest.NewCA(t), tlstest.NewCA(t)
	a, aTLS := tlsNode(t, "hub-1", true, ca.Node("hub-1"), ca.File())
	waitUntil(t, "leader", a.IsLeader)
	b, _ := tlsNode(t, "hub-2", false, ca.Node("hub-2"), ca.File())
	ctx := context.Background()
	if err := a.AddVoter(ctx, "hub-2", b.RaftAddr()); err != nil {
		t.Fatal(err)
	}
	e := hubtest.NewEdge("store-1", 1)
	push := func() uint64 {
		t.Helper()
		ev := hubtest.Event{Profile: fmt.Sprintf("p%d", e.Seq()+1), IDs: []profile.Identifier{hubtest.Anon(fmt.Sprintf("a%d", e.Seq()+1))}}
		res, err := a.Sync(ctx, &hub.SyncBatch{Edge: "e1", Entries: []replication.Entry{e.Delta(ev)}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Index
	}
	idx := push()
	waitUntil(t, "replication to hub-2 over TLS", func() bool { return b.FSM().Index() >= idx })

	// A plain Raft transport cannot talk to a TLS node: its vote request
	// with a huge term is refused at the handshake and counted.
	refused := aTLS.Stats().Refused
	plain, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var resp raft.RequestVoteResponse
	err = plain.RequestVote("hub-9", raft.ServerAddress(a.RaftAddr()), &raft.RequestVoteRequest{
		RPCHeader: raft.RPCHeader{ID: []byte("hub-9"), Addr: []byte(plain.LocalAddr())}, Term: 1 << 40, LastLogIndex: 1 << 40, LastLogTerm: 1 << 40}, &resp)
	if err == nil {
		t.Errorf("a plain RequestVote to a TLS node answered %+v", resp)
	}
	waitUntil(t, "hub-1 to count the plain connection refused", func() bool { return aTLS.Stats().Refused > refused })
	if p := a.Progress(); p.Role != hub.Leader {
		t.Errorf("hub-1 lost leadership to a plain-TCP vote request: %+v", p)
	}

	// The intruder trusts the cluster's CA but holds another CA's node
	// certificate: the leader refuses its server certificate when it
	// dials, and the intruder's own dials would be refused by the others'
	// listeners.
	c, _ := tlsNode(t, "hub-3", false, evil.Node("hub-3"), ca.File())
	refused = aTLS.Stats().Refused
	if err := a.AddVoter(ctx, "hub-3", c.RaftAddr()); err != nil {
		t.Fatal(err) // hub-1 and hub-2 are a quorum of three
	}
	idx = push()
	waitUntil(t, "replication to hub-2", func() bool { return b.FSM().Index() >= idx })
	waitUntil(t, "the leader to be refused by hub-3's certificate", func() bool {
		return aTLS.Stats().Refused > refused
	})
	if got := c.FSM().Index(); got != 0 {
		t.Errorf("hub-3 applied up to %d, want nothing", got)
	}
	if ms, err := c.Members(); err != nil || len(ms) != 0 {
		t.Errorf("hub-3 knows members %v (%v), want none: it never heard from the cluster", ms, err)
	}
	if id, _ := c.Leader(); id != "" {
		t.Errorf("hub-3 follows %q", id)
	}

	// Its vote requests are refused at hub-1's handshake too, and so are
	// an edge's (a client certificate of the cluster's CA is no node's).
	for who, l := range map[string]*tlsconf.Loader{
		"hub-3":  tlstest.Load(t, evil.Node("hub-3"), ca.File()),
		"till-1": tlstest.Load(t, ca.Client("till-1"), ca.File()),
	} {
		if resp, err := requestVote(t, l, a.RaftAddr()); err == nil {
			t.Errorf("%s's RequestVote was answered: %+v", who, resp)
		}
	}
	if p := a.Progress(); p.Role != hub.Leader {
		t.Errorf("hub-1 lost leadership to a refused vote request: %+v", p)
	}
}

// dialer is a raft.StreamLayer that only dials, over TLS with l.
type dialer struct {
	net.Listener
	l *tlsconf.Loader
}

func (d dialer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.l.DialNode(ctx, "tcp", string(addr))
}

// requestVote asks the node at addr for its vote in a far later term,
// over TLS with l's certificate.
func requestVote(t *testing.T, l *tlsconf.Loader, addr string) (*raft.RequestVoteResponse, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransport(dialer{ln, l}, 1, 5*time.Second, io.Discard)
	defer tr.Close()
	var resp raft.RequestVoteResponse
	err = tr.RequestVote("hub-1", raft.ServerAddress(addr), &raft.RequestVoteRequest{
		RPCHeader: raft.RPCHeader{ID: []byte("intruder"), Addr: []byte(tr.LocalAddr())},
		Term:      1 << 40, LastLogIndex: 1 << 40, LastLogTerm: 1 << 40}, &resp)
	return &resp, err
}
