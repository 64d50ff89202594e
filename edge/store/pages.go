package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"syscall"
	"time"
)

// This file checks a bbolt file's structure before bbolt opens it.
//
// bbolt trusts its file. Opened with NoFreelistSync (as the store opens
// it), it rebuilds the freelist by walking every page in a goroutine of
// its own and panics on the first inconsistency; a page number past the
// end of a truncated file is read through the memory map and faults
// (SIGBUS), which no recover catches. So Open first walks the file the
// way bbolt will — meta pages, every branch and leaf page reachable from
// the root, every bucket, inline ones included — reading pages with
// pread and checking every offset, page number and key order bbolt's
// walk relies on, and turns whatever is wrong into a *FileError. A file
// that passes cannot make bbolt's open panic or read outside the file.
// It reads each reachable page once, which bbolt's own freelist rebuild
// does anyway (so the page cache is warm for it).
//
// The layout read here is bbolt v1.x's (internal/common): a page header
// of id u64, flags u16, count u16, overflow u32; a meta of magic,
// version, page size, flags u32, root bucket (root page u64, sequence
// u64), freelist page, page count, txid and an FNV-64a checksum of the
// fields before it (u64 each), in host byte order.

// bbolt format constants (go.etcd.io/bbolt/internal/common).
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	elemSize         = 16 // branch and leaf element headers alike
	bucketHeaderSize = 16
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)
	metaSumLen       = 56 // the meta fields the checksum covers
	maxPageSize      = 1 << 24
)

var ne = binary.NativeEndian

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // high-water mark: pages in use
	txid     uint64
}

// parseMeta reads the meta in page buffer b (header included).
func parseMeta(b []byte) (boltMeta, error) {
	if len(b) < pageHeaderSize+metaSumLen+8 {
		return boltMeta{}, errors.New("short")
	}
	m := b[pageHeaderSize:]
	if ne.Uint32(m) != boltMagic {
		return boltMeta{}, errors.New("not a bbolt meta page")
	}
	if ne.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, fmt.Errorf("bbolt format version %d", ne.Uint32(m[4:]))
	}
	h := fnv.New64a()
	h.Write(m[:metaSumLen])
	if h.Sum64() != ne.Uint64(m[metaSumLen:]) {
		return boltMeta{}, errors.New("checksum mismatch")
	}
	return boltMeta{pageSize: ne.Uint32(m[8:]), root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]),
		pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, nil
}

// pageWalk is one structural check of a bbolt file.
type pageWalk struct {
	f        *os.File
	size     int64
	pageSize int
	pages    uint64   // high-water mark of the meta in use
	seen     []uint64 // bitset of pages reached
	bufs     [][]byte // per depth, reused
	// metaNote says that one meta page is invalid (bbolt then uses the
	// other, losing at most the last transaction); "" if both are fine.
	metaNote string
	// onLeaf, if set, is called for every leaf page of the tree (not
	// inline pages) with the bucket path, the page's number and
	// contents; tests use it to aim damage.
	onLeaf func(bucket []byte, id uint64, page []byte)
}

// checkFile checks the structure of the bbolt file at path. A missing or
// empty file passes (bbolt creates it). It waits up to wait for a
// process holding the file locked for writing to let go, else returns
// ErrInUse: the caller must then not open the file either, or bbolt
// might get the lock a moment later and read a file nobody checked. It
// returns a *FileError for damage, another error for I/O failures.
func checkFile(path string, wait time.Duration) (*pageWalk, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: check %s: %w", path, err)
	}
	defer f.Close()
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("store: check %s: lock: %w", path, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s", ErrInUse, path)
		}
		time.Sleep(50 * time.Millisecond) // as bbolt's own flock waits
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("store: check %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return nil, nil
	}
	w := &pageWalk{f: f, size: fi.Size()}
	if err := w.run(); err != nil {
		var de damage
		if errors.As(err, &de) {
			return w, &FileError{Path: path, Reason: string(de)}
		}
		return w, fmt.Errorf("store: check %s: %w", path, err)
	}
	return w, nil
}

