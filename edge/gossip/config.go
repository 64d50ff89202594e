package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a Node. Build it with DefaultConfig, then override.
type Config struct {
	// Memberlist is memberlist's own configuration (name, bind and
	// advertise address, timers, Transport). New sets its Delegate,
	// Events, Keyring and Logger; everything else is the caller's, so
	// tests shrink the timers and swap the Transport. Its Name must be
	// unique among the site's edges; PushPullInterval is the anti-entropy
	// period.
	Memberlist *memberlist.Config
	// SecretKey is the primary AES key (16, 24 or 32 bytes) that encrypts
	// and authenticates all gossip. Required unless Dev.
	SecretKey []byte
	// ExtraKeys are further keys accepted for decryption (key rotation:
	// install the new key everywhere, make it primary, then remove the
	// old one).
	ExtraKeys [][]byte
	// Dev allows running without a key (plaintext gossip).
	Dev bool
	// QueueLen bounds the received work (batches of entries) waiting to
	// be applied; when full, new work is dropped and counted.
	QueueLen int
	// MaxApplyEntries caps the entries passed to one ApplyRemote call.
	MaxApplyEntries int
	// MaxBroadcastQueue caps the broadcasts waiting in the transmit
	// queue; older ones beyond it are pruned (counted as dropped).
	MaxBroadcastQueue int
	// ChunkBytes is the budget of one anti-entropy chunk sent over the
	// reliable stream.
	ChunkBytes int
	// MinPullInterval is the least time between two pulls from the same
	// peer, so a pull in flight is not repeated at every push/pull.
	MinPullInterval time.Duration
	// MaxBacklog: when the outbox holds more than this many entries past
	// the gossip cursor (an edge that was down for long, or a first start
	// on old data), the cursor skips to the end and anti-entropy carries
	// the backlog instead of a flood of rumours.
	MaxBacklog uint64
	// CursorInterval is the least time between two saves of the gossip
	// cursor (the outbox position published) while entries flow: each
	// save is a write transaction of the store, which makes its applier
	// commit (decision 0097). A crash forgets at most that much
	// progress, republished on restart. 0 saves after every pass.
	CursorInterval time.Duration
	// SeenEntries is how many (origin, sequence) pairs are remembered to
	// relay each change once.
	SeenEntries int
	// Join are addresses (HOST:PORT) the node retries every
	// ReconnectInterval while it is alone (started before its peers, or
	// cut off).
	Join []string
	// ReconnectInterval is how often the node re-joins one member it saw
	// leave or die, so two halves of a healed partition find each other
	// again (memberlist alone never probes a dead member).
	ReconnectInterval time.Duration
	// Logger receives errors at the loops' boundaries and memberlist's
	// own log lines. Nil discards.
	Logger *slog.Logger
}

// Cursor is the name of the gossip loop's persisted outbox cursor.
const Cursor = "gossip"

// DefaultConfig returns a Config around memberlist's LAN defaults, with
// gossip every 50 ms instead of 200 ms, a 5 s anti-entropy period, and 6
// transmissions per ⌈log10(N+1)⌉ of each delta (memberlist's default is
// 4).
//
// Why 50 ms: a delta crosses the store in a few gossip hops, so the
// interval sets the latency; at 200 ms a 50-edge store saw p99 of
// 1–2 s. memberlist sends nothing on a tick with nothing queued, so an
// idle store pays nothing for it.
//
// Why 6: every delta is relayed once by each receiver, so a node hears it
// about limit times, limit = RetransmitMult·⌈log10(N+1)⌉, and misses it
// with probability ≈ e^-limit, to be repaired only by the next
// anti-entropy round. At N = 50 and 4 that is e^-8: one node in about
// 3,000 misses a delta, and a run of 40 deltas to 50 edges saw its p99
// jump from under 1 s to 56 s (bench/README.md). At 6 it is e^-12, one in
// ~160,000, for 50 % more gossip bytes per delta.
func DefaultConfig() Config {
	ml := memberlist.DefaultLANConfig()
	ml.GossipInterval = 50 * time.Millisecond
	ml.PushPullInterval = 5 * time.Second
	ml.RetransmitMult = 6
	// Profile states travel S2-compressed already; memberlist's LZW on top
	// of them only burns CPU (a third of a catch-up's profile).
	ml.EnableCompression = false
	return Config{
		Memberlist:        ml,
		QueueLen:          1024,
		MaxApplyEntries:   4096,
		MaxBroadcastQueue: 100_000,
		ChunkBytes:        256 << 10,
		MinPullInterval:   2 * time.Second,
		MaxBacklog:        10_000,
		CursorInterval:    time.Second,
		SeenEntries:       1 << 16,
		ReconnectInterval: 10 * time.Second,
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.Memberlist == nil:
		return errors.New("gossip: Memberlist config is nil")
	case c.Memberlist.Name == "":
		return errors.New("gossip: node name is empty")
	case len(c.SecretKey) == 0 && !c.Dev:
		return errors.New("gossip: a secret key is required outside dev mode")
	case c.QueueLen <= 0, c.MaxApplyEntries <= 0, c.MaxBroadcastQueue <= 0, c.SeenEntries <= 0:
		return errors.New("gossip: queue lengths must be positive")
	case c.CursorInterval < 0:
		return errors.New("gossip: CursorInterval is negative")
	case c.ReconnectInterval <= 0:
		return errors.New("gossip: ReconnectInterval must be positive")
	case c.ChunkBytes < 1024:
		return fmt.Errorf("gossip: ChunkBytes %d below 1024", c.ChunkBytes)
	case c.Memberlist.UDPBufferSize < 512:
		return fmt.Errorf("gossip: UDPBufferSize %d below 512", c.Memberlist.UDPBufferSize)
	}
	for _, k := range append([][]byte{c.SecretKey}, c.ExtraKeys...) {
		if len(k) == 0 && c.Dev {
			continue
		}
		if l := len(k); l != 16 && l != 24 && l != 32 {
			return fmt.Errorf("gossip: a key of %d bytes; want 16, 24 or 32", l)
		}
	}
	return nil
}
