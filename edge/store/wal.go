package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The write-ahead log of ingested events (decision 0050). It lives in a
// directory beside the data file (Path + ".wal") as segment files named
// by the position (LSN) of their first record in 16 hex digits plus
// ".log". A segment starts with a 16-byte header, walMagic and the
// store's node ID (a log left beside another data file is not replayed
// into it), followed by records:
//
//	u32 LE payload length n | u32 LE CRC-32C of (length ‖ payload) | payload
//
// The payload is walrec.go's msgpack. Positions are consecutive from
// segment to segment. Appends go to the last segment only; a record
// becomes acknowledged only after the fdatasync that covers it, so a
// crash can leave only an unacknowledged tail, which open truncates at
// the last valid record.
//
// A segment grows in zero-filled chunks of walChunk bytes written ahead
// of its records (decision 0106): a record then overwrites blocks the
// file already has, so its fdatasync writes the data and not the file's
// metadata too (its size and block map change once a chunk, not once a
// group of requests). A record's length is never 0,
// so the scan ends at the zeros, and zeros after the last record of any
// segment are room, not damage; a torn record in them is cut off at open
// as before.

const (
	walMagic      = "UCVWAL01"
	walHeaderLen  = 16
	walRecHeader  = 8
	walMaxRecord  = 256 << 20 // bytes of one payload; beyond it a length is garbage
	walSegmentMax = 64 << 20  // a segment is closed once past this size
	walChunk      = 1 << 20   // a segment grows by this many zero bytes ahead of its records
	walExt        = ".log"
)

var walCRC = crc32.MakeTable(crc32.Castagnoli)

// walZeros is a chunk of zeros to write ahead of the records (never
// written to).
var walZeros = make([]byte, walChunk)

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// walRecordCRC is the checksum of a record with payload p.
func walRecordCRC(p []byte) uint32 {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(p)))
	return crc32.Update(crc32.Checksum(n[:], walCRC), walCRC, p)
}

// appendWALRecord frames payload p as a record onto dst.
func appendWALRecord(dst, p []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p)))
	dst = binary.LittleEndian.AppendUint32(dst, walRecordCRC(p))
	return append(dst, p...)
}

// walRecord is one valid record found by scanning a segment.
type walRecord struct {
	lsn uint64
	evs []Event
}

// scanWALSegment reads the records of a segment image b (header
// included) until the first that is torn or fails its checksum. It
// returns them and the byte length of the valid prefix. A record whose
// checksum holds but whose payload does not decode counts as invalid too.
// Of a record at or below applied only the position is decoded (its
// events are left nil): the data file holds them, and decoding every
// event of a 64 MiB segment took a third of an edge's restart after
// kill -9 (bench/README, "Opening a million profiles").
func scanWALSegment(b []byte, applied uint64) (recs []walRecord, valid int) {
	off := walHeaderLen
	if len(b) < off {
		return nil, 0
	}
	for {
		if len(b)-off < walRecHeader {
			return recs, off
		}
		n := int(binary.LittleEndian.Uint32(b[off:]))
		sum := binary.LittleEndian.Uint32(b[off+4:])
		if n == 0 || n > walMaxRecord || n > len(b)-off-walRecHeader {
			return recs, off
		}
		p := b[off+walRecHeader : off+walRecHeader+n]
		if walRecordCRC(p) != sum {
			return recs, off
		}
		lsn, evs, err := decodeWALRecordPast(p, applied)
		if err != nil {
			return recs, off
		}
		recs = append(recs, walRecord{lsn: lsn, evs: evs})
		off += walRecHeader + n
	}
}

// wal is the open log. The appender goroutine alone appends; trim runs
// on the applier goroutine; mu guards segs and the file between them.
type wal struct {
	dir    string
	node   uint64
	noSync bool

	// amu serializes appends with roll (which the applier calls).
	amu  sync.Mutex
	mu   sync.Mutex
	segs []uint64 // first positions of the segment files, ascending; the last is open
	f    *os.File // the last segment
	size int64    // the length of its header and records
	// alloc is the last segment's file length: the bytes past size up to
	// it are zeros written ahead (walChunk).
	alloc int64
	next  uint64 // position of the next record
	// broken is set when a failed append could not be undone (the file
	// may hold a partial record): every later append fails with it.
	broken error
}

// walSegName is the file name of the segment starting at lsn.
func walSegName(lsn uint64) string { return fmt.Sprintf("%016x%s", lsn, walExt) }

