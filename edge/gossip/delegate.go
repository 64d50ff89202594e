package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"

	"ucv/edge/store"
	"ucv/replication"
)

// delegate is memberlist's Delegate. Its methods run on memberlist's
// goroutines and must not block: they decode, count and hand work to the
// Node's bounded queues.
type delegate struct{ n *Node }

var _ memberlist.Delegate = (*delegate)(nil)

// NodeMeta: edges publish no metadata.
func (d *delegate) NodeMeta(limit int) []byte { return nil }

// NotifyMsg handles a user message from a packet or a stream. b is only
// valid during the call: decoded values never alias it and a relayed
// message is copied.
func (d *delegate) NotifyMsg(b []byte) {
	n := d.n
	switch replication.Type(b) {
	case replication.MsgEntries:
		es, err := replication.UnmarshalEntries(replication.MsgEntries, b)
		if err != nil {
			n.stats.malformed.Add(1)
			return
		}
		if es.Origin == n.origin {
			return
		}
		fresh := make([]replication.Entry, 0, len(es.Entries))
		for _, e := range es.Entries {
			if n.seen.add(es.Origin, e.Seq) {
				fresh = append(fresh, e)
			}
		}
		if len(fresh) == 0 {
			n.stats.duplicates.Add(1)
			return
		}
		n.stats.received.Add(uint64(len(fresh)))
		if len(b) <= n.budget {
			n.queue(append([]byte(nil), b...)) // relay once
		}
		n.enqueueApply(applyWork{entries: fresh})
	case replication.MsgBucketEntries:
		es, err := replication.UnmarshalEntries(replication.MsgBucketEntries, b)
		if err != nil {
			n.stats.malformed.Add(1)
			return
		}
		n.stats.chunksReceived.Add(1)
		n.enqueueApply(applyWork{entries: es.Entries, repair: true})
	case replication.MsgPull:
		p, err := replication.UnmarshalPull(b)
		if err != nil {
			n.stats.malformed.Add(1)
			return
		}
		n.enqueueOut(outWork{kind: outServe, node: p.Node, buckets: p.Buckets})
	default:
		n.stats.malformed.Add(1)
	}
}

func (n *Node) enqueueApply(w applyWork) {
	select {
	case n.work <- w:
	default:
		n.stats.dropped.Add(uint64(len(w.entries)))
	}
}

// GetBroadcasts hands memberlist the queued broadcasts that fit.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.n.bq.GetBroadcasts(overhead, limit)
}

// LocalState is this node's digest, for push/pull.
func (d *delegate) LocalState(join bool) []byte {
	n := d.n
	dg := n.st.Digest()
	b, err := replication.MarshalDigest(&replication.Digest{Node: n.name, Buckets: dg[:], Hash: store.DigestHash})
	if err != nil {
		return nil
	}
	return b
}

// MergeRemoteState compares a peer's digest with ours and, when buckets
// differ, asks that peer for them (at most once per MinPullInterval).
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	n := d.n
	if len(buf) == 0 {
		return
	}
	g, err := replication.UnmarshalDigest(buf)
	if err != nil || len(g.Buckets) != store.DigestBuckets {
		n.stats.malformed.Add(1)
		return
	}
	if g.Node == n.name {
		return
	}
	if g.Hash != store.DigestHash {
		// A peer of another version hashes its digest otherwise
		// (decision 0118): every bucket would differ. Its deltas still
		// arrive; anti-entropy with it waits until both hash alike.
		n.stats.otherHash.Add(1)
		return
	}
	n.stats.rounds.Add(1)
	var remote store.Digest
	copy(remote[:], g.Buckets)
	local := n.st.Digest()
	diff := local.Diff(&remote)
	if len(diff) == 0 {
		return
	}
	n.stats.diffBuckets.Add(uint64(len(diff)))
	now := time.Now()
	n.pullMu.Lock()
	if t, ok := n.lastPull[g.Node]; ok && now.Sub(t) < n.cfg.MinPullInterval {
		n.pullMu.Unlock()
		return
	}
	n.lastPull[g.Node] = now
	n.pullMu.Unlock()
	n.enqueueOut(outWork{kind: outPull, node: g.Node, buckets: diff})
}
