// Package arena keeps immutable byte strings outside the Go heap, in a
// memory-mapped scratch file: the collector never scans or counts them,
// and the kernel pages them in and out like any file's pages, so a
// process can hold more of them than it has memory for
// (docs/decisions/0066-hub-fragments-off-the-heap.md).
//
// The file is a cache, never a record: Open unlinks it at once, so it
// disappears with the process, and its contents are whatever the owner
// copied in since Open. What reaches the disk is ciphertext: each arena
// encrypts its copies (AES-256-CTR) under a random key that exists only
// in the process's memory, so written-back pages and freed disk blocks
// hold nothing readable once the process is gone — the hub's files keep
// the promise of crypto-shredding (docs/decisions/0040-privacy.md). A
// copy is therefore read through Plain, never directly.
//
// The file is divided into chunks of a fixed size, each mapped on its
// own; Copy appends to the current chunk. A copy stays valid until the
// owner releases it (Release) and every reader pinned before then (Pin)
// has let go: only then is its chunk unmapped, and only once every copy
// in it is released. Copies are read-only: writing through one corrupts
// its neighbours.
//
// An owner that replaces copies keeps garbage in partly-used chunks; it
// compacts by passes: BeginPass picks the chunks that are mostly
// garbage, the owner walks everything it holds and replaces each copy
// that Evacuating reports with Move's (releasing the old one), and
// EndPass frees the picked chunks — which by then hold nothing live.
//
// A nil *Arena is valid and keeps nothing off the heap: Copy returns its
// argument, the rest do nothing.
package arena

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"unsafe"
)

// ErrUnsupported is Open's error where memory-mapped files are not
// available (non-Unix builds): the caller keeps its bytes on the heap.
var ErrUnsupported = errors.New("arena: memory-mapped files are not supported on this platform")

// DefaultChunk is the chunk size Open uses for 0: 8 MiB, so evacuating
// one moves at most a few tens of thousands of small copies.
const DefaultChunk = 8 << 20

// minChunk bounds the chunk size below (tests use small chunks).
const minChunk = 4096

// Arena is a scratch file of mapped chunks. Safe for concurrent use.
type Arena struct {
	mu    sync.Mutex
	f     *os.File
	size  int      // chunk size
	slots int      // file slots ever used (the file is slots × size long)
	free  []int    // file slots of unmapped chunks, for reuse
	live  []*chunk // mapped chunks, sorted by base address
	cur   *chunk   // the chunk Copy appends to; nil before the first
	// Pins by generation: a chunk emptied in generation g is unmapped
	// once no pin of generation ≤ g is held.
	gen     uint64
	pins    map[uint64]int
	pending []*chunk // emptied, waiting for older pins
	// evac is the set of chunks the pass in progress empties (nil when
	// none is).
	evac  map[*chunk]bool
	stats Stats
	// block encrypts the copies; its key is in no file. ids numbers the
	// chunks mapped, so (chunk id, offset) never repeats as a CTR nonce.
	block cipher.Block
	ids   uint64
}

type chunk struct {
	mem   []byte
	id    uint64
	block cipher.Block
	slot  int
	used  int // bytes handed out
	dead  int // bytes released
	// sealed: no longer the current chunk, so nothing more is appended.
	sealed bool
	gen    uint64 // generation it was emptied in (pending only)
}

func (c *chunk) base() uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(c.mem))) }

// Stats are an arena's counters.
type Stats struct {
	Chunks   int   // mapped chunks
	Mapped   int64 // bytes mapped (Chunks × the chunk size)
	Live     int64 // bytes of copies not released
	Garbage  int64 // released bytes still mapped
	Pending  int   // emptied chunks waiting for pinned readers
	Unmapped int64 // chunks unmapped since Open
	Passes   int64 // compaction passes ended
	Moved    int64 // bytes moved out of the chunks of passes (Move)
	Heap     int64 // copies too large for a chunk, made on the heap
}

