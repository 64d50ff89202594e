package edgetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Network connects Transports in memory. Packets are delivered (or lost)
// at once; streams are net.Pipe pairs. It is safe for concurrent use.
type Network struct {
	mu     sync.Mutex
	nodes  map[string]*Transport // by address
	side   map[string]int        // partition side by address (0: default)
	drop   float64
	rng    *rand.Rand
	nextIP int

	// Packets and PacketBytes count the packets delivered; Dropped those
	// lost to the drop rate or a partition.
	Packets, PacketBytes, Dropped, Streams atomic.Uint64
}

// NewNetwork returns an empty network without loss; seed drives the
// packet drops.
func NewNetwork(seed uint64) *Network {
	return &Network{nodes: map[string]*Transport{}, side: map[string]int{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// SetDropRate makes each packet get lost with probability p (streams
// are reliable, as TCP).
func (nw *Network) SetDropRate(p float64) {
	nw.mu.Lock()
	nw.drop = p
	nw.mu.Unlock()
}

// Partition splits the network: addresses in sides[i] can reach only
// those on the same side; unlisted addresses form side 0 together.
func (nw *Network) Partition(sides ...[]string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.side = map[string]int{}
	for i, s := range sides {
		for _, a := range s {
			nw.side[a] = i + 1
		}
	}
}

// Heal removes every partition.
func (nw *Network) Heal() { nw.Partition() }

// reachable reports whether from can send to to, and the target.
func (nw *Network) reachable(from, to string, packet bool) (*Transport, bool) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	t, ok := nw.nodes[to]
	if !ok || t.closed.Load() || nw.side[from] != nw.side[to] {
		return nil, false
	}
	if packet && nw.drop > 0 && nw.rng.Float64() < nw.drop {
		return nil, false
	}
	return t, true
}

// NewTransport adds a node to the network at a fresh address.
func (nw *Network) NewTransport() *Transport {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.nextIP++
	addr := fmt.Sprintf("10.%d.%d.%d:7946", nw.nextIP>>16&255, nw.nextIP>>8&255, nw.nextIP&255)
	t := &Transport{nw: nw, addr: addr, packets: make(chan *memberlist.Packet, 1024), streams: make(chan net.Conn, 64)}
	nw.nodes[addr] = t
	return t
}

// Transport is one node's memberlist.Transport on a Network.
type Transport struct {
	nw      *Network
	addr    string
	packets chan *memberlist.Packet
	streams chan net.Conn
	closed  atomic.Bool
}

var _ memberlist.Transport = (*Transport)(nil)

// Addr returns the transport's address (HOST:PORT), which peers join.
func (t *Transport) Addr() string { return t.addr }

type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }

// FinalAdvertiseAddr returns the transport's own address.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	host, port, _ := net.SplitHostPort(t.addr)
	p, _ := strconv.Atoi(port)
	return net.ParseIP(host), p, nil
}

// WriteTo delivers a copy of b to addr, or loses it silently (as UDP
// does) when the target is gone, partitioned away, its queue is full, or
// the drop rate says so.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	now := time.Now()
	if t.closed.Load() {
		return now, errors.New("edgetest: transport shut down")
	}
	to, ok := t.nw.reachable(t.addr, addr, true)
	if !ok {
		t.nw.Dropped.Add(1)
		return now, nil
	}
	p := &memberlist.Packet{Buf: append([]byte(nil), b...), From: memAddr(t.addr), Timestamp: now}
	select {
	case to.packets <- p:
		t.nw.Packets.Add(1)
		t.nw.PacketBytes.Add(uint64(len(b)))
	default:
		t.nw.Dropped.Add(1)
	}
	return now, nil
}

// PacketCh returns the packets delivered to this node.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

type pipeConn struct {
	net.Conn
	local, remote memAddr
}

func (c *pipeConn) LocalAddr() net.Addr  { return c.local }
func (c *pipeConn) RemoteAddr() net.Addr { return c.remote }

// DialTimeout opens a stream to addr (a net.Pipe), failing when the
// target is unreachable or does not accept within timeout.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.closed.Load() {
		return nil, errors.New("edgetest: transport shut down")
	}
	to, ok := t.nw.reachable(t.addr, addr, false)
	if !ok {
		return nil, fmt.Errorf("edgetest: dial %s: unreachable", addr)
	}
	a, b := net.Pipe()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case to.streams <- &pipeConn{Conn: b, local: memAddr(addr), remote: memAddr(t.addr)}:
		t.nw.Streams.Add(1)
		return &pipeConn{Conn: a, local: memAddr(t.addr), remote: memAddr(addr)}, nil
	case <-timer.C:
		a.Close()
		b.Close()
		return nil, fmt.Errorf("edgetest: dial %s: timeout", addr)
	}
}

// StreamCh returns the streams opened to this node.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown detaches the node: it neither sends nor receives afterwards.
// The channels stay open (memberlist's listeners stop on their own
// signal), so a late sender never panics.
func (t *Transport) Shutdown() error {
	t.closed.Store(true)
	return nil
}