// openWAL opens (creating) the log directory dir of the store whose node
// ID is node, truncates a torn tail, and returns the log and every record
// past applied, in order. A log written for another node is moved aside
// (dir + ".orphan-<unix>") and a new one started; so is one whose records
// all lie at or below applied, which is simply removed. A record that
// fails in a segment other than the last one is damage a crash cannot
// cause: openWAL refuses it (ErrDamaged), since records past it were
// acknowledged.
func openWAL(dir string, node, applied uint64, noSync bool) (*wal, []walRecord, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("store: log directory: %w", err)
	}
	w := &wal{dir: dir, node: node, noSync: noSync}
	segs, err := w.list()
	if err != nil {
		return nil, nil, err
	}
	var pending []walRecord
	logLast := uint64(0)         // the position of the log's last record (0: none)
	var lastValid, lastLen int64 // the last segment's valid prefix and file length
	for i, first := range segs {
		path := filepath.Join(dir, walSegName(first))
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("store: read log segment: %w", err)
		}
		if len(b) >= walHeaderLen && allZero(b[:walHeaderLen]) {
			// A header a power loss left unwritten (newSegment syncs it
			// before any record goes in): in the last segment nothing was
			// written after it, so the segment holds nothing — not another
			// store's log, whose removal would drop acknowledged records
			// of the segments before. Before a later segment it is damage.
			if i != len(segs)-1 {
				return nil, nil, &FileError{Path: path, Reason: "write-ahead log segment has no header, before later segments"}
			}
			if err := os.Remove(path); err != nil {
				return nil, nil, fmt.Errorf("store: remove log segment: %w", err)
			}
			segs = segs[:i]
			break
		}
		if len(b) >= walHeaderLen && (string(b[:8]) != walMagic || binary.LittleEndian.Uint64(b[8:16]) != node) {
			// Another store's log: keep it for a person to look at, replay nothing.
			aside := fmt.Sprintf("%s.orphan-%d", dir, time.Now().UnixNano())
			if err := os.Rename(dir, aside); err != nil {
				return nil, nil, fmt.Errorf("store: move foreign log aside: %w", err)
			}
			return openWAL(dir, node, applied, noSync)
		}
		recs, valid := scanWALSegment(b, applied)
		isLast := i == len(segs)-1
		room := valid >= walHeaderLen && allZero(b[valid:]) // zeros written ahead, no torn record
		if valid < len(b) && !isLast && !room {
			return nil, nil, &FileError{Path: path, Reason: fmt.Sprintf("write-ahead log segment fails at byte %d, before later segments", valid)}
		}
		if logLast != 0 && first != logLast+1 {
			return nil, nil, &FileError{Path: path, Reason: fmt.Sprintf("write-ahead log segment starts at %d after record %d", first, logLast)}
		}
		for j, r := range recs {
			if r.lsn != first+uint64(j) {
				return nil, nil, &FileError{Path: path, Reason: fmt.Sprintf("write-ahead log record %d out of sequence", r.lsn)}
			}
			if r.lsn > applied {
				pending = append(pending, r)
			}
		}
		logLast = first + uint64(len(recs)) - 1
		lastValid, lastLen = int64(valid), int64(len(b))
		if isLast && valid < len(b) && !room {
			// The unacknowledged tail of a crash: cut it off.
			if err := truncateSync(path, int64(valid)); err != nil {
				return nil, nil, err
			}
			lastLen = int64(valid)
		}
	}
	if len(pending) > 0 && pending[0].lsn != applied+1 {
		return nil, nil, &FileError{Path: dir, Reason: fmt.Sprintf("write-ahead log resumes at %d, the data file applied up to %d", pending[0].lsn, applied)}
	}
	w.next = max(logLast, applied) + 1
	w.segs = segs
	if len(segs) > 0 && logLast+1 != w.next {
		// Every record is applied and the data file is ahead of the log
		// (a log removed by hand): start afresh past the data file.
		w.segs = nil
		if err := w.removeAll(segs); err != nil {
			return nil, nil, err
		}
	}
	if err := w.openLast(lastValid, lastLen); err != nil {
		return nil, nil, err
	}
	return w, pending, nil
}

// list returns the segments' first positions, ascending.
func (w *wal) list() ([]uint64, error) {
	ents, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("store: list log: %w", err)
	}
	var segs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), walExt)
		if !ok || len(name) != 16 {
			continue
		}
		v, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		segs = append(segs, v)
	}
	slices.Sort(segs)
	return segs, nil
}

func (w *wal) removeAll(segs []uint64) error {
	for _, s := range segs {
		if err := os.Remove(filepath.Join(w.dir, walSegName(s))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: remove log segment: %w", err)
		}
	}
	return syncDir(w.dir)
}