// Open creates an arena in a new file in dir with chunks of chunkSize
// bytes (DefaultChunk for 0; at least 4 KiB and a multiple of the page
// size) and unlinks the file: it lives until Close or the process ends.
func Open(dir string, chunkSize int) (*Arena, error) {
	if !supported {
		return nil, ErrUnsupported
	}
	if chunkSize == 0 {
		chunkSize = DefaultChunk
	}
	if chunkSize < minChunk || chunkSize%os.Getpagesize() != 0 {
		return nil, fmt.Errorf("arena: chunk size %d: want a multiple of the page size, at least %d", chunkSize, minChunk)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("arena: key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("arena: key: %w", err)
	}
	f, err := os.CreateTemp(dir, "arena-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("arena: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("arena: unlink scratch file: %w", err)
	}
	return &Arena{f: f, size: chunkSize, pins: map[uint64]int{}, block: block}, nil
}

// Close unmaps every chunk and closes the file. Every copy becomes
// invalid: the caller must hold none.
func (a *Arena) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, c := range append(a.live, a.pending...) {
		unregister(c)
		errs = append(errs, unmap(c.mem))
	}
	a.live, a.pending, a.cur, a.evac = nil, nil, nil, nil
	errs = append(errs, a.f.Close())
	return errors.Join(errs...)
}

// Copy returns a copy of b that stays valid until released (Release)
// and no reader pinned before that holds on: in the arena when b takes
// at most an eighth of a chunk, else on the heap. Read it with Plain. A
// nil arena returns b itself, which the caller must then own.
func (a *Arena) Copy(b []byte) []byte {
	if a == nil || len(b) == 0 {
		return b
	}
	if len(b) > a.size/8 {
		a.mu.Lock()
		a.stats.Heap++
		a.mu.Unlock()
		return slices.Clone(b)
	}
	a.mu.Lock()
	c := a.cur
	if c == nil || c.used+len(b) > len(c.mem) {
		var err error
		if c, err = a.grow(); err != nil {
			// No room on disk or no address space: the heap still works.
			a.stats.Heap++
			a.mu.Unlock()
			return slices.Clone(b)
		}
	}
	at := c.used
	c.used += len(b)
	a.stats.Live += int64(len(b))
	a.mu.Unlock()
	// The bytes reserved are this caller's alone, and the chunk cannot
	// be unmapped while they are unreleased: copy outside the lock.
	dst := c.mem[at : at+len(b) : at+len(b)]
	c.stream(at).XORKeyStream(dst, b)
	return dst
}

// stream is the key stream of the copy at offset off of c: the CTR
// nonce is the chunk's id and the offset, and a copy of n bytes uses
// the n/16 counters after it, fewer than the n offsets to the next copy.
func (c *chunk) stream(off int) cipher.Stream {
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[:8], c.id)
	binary.BigEndian.PutUint64(iv[8:], uint64(off))
	return cipher.NewCTR(c.block, iv[:])
}

// registry holds the mapped chunks of every arena by address, so Plain
// needs only the copy.
var registry struct {
	sync.RWMutex
	chunks []*chunk // sorted by base address
}

func byBase(x *chunk, p uintptr) int {
	switch {
	case x.base() < p:
		return -1
	case x.base() > p:
		return 1
	}
	return 0
}