// damage is a structural problem found by the walk (one line).
type damage string

func (d damage) Error() string { return string(d) }

func damagef(format string, args ...any) error { return damage(fmt.Sprintf(format, args...)) }

func (w *pageWalk) run() error {
	m, err := w.meta()
	if err != nil {
		return err
	}
	w.pageSize, w.pages = int(m.pageSize), m.pgid
	if w.pages < 3 || m.root < 2 || m.root >= w.pages {
		return damagef("meta page (txid %d) names root page %d of %d pages", m.txid, m.root, w.pages)
	}
	if need := int64(w.pages) * int64(w.pageSize); w.size < need {
		return damagef("truncated: %d bytes, but its meta page counts %d pages of %d bytes (%d bytes)", w.size, w.pages, w.pageSize, need)
	}
	w.seen = make([]uint64, (w.pages+63)/64)
	w.mark(0)
	w.mark(1)
	var freed []uint64
	if m.freelist != noFreelist {
		if freed, err = w.freelist(m.freelist); err != nil {
			return err
		}
	}
	if _, err := w.tree(m.root, nil, nil, nil, 0); err != nil {
		return err
	}
	for _, id := range freed {
		if w.marked(id) {
			return damagef("page %d is both in use and on the freelist", id)
		}
	}
	return nil
}

// meta picks the meta page bbolt will use: the valid one with the
// highest txid. bbolt reads the page size from meta 0, else from the
// first valid meta 1 at 1 KiB << i.
func (w *pageWalk) meta() (boltMeta, error) {
	buf := make([]byte, 4096)
	read := func(off int64) []byte {
		n, _ := w.f.ReadAt(buf, off)
		return buf[:n]
	}
	if w.size < 2*1024 {
		return boltMeta{}, damagef("truncated: %d bytes, shorter than its two meta pages", w.size)
	}
	m0, err0 := parseMeta(read(0))
	psize := int64(0)
	if err0 == nil {
		psize = int64(m0.pageSize)
	} else {
		for i := range 15 {
			pos := int64(1024) << i
			if pos >= w.size-1024 {
				break
			}
			if m, err := parseMeta(read(pos)); err == nil {
				psize = int64(m.pageSize)
				break
			}
		}
	}
	if psize < 1024 || psize > maxPageSize || psize&(psize-1) != 0 {
		if err0 == nil {
			return boltMeta{}, damagef("meta page 0 gives page size %d", psize)
		}
		return boltMeta{}, damagef("neither meta page is valid (meta 0: %v)", err0)
	}
	var m1 boltMeta
	var err1 error
	if psize+1024 > w.size {
		err1 = errors.New("past the end of the file")
	} else {
		m1, err1 = parseMeta(read(psize))
	}
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, damagef("neither meta page is valid (meta 0: %v; meta 1: %v)", err0, err1)
	case err0 != nil:
		w.metaNote = fmt.Sprintf("meta page 0 is invalid (%v); bbolt uses meta page 1 (txid %d)", err0, m1.txid)
		return m1, w.samePageSize(m1, psize)
	case err1 != nil:
		w.metaNote = fmt.Sprintf("meta page 1 is invalid (%v); bbolt uses meta page 0 (txid %d)", err1, m0.txid)
		return m0, nil
	case m1.txid > m0.txid:
		return m1, w.samePageSize(m1, psize)
	}
	return m0, nil
}

func (w *pageWalk) samePageSize(m boltMeta, psize int64) error {
	if int64(m.pageSize) != psize {
		return damagef("meta page 1 gives page size %d, found at offset %d", m.pageSize, psize)
	}
	return nil
}

func (w *pageWalk) mark(id uint64)        { w.seen[id/64] |= 1 << (id % 64) }
func (w *pageWalk) marked(id uint64) bool { return w.seen[id/64]&(1<<(id%64)) != 0 }

