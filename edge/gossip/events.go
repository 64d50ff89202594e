package gossip

import "github.com/hashicorp/memberlist"

// events is memberlist's EventDelegate: it tracks which members are gone,
// for the members_dead gauge. It must not block.
type events struct{ n *Node }

var _ memberlist.EventDelegate = (*events)(nil)

func (e *events) NotifyJoin(m *memberlist.Node) {
	e.n.membersMu.Lock()
	delete(e.n.dead, m.Name)
	e.n.membersMu.Unlock()
}

func (e *events) NotifyLeave(m *memberlist.Node) {
	e.n.membersMu.Lock()
	e.n.dead[m.Name] = m.Address()
	e.n.membersMu.Unlock()
}

func (e *events) NotifyUpdate(*memberlist.Node) {}
