package gossip

import (
	"net"

	"github.com/hashicorp/memberlist"
)

// events is memberlist's EventDelegate: it keeps a private copy of each
// member's name and address (memberlist's own *Node values change under
// its lock, so reading them later races) and which members are gone. It
// runs under memberlist's lock and must not block.
type events struct{ n *Node }

var _ memberlist.EventDelegate = (*events)(nil)

func copyNode(m *memberlist.Node) memberlist.Node {
	return memberlist.Node{Name: m.Name, Addr: append(net.IP(nil), m.Addr...), Port: m.Port}
}

func (e *events) NotifyJoin(m *memberlist.Node) {
	e.n.membersMu.Lock()
	delete(e.n.dead, m.Name)
	e.n.peers[m.Name] = copyNode(m)
	e.n.membersMu.Unlock()
}

func (e *events) NotifyLeave(m *memberlist.Node) {
	e.n.membersMu.Lock()
	e.n.dead[m.Name] = m.Address()
	delete(e.n.peers, m.Name)
	e.n.membersMu.Unlock()
}

func (e *events) NotifyUpdate(m *memberlist.Node) {
	e.n.membersMu.Lock()
	e.n.peers[m.Name] = copyNode(m)
	e.n.membersMu.Unlock()
}