// page reads page id and its overflow pages into the buffer of depth,
// checking that it is in range, reached once, and names itself.
func (w *pageWalk) page(id, from uint64, depth int) ([]byte, error) {
	if id < 2 || id >= w.pages {
		return nil, damagef("page %d (reached from page %d) is out of range: the file has %d pages", id, from, w.pages)
	}
	var hdr [pageHeaderSize]byte
	if _, err := w.f.ReadAt(hdr[:], int64(id)*int64(w.pageSize)); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	if got := ne.Uint64(hdr[:]); got != id {
		return nil, damagef("page %d (reached from page %d) is overwritten: its header names page %d", id, from, got)
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if id+overflow >= w.pages {
		return nil, damagef("page %d runs %d pages past the end of the %d in use", id, id+overflow+1-w.pages, w.pages)
	}
	for i := id; i <= id+overflow; i++ {
		if w.marked(i) {
			return nil, damagef("page %d is reached twice (again from page %d)", i, from)
		}
		w.mark(i)
	}
	n := int(overflow+1) * w.pageSize
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, nil)
	}
	if cap(w.bufs[depth]) < n {
		w.bufs[depth] = make([]byte, n)
	}
	b := w.bufs[depth][:n]
	if _, err := w.f.ReadAt(b, int64(id)*int64(w.pageSize)); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	return b, nil
}

// tree checks the b-tree rooted at page id (a bucket's root) whose keys
// must lie in [lo, hi) (nil: unbounded), and the buckets its leaves hold.
// It returns the largest key in the subtree, as bbolt's key-order check
// carries it to the next sibling.
func (w *pageWalk) tree(id uint64, lo, hi, bucket []byte, depth int) ([]byte, error) {
	return w.treeFrom(id, 0, lo, hi, bucket, depth)
}

func (w *pageWalk) treeFrom(id, from uint64, lo, hi, bucket []byte, depth int) ([]byte, error) {
	b, err := w.page(id, from, depth)
	if err != nil {
		return nil, err
	}
	flags := ne.Uint16(b[8:])
	count := int(ne.Uint16(b[10:]))
	if flags != branchPageFlag && flags != leafPageFlag {
		return nil, damagef("page %d (reached from page %d) is not a branch or leaf page (flags %#x)", id, from, flags)
	}
	if pageHeaderSize+count*elemSize > len(b) {
		return nil, damagef("page %d claims %d elements, more than fit", id, count)
	}
	if flags == branchPageFlag {
		return w.branch(id, b, count, lo, hi, bucket, depth)
	}
	if w.onLeaf != nil {
		w.onLeaf(bucket, id, b)
	}
	return w.leaf(id, b, count, lo, hi, bucket, depth, false)
}

func (w *pageWalk) branch(id uint64, b []byte, count int, lo, hi, bucket []byte, depth int) ([]byte, error) {
	if count == 0 {
		return nil, damagef("branch page %d is empty", id)
	}
	keys := make([][]byte, count)
	children := make([]uint64, count)
	for i := range count {
		off := pageHeaderSize + i*elemSize
		pos, ksize := int(ne.Uint32(b[off:])), int(ne.Uint32(b[off+4:]))
		start := off + pos
		if pos < 0 || ksize < 0 || start+ksize > len(b) || start+ksize < start {
			return nil, damagef("page %d: key %d lies outside the page", id, i)
		}
		keys[i] = append([]byte(nil), b[start:start+ksize]...)
		children[i] = ne.Uint64(b[off+8:])
	}
	runningMin := lo
	var maxKey []byte
	for i := range count {
		if err := keyOrder(id, i, keys[i], runningMin, hi); err != nil {
			return nil, err
		}
		next := hi
		if i < count-1 {
			next = keys[i+1]
		}
		var err error
		if maxKey, err = w.treeFrom(children[i], id, keys[i], next, bucket, depth+1); err != nil {
			return nil, err
		}
		runningMin = maxKey
	}
	return maxKey, nil
}