// containing returns the chunk of cs (sorted by base) that holds the
// first byte of b, nil when none does.
func containing(cs []*chunk, b []byte) *chunk {
	if len(b) == 0 {
		return nil
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	i, found := slices.BinarySearchFunc(cs, p, byBase)
	if !found {
		i-- // the chunk starting below p, if any
	}
	if i < 0 || i >= len(cs) {
		return nil
	}
	c := cs[i]
	if p < c.base() || p >= c.base()+uintptr(len(c.mem)) {
		return nil
	}
	return c
}

func register(c *chunk) {
	registry.Lock()
	defer registry.Unlock()
	i, _ := slices.BinarySearchFunc(registry.chunks, c.base(), byBase)
	registry.chunks = slices.Insert(registry.chunks, i, c)
}

func unregister(c *chunk) {
	registry.Lock()
	defer registry.Unlock()
	if i := slices.Index(registry.chunks, c); i >= 0 {
		registry.chunks = slices.Delete(registry.chunks, i, i+1)
	}
}

// Plain returns the bytes a copy holds: a fresh decryption of a copy in
// an arena, b itself for anything else (a heap copy, a nil arena's). b
// must be valid (not released, or pinned).
func Plain(b []byte) []byte {
	registry.RLock()
	defer registry.RUnlock()
	c := containing(registry.chunks, b)
	if c == nil {
		return b
	}
	out := make([]byte, len(b))
	c.stream(int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))-c.base())).XORKeyStream(out, b)
	return out
}

// AppendPlain appends the bytes a copy holds to dst and returns the
// extended slice: Plain without a new allocation per copy, for a caller
// that reads many in turn into one buffer (a snapshot writing every
// fragment). b must be valid (not released, or pinned).
func AppendPlain(dst, b []byte) []byte {
	registry.RLock()
	defer registry.RUnlock()
	n := len(dst)
	dst = slices.Grow(dst, len(b))[:n+len(b)]
	c := containing(registry.chunks, b)
	if c == nil {
		copy(dst[n:], b)
		return dst
	}
	c.stream(int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))-c.base())).XORKeyStream(dst[n:], b)
	return dst
}

// grow seals the current chunk and maps a new one. Caller holds a.mu.
func (a *Arena) grow() (*chunk, error) {
	slot := -1
	if n := len(a.free); n > 0 {
		slot, a.free = a.free[n-1], a.free[:n-1]
	} else {
		if err := reserve(a.f, int64(a.slots)*int64(a.size), a.size); err != nil {
			return nil, err
		}
		slot = a.slots
		a.slots++
	}
	mem, err := mmap(a.f, int64(slot)*int64(a.size), a.size)
	if err != nil {
		a.free = append(a.free, slot)
		return nil, err
	}
	a.ids++
	c := &chunk{mem: mem, id: a.ids, block: a.block, slot: slot}
	a.seal()
	a.cur = c
	i, _ := slices.BinarySearchFunc(a.live, c.base(), byBase)
	a.live = slices.Insert(a.live, i, c)
	register(c)
	a.stats.Chunks++
	a.stats.Mapped += int64(a.size)
	return c, nil
}

// seal retires the current chunk: Copy starts a new one. Caller holds
// a.mu.
func (a *Arena) seal() {
	if c := a.cur; c != nil {
		c.sealed = true
		a.cur = nil
		a.emptied(c)
	}
}

// find returns the mapped chunk holding b, nil when b is not in the
// arena (a heap copy). Caller holds a.mu.
func (a *Arena) find(b []byte) *chunk { return containing(a.live, b) }

// Release reports that b, a result of Copy, is no longer referenced by
// the arena's owner. Readers pinned before the call may still read it.
// Releasing a heap copy, a nil arena's or an empty one does nothing;
// releasing a copy twice corrupts the accounting.
func (a *Arena) Release(b []byte) {
	if a == nil || len(b) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.find(b)
	if c == nil {
		return
	}
	c.dead += len(b)
	a.stats.Live -= int64(len(b))
	a.stats.Garbage += int64(len(b))
	a.emptied(c)
}

// emptied unmaps c, or queues it for the readers pinned before now, when
// it is sealed and everything in it is released. Caller holds a.mu.
func (a *Arena) emptied(c *chunk) {
	if !c.sealed || c.dead != c.used {
		return
	}
	i := slices.Index(a.live, c)
	a.live = slices.Delete(a.live, i, i+1)
	delete(a.evac, c)
	c.gen = a.gen
	a.gen++ // pins taken from now on cannot see c
	a.pending = append(a.pending, c)
	a.stats.Pending++
	a.reap()
}