// openLast opens the last segment for appending, creating one at w.next
// if there is none (or the last one's header is torn). valid is the
// length of its header and records as openWAL scanned them, length the
// file's (the zeros between are room for the next records).
func (w *wal) openLast(valid, length int64) error {
	if n := len(w.segs); n > 0 {
		path := filepath.Join(w.dir, walSegName(w.segs[n-1]))
		f, err := os.OpenFile(path, os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("store: open log segment: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("store: open log segment: %w", err)
		}
		if st.Size() >= walHeaderLen && valid >= walHeaderLen && st.Size() == length {
			w.f, w.size, w.alloc = f, valid, length
			return nil
		}
		f.Close()
		// A torn header: the segment holds nothing, start it again.
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("store: remove log segment: %w", err)
		}
		w.segs = w.segs[:n-1]
	}
	return w.newSegment()
}

// newSegment creates the segment starting at w.next, writes and syncs its
// header and the directory, and makes it the open one.
func (w *wal) newSegment() error {
	path := filepath.Join(w.dir, walSegName(w.next))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: create log segment: %w", err)
	}
	var h [walHeaderLen]byte
	copy(h[:], walMagic)
	binary.LittleEndian.PutUint64(h[8:], w.node)
	if _, err := f.Write(h[:]); err != nil {
		f.Close()
		return fmt.Errorf("store: create log segment: %w", err)
	}
	if !w.noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("store: create log segment: %w", err)
		}
		if err := syncDir(w.dir); err != nil {
			f.Close()
			return err
		}
	}
	old := w.f
	w.mu.Lock()
	w.f, w.size, w.alloc = f, walHeaderLen, walHeaderLen
	w.segs = append(w.segs, w.next)
	w.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// append writes the framed records in buf, which hold the positions
// w.next … w.next+count-1, and syncs them. On failure it cuts the file
// back to where it was, so the positions are reused; if it cannot, the
// log is broken and every later append fails.
func (w *wal) append(buf []byte, count int) error {
	w.amu.Lock()
	defer w.amu.Unlock()
	if w.broken != nil {
		return w.broken
	}
	if _, err := w.f.WriteAt(buf, w.size); err != nil {
		return w.undo(fmt.Errorf("store: write log: %w", err))
	}
	if end := w.size + int64(len(buf)); end > w.alloc {
		// Past the zeros written ahead: write the next chunk's now, so the
		// sync below changes the file's length once for a chunk of records.
		ahead := walChunk - end%walChunk
		if _, err := w.f.WriteAt(walZeros[:ahead], end); err != nil {
			return w.undo(fmt.Errorf("store: write log: %w", err))
		}
		w.alloc = end + ahead
	}
	if !w.noSync {
		if err := fdatasync(w.f); err != nil {
			return w.undo(fmt.Errorf("store: sync log: %w", err))
		}
	}
	w.size += int64(len(buf))
	w.next += uint64(count)
	if w.size >= walSegmentMax {
		if err := w.newSegment(); err != nil {
			// The records are durable; the next append retries the roll.
			return nil
		}
	}
	return nil
}

func (w *wal) undo(err error) error {
	if terr := w.f.Truncate(w.size); terr != nil {
		w.broken = fmt.Errorf("%w (and cutting the log back failed: %w)", err, terr)
	}
	w.alloc = w.size
	return err
}

// roll starts a new segment if the open one holds any record, so that
// trim can remove the records written so far once they are applied.
// The applier calls it after an erasure: an erased person's events must
// not outlive the erasure in the log (decision 0050).
func (w *wal) roll() error {
	w.amu.Lock()
	defer w.amu.Unlock()
	if w.f == nil || w.broken != nil || w.size <= walHeaderLen {
		return nil
	}
	return w.newSegment()
}

// trim removes the segments all of whose records are at or below
// applied (never the open one).
func (w *wal) trim(applied uint64) error {
	w.mu.Lock()
	var drop []uint64
	for len(w.segs) > 1 && w.segs[1] <= applied+1 {
		drop = append(drop, w.segs[0])
		w.segs = w.segs[1:]
	}
	w.mu.Unlock()
	if len(drop) == 0 {
		return nil
	}
	return w.removeAll(drop)
}

// close closes the log. When every record is applied (applied is the
// last position), the segments are removed too: a store closed cleanly
// leaves an empty log, so its data file alone holds everything (it may
// be copied, or replaced by an older copy, without a log to match).
func (w *wal) close(applied uint64) error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err == nil && w.broken == nil && applied+1 >= w.next {
		w.mu.Lock()
		segs := w.segs
		w.segs = nil
		w.mu.Unlock()
		err = w.removeAll(segs)
	}
	return err
}

// truncateSync cuts the file at path to size and syncs it.
func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("store: truncate log: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("store: truncate log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: truncate log: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: sync log directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("store: sync log directory: %w", err)
	}
	return nil
}