// leaf checks a leaf page's elements (b holds the page, or an inline
// bucket's page) and walks the buckets they hold.
func (w *pageWalk) leaf(id uint64, b []byte, count int, lo, hi, bucket []byte, depth int, inline bool) ([]byte, error) {
	where := fmt.Sprintf("page %d", id)
	if inline {
		where = fmt.Sprintf("inline bucket %q (in page %d)", bucket, id)
	}
	type sub struct {
		key   []byte
		value []byte
	}
	var subs []sub
	runningMin := lo
	var last []byte
	for i := range count {
		off := pageHeaderSize + i*elemSize
		flags := ne.Uint32(b[off:])
		pos, ksize, vsize := int(ne.Uint32(b[off+4:])), int(ne.Uint32(b[off+8:])), int(ne.Uint32(b[off+12:]))
		kstart := off + pos
		vstart := kstart + ksize
		end := vstart + vsize
		if pos < 0 || ksize < 0 || vsize < 0 || end > len(b) || kstart > vstart || vstart > end {
			return nil, damagef("%s: entry %d lies outside the page", where, i)
		}
		key := b[kstart:vstart]
		if err := keyOrder(id, i, key, runningMin, hi); err != nil {
			return nil, err
		}
		runningMin, last = key, key
		if flags&bucketLeafFlag != 0 {
			subs = append(subs, sub{append([]byte(nil), key...), append([]byte(nil), b[vstart:end]...)})
		}
	}
	maxKey := append([]byte(nil), last...)
	for _, s := range subs {
		if err := w.bucket(id, s.key, s.value, depth+1); err != nil {
			return nil, err
		}
	}
	return maxKey, nil
}

// bucket checks the bucket whose header is v (found in page id).
func (w *pageWalk) bucket(id uint64, name, v []byte, depth int) error {
	if len(v) < bucketHeaderSize {
		return damagef("page %d: bucket %q has a %d-byte header", id, name, len(v))
	}
	root := ne.Uint64(v)
	if root != 0 {
		_, err := w.treeFrom(root, id, nil, nil, name, depth)
		return err
	}
	p := v[bucketHeaderSize:]
	if len(p) < pageHeaderSize {
		return damagef("page %d: inline bucket %q is cut short", id, name)
	}
	count := int(ne.Uint16(p[10:]))
	if ne.Uint16(p[8:]) != leafPageFlag || pageHeaderSize+count*elemSize > len(p) {
		return damagef("page %d: inline bucket %q is not a leaf page", id, name)
	}
	_, err := w.leaf(id, p, count, nil, nil, name, depth, true)
	return err
}

// keyOrder is bbolt's key-order rule: keys ascend strictly within a page,
// the first is not below the key its parent names, and all lie below
// the parent's next key.
func keyOrder(id uint64, i int, key, prev, hi []byte) error {
	if prev != nil {
		c := bytes.Compare(prev, key)
		if (i == 0 && c > 0) || (i > 0 && c >= 0) {
			return damagef("page %d: keys out of order at entry %d", id, i)
		}
	}
	if hi != nil && bytes.Compare(key, hi) >= 0 {
		return damagef("page %d: entry %d lies beyond its parent's range", id, i)
	}
	return nil
}

// freelist checks a synced freelist page and returns the pages it frees.
func (w *pageWalk) freelist(id uint64) ([]uint64, error) {
	b, err := w.page(id, 0, 0)
	if err != nil {
		return nil, err
	}
	if ne.Uint16(b[8:]) != freelistPageFlag {
		return nil, damagef("freelist page %d is not a freelist page", id)
	}
	idx, count := 0, uint64(ne.Uint16(b[10:]))
	if count == 0xFFFF {
		idx, count = 1, ne.Uint64(b[pageHeaderSize:])
	}
	if count > uint64(len(b)) || pageHeaderSize+(uint64(idx)+count)*8 > uint64(len(b)) {
		return nil, damagef("freelist page %d claims %d pages, more than fit", id, count)
	}
	ids := make([]uint64, count)
	for i := range ids {
		ids[i] = ne.Uint64(b[pageHeaderSize+(idx+i)*8:])
		if ids[i] < 2 || ids[i] >= w.pages {
			return nil, damagef("freelist page %d frees page %d, out of range", id, ids[i])
		}
	}
	return ids, nil
}