// reap unmaps the pending chunks no pinned reader may still read.
// Caller holds a.mu.
func (a *Arena) reap() {
	oldest := a.gen
	for g := range a.pins {
		oldest = min(oldest, g)
	}
	a.pending = slices.DeleteFunc(a.pending, func(c *chunk) bool {
		if c.gen < oldest {
			unregister(c)
			_ = unmap(c.mem) // unmapping a mapping of ours does not fail
			a.free = append(a.free, c.slot)
			a.stats.Chunks--
			a.stats.Mapped -= int64(a.size)
			a.stats.Garbage -= int64(c.dead)
			a.stats.Pending--
			a.stats.Unmapped++
			return true
		}
		return false
	})
}

// Pin registers a reader that may read copies released from now until it
// calls unpin (once; later calls do nothing): a snapshot being written,
// a copy of the owner's state read without its lock.
func (a *Arena) Pin() (unpin func()) {
	if a == nil {
		return func() {}
	}
	a.mu.Lock()
	g := a.gen
	a.pins[g]++
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.pins[g]--; a.pins[g] == 0 {
				delete(a.pins, g)
			}
			a.reap()
		})
	}
}

// ShouldCompact reports whether a pass would free enough to be worth
// one: at least four chunks' worth of garbage, a quarter of what is
// mapped, in chunks at least half garbage.
func (a *Arena) ShouldCompact() bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	g, _ := a.picks()
	return a.evac == nil && g >= 4*int64(a.size) && 4*g >= a.stats.Mapped
}

// picks returns the sealed chunks at least half garbage and the garbage
// they hold. Caller holds a.mu.
func (a *Arena) picks() (garbage int64, cs []*chunk) {
	for _, c := range a.live {
		if c.sealed && 2*c.dead >= c.used {
			garbage += int64(c.dead)
			cs = append(cs, c)
		}
	}
	return garbage, cs
}

// BeginPass starts a compaction pass: it seals the current chunk and
// picks the sealed chunks at least half garbage, whose live copies
// Evacuating then reports. It returns false, starting nothing, when a
// pass is already in progress or no chunk qualifies.
func (a *Arena) BeginPass() bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.evac != nil {
		return false
	}
	a.seal()
	_, cs := a.picks()
	if len(cs) == 0 {
		return false
	}
	a.evac = map[*chunk]bool{}
	for _, c := range cs {
		a.evac[c] = true
	}
	return true
}

// Evacuating reports whether b lies in a chunk the pass in progress is
// emptying: the owner should replace it with Copy(b) and Release(b).
func (a *Arena) Evacuating(b []byte) bool {
	if a == nil || len(b) == 0 {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.evac == nil {
		return false
	}
	c := a.find(b)
	return c != nil && a.evac[c]
}

// Move returns a fresh copy of b — a copy Evacuating reported — outside
// the chunks the pass empties, for the owner to hold instead of b (and
// release b). It counts in Stats.Moved.
func (a *Arena) Move(b []byte) []byte {
	c := a.Copy(Plain(b))
	a.mu.Lock()
	a.stats.Moved += int64(len(c))
	a.mu.Unlock()
	return c
}

// EndPass ends the pass in progress once the owner has replaced every
// copy Evacuating reported. It returns how many of the pass's chunks
// still hold unreleased bytes: 0 unless the owner missed a copy (those
// chunks stay mapped, and a later pass picks them again).
func (a *Arena) EndPass() int {
	if a == nil {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	left := len(a.evac) // emptied chunks left the set
	a.evac = nil
	a.stats.Passes++
	return left
}

// Stats returns the arena's counters.
func (a *Arena) Stats() Stats {
	if a == nil {
		return Stats{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}
