package hubtest

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"ucv/hub"
)

// Network is a set of in-memory hub nodes that can all reach each other,
// for tests that drive nodes through their HTTP API and need no
// partitions (Cluster has those). The zero value is ready to use; it is
// safe for concurrent use.
type Network struct {
	mu    sync.Mutex
	trans []*raft.InmemTransport
}

// Config returns a hub.Config for a new node named id: raft's in-memory
// transport (its address is id), log, stable and snapshot stores, timers
// shrunk as in RaftConfig, and a transport connected both ways to every
// node this Network configured before. With bootstrap the node forms a
// one-node cluster; without, it waits to be added (hub.Server.AddVoter,
// or POST /v1/admin/join). The caller sets Forward and starts the node
// with hub.New.
func (n *Network) Config(id string, bootstrap bool) hub.Config {
	addr, t := raft.NewInmemTransportWithTimeout(raft.ServerAddress(id), time.Second)
	n.mu.Lock()
	for _, o := range n.trans {
		t.Connect(o.LocalAddr(), o)
		o.Connect(addr, t)
	}
	n.trans = append(n.trans, t)
	n.mu.Unlock()
	logs := raft.NewInmemStore()
	cfg := hub.DefaultConfig()
	cfg.NodeID, cfg.Bootstrap, cfg.Raft = id, bootstrap, RaftConfig()
	cfg.ApplyTimeout = 5 * time.Second
	cfg.TickInterval = TickInterval
	cfg.Transport, cfg.LogStore, cfg.StableStore, cfg.SnapshotStore = t, logs, logs, raft.NewInmemSnapshotStore()
	return cfg
}
