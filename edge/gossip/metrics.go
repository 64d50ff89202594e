package gossip

import (
	"sync/atomic"

	"ucv/metric"
)

// counters are the Node's monotonic counts.
type counters struct {
	sent, sentBytes, received, duplicates, applied, rejected, dropped, skipped atomic.Uint64
	malformed, foreign, suspicions                                             atomic.Uint64
	rounds, diffBuckets, pulls, chunksSent, chunksReceived, repaired           atomic.Uint64
	otherHash                                                                  atomic.Uint64
}

// Stats is a snapshot of the Node's counters and gauges.
type Stats struct {
	QueueDepth     int    // broadcasts waiting in the transmit queue
	Sent           uint64 // local changes published
	SentBytes      uint64 // bytes of gossip messages built (deltas and chunks), before retransmits
	Received       uint64 // changes received for the first time
	Duplicates     uint64 // messages holding only changes already seen
	Applied        uint64 // live changes merged into the store
	Rejected       uint64 // changes the store refused (clock drift, undecodable)
	Dropped        uint64 // work dropped because a queue was full or the store failed
	Skipped        uint64 // outbox entries left to anti-entropy (backlog beyond MaxBacklog)
	Malformed      uint64 // messages that did not decode
	Foreign        uint64 // packets memberlist could not decrypt (wrong key)
	Rounds         uint64 // digests compared (anti-entropy rounds)
	OtherHash      uint64 // peers' digests not compared: hashed otherwise (another version)
	DiffBuckets    uint64 // differing buckets found
	Pulls          uint64 // pull requests sent
	ChunksSent     uint64 // anti-entropy chunks served
	ChunksReceived uint64
	Repaired       uint64 // entries merged from anti-entropy chunks
	// Alive counts members not known dead (memberlist's NumMembers: alive
	// or suspect, this node included); Suspicions counts the times
	// memberlist suspected a member; Dead counts members that left or died
	// and have not come back.
	Alive, Dead int
	Suspicions  uint64
}

// Stats returns the current counters and member counts.
func (n *Node) Stats() Stats {
	s := &n.stats
	st := Stats{
		QueueDepth: n.bq.NumQueued(),
		Sent:       s.sent.Load(), SentBytes: s.sentBytes.Load(), Received: s.received.Load(),
		Duplicates: s.duplicates.Load(), Applied: s.applied.Load(), Rejected: s.rejected.Load(),
		Dropped: s.dropped.Load(), Skipped: s.skipped.Load(), Malformed: s.malformed.Load(),
		Foreign: s.foreign.Load(), Rounds: s.rounds.Load(), DiffBuckets: s.diffBuckets.Load(),
		Pulls: s.pulls.Load(), ChunksSent: s.chunksSent.Load(), ChunksReceived: s.chunksReceived.Load(),
		Repaired: s.repaired.Load(), Suspicions: s.suspicions.Load(), OtherHash: s.otherHash.Load(),
	}
	st.Alive = n.ml.NumMembers()
	n.membersMu.Lock()
	st.Dead = len(n.dead)
	n.membersMu.Unlock()
	return st
}

// Collector returns a collector of the Node's metrics, for the edge's
// /metrics registry.
func (n *Node) Collector() metric.Collector { return collector{n} }

type collector struct{ n *Node }

func desc(name, help string, labels ...string) *metric.Desc {
	return metric.NewDesc("ucv_gossip_"+name, help, labels...)
}

var (
	descQueue    = desc("queue_depth", "Broadcasts waiting in the gossip transmit queue.")
	descDeltas   = desc("deltas_total", "Deltas by direction: sent (published), received (first time), applied, dropped, rejected, duplicate.", "what")
	descBytes    = desc("sent_bytes_total", "Bytes of gossip messages built before retransmits.")
	descBad      = desc("bad_packets_total", "Gossip packets dropped: malformed (did not decode) or foreign (could not be decrypted).", "why")
	descRounds   = desc("antientropy_rounds_total", "Digests compared with a peer.")
	descOther    = desc("antientropy_other_hash_total", "Peers' digests not compared because they hash otherwise (a peer of another version).")
	descRepaired = desc("antientropy_repaired_total", "Profiles and redirects merged from anti-entropy chunks.")
	descPulls    = desc("antientropy_pulls_total", "Bucket pulls sent to peers.")
	descMembers  = desc("members", "Members by state: alive (alive or suspect, this node included), dead (left or failed, not back).", "state")
	descSuspect  = desc("suspicions_total", "Times memberlist suspected a member of failure.")
)

func (c collector) Describe(describe func(*metric.Desc)) {
	for _, d := range []*metric.Desc{descQueue, descDeltas, descBytes, descBad, descRounds, descOther, descRepaired, descPulls, descMembers, descSuspect} {
		describe(d)
	}
}

func (c collector) Collect(e *metric.Emitter) {
	s := c.n.Stats()
	g := func(d *metric.Desc, v float64, l ...string) { e.Gauge(d, v, l...) }
	k := func(d *metric.Desc, v uint64, l ...string) { e.Counter(d, float64(v), l...) }
	g(descQueue, float64(s.QueueDepth))
	k(descDeltas, s.Sent, "sent")
	k(descDeltas, s.Received, "received")
	k(descDeltas, s.Applied, "applied")
	k(descDeltas, s.Dropped, "dropped")
	k(descDeltas, s.Rejected, "rejected")
	k(descDeltas, s.Duplicates, "duplicate")
	k(descBytes, s.SentBytes)
	k(descBad, s.Malformed, "malformed")
	k(descBad, s.Foreign, "foreign")
	k(descRounds, s.Rounds)
	k(descOther, s.OtherHash)
	k(descRepaired, s.Repaired)
	k(descPulls, s.Pulls)
	g(descMembers, float64(s.Alive), "alive")
	k(descSuspect, s.Suspicions)
	g(descMembers, float64(s.Dead), "dead")
}
