package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"ucv/crdt/codec"
)

// Records of the profiles and views buckets (schema 2) start with a
// CRC-32C (Castagnoli) of the profile ID and the rest of the record, so
// a flipped bit on disk is found when the record is read instead of being
// served or replicated, and a record whose key was damaged does not
// verify under its new key. The ID costs nothing to store and makes a
// view filed under the wrong profile fail. CRC-32C is computed by a
// single instruction per 8 bytes on amd64 and arm64: a lookup pays tens
// of nanoseconds for it (bench in 0010).
//
//	profile record  crc32c(id ‖ state) BE32 ‖ state (profile.Marshal)
//	view record     crc32c(id ‖ rest) BE32 ‖ rest, where rest is
//	                flags u8 ‖ int64 BE last-seen ms ‖ uint8 len ‖
//	                version ‖ [eval] ‖ JSON prefix (absent when
//	                flags has viewBodiless); a record without its JSON
//	                has an empty version and last-seen 0 unless a
//	                decision is stored beside it (schema 7, decision
//	                0119): the profile's state holds both
//	eval            (when flags has viewEvaluated) uint64 BE digest of
//	                the catalog the view was rendered with ‖ int64 BE
//	                ms at which its evaluation can next change (0: never)
//	                ‖ uvarint n ‖ n bytes: the audiences it is in, each
//	                uvarint length ‖ name, sorted
//
// A view without eval was rendered before catalogs existed: it is stale
// (re-rendered on read and by the sweep, evaluate.go).
// Schema 1 records had neither checksum nor flags; Open migrates them
// (migrate.go).

// viewRepairing flags the view of a profile whose state was damaged here
// and is waiting for a replica's copy: it is not served (ErrDamaged).
const viewRepairing byte = 1 << 0

// viewEvaluated flags a view record that carries its evaluation's
// catalog digest and next-change time.
const viewEvaluated byte = 1 << 1

// viewBodiless flags a view record stored without its JSON (schema 4,
// decision 0109): the in-memory read index holds the JSON the applier
// rendered, and a read from the file renders it again from the
// profile's stored state — the same bytes while the record's evaluation
// is current, since a view's JSON depends on the state, the catalog and
// (through the evaluation, bounded by its next-change time) the clock.
const viewBodiless byte = 1 << 2

// isBodiless reports whether view record b is stored without its JSON.
func isBodiless(b []byte) bool { return len(b) > sumLen && b[sumLen]&viewBodiless != 0 }

// sumLen is the length of a record's checksum.
const sumLen = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordSum is the checksum of the record body filed under id.
func recordSum(id, body []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, id), castagnoli, body)
}

// sealProfile returns the profile record holding state.
func sealProfile(id string, state []byte) []byte {
	b := make([]byte, sumLen, sumLen+len(state))
	b = append(b, state...)
	binary.BigEndian.PutUint32(b, recordSum([]byte(id), b[sumLen:]))
	return b
}

// openProfile returns the state inside profile record b filed under id
// (a sub-slice of b), or ErrDamaged if it fails its checksum.
func openProfile(id, b []byte) ([]byte, error) {
	if len(b) < sumLen || binary.BigEndian.Uint32(b) != recordSum(id, b[sumLen:]) {
		return nil, fmt.Errorf("%w: profile %s: stored state fails its checksum", ErrDamaged, id)
	}
	return b[sumLen:], nil
}

// encodeViewRecord returns the view record of profile id.
func encodeViewRecord(id string, flags byte, lastSeenMs int64, version string, ev viewEval, json []byte) []byte {
	b := make([]byte, sumLen, sumLen+26+len(version)+len(json))
	b = append(b, flags|viewEvaluated)
	b = binary.BigEndian.AppendUint64(b, uint64(lastSeenMs))
	b = append(b, byte(len(version)))
	b = append(b, version...)
	b = binary.BigEndian.AppendUint64(b, ev.digest)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.nextMs))
	b = binary.AppendUvarint(b, uint64(len(ev.audiences)))
	b = append(b, ev.audiences...)
	b = append(b, json...)
	binary.BigEndian.PutUint32(b, recordSum([]byte(id), b[sumLen:]))
	return b
}

// viewEval is what a view's evaluation depended on: the catalog's
// digest and the moment it can next change without a new event (0:
// never).
type viewEval struct {
	digest uint64
	nextMs int64
	// audiences are the memberships rendered, encoded (encodeNames).
	audiences []byte
	ok        bool // false: a record from before catalogs (no eval)
	// decision is the ranked offers to store beside the view (decide.go;
	// not part of the view record); nil without offers.
	decision []byte
}

// encodeNames encodes sorted names as uvarint length ‖ name each.
func encodeNames(names []string) []byte {
	var b []byte
	for _, n := range names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	return b
}

// decodeNames reads what encodeNames wrote (nil for bytes it did not).
func decodeNames(b []byte) []string {
	var out []string
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil
		}
		out = append(out, string(b[k:k+int(n)]))
		b = b[k+int(n):]
	}
	return out
}

// parseEval reads an eval section at the start of rest and returns it
// and the bytes after it; ok is false if rest is too short.
func parseEval(rest []byte) (viewEval, []byte, bool) {
	if len(rest) < 16 {
		return viewEval{}, nil, false
	}
	ev := viewEval{digest: binary.BigEndian.Uint64(rest), nextMs: int64(binary.BigEndian.Uint64(rest[8:])), ok: true}
	n, k := binary.Uvarint(rest[16:])
	if k <= 0 || n > uint64(len(rest)-16-k) {
		return viewEval{}, nil, false
	}
	ev.audiences = rest[16+k : 16+k+int(n)]
	return ev, rest[16+k+int(n):], true
}

// stale reports whether a view evaluated as e must be rendered again
// under catalog digest at nowMs.
func (e viewEval) stale(digest uint64, nowMs int64) bool {
	return !e.ok || e.digest != digest || e.nextMs != 0 && e.nextMs <= nowMs
}

// decodeViewRecord verifies and copies out the view record b filed under
// key (the profile ID id). ErrDamaged if it fails its checksum or is
// flagged as waiting for repair.
func decodeViewRecord(id string, key, b []byte) (View, viewEval, error) {
	const head = sumLen + 10
	if len(b) < head || len(b) < head+int(b[head-1]) || binary.BigEndian.Uint32(b) != recordSum(key, b[sumLen:]) {
		return View{}, viewEval{}, fmt.Errorf("%w: profile %s: stored view fails its checksum", ErrDamaged, id)
	}
	return parseViewRecord(id, b)
}

// parseViewRecord is decodeViewRecord without the checksum: for a record
// this process encoded itself (encodeViewRecord), whose bytes it knows.
func parseViewRecord(id string, b []byte) (View, viewEval, error) {
	const head = sumLen + 10
	if len(b) < head || len(b) < head+int(b[head-1]) {
		return View{}, viewEval{}, fmt.Errorf("%w: profile %s: stored view is truncated", ErrDamaged, id)
	}
	if b[sumLen]&viewRepairing != 0 {
		return View{}, viewEval{}, errRepairing(id)
	}
	n := int(b[head-1])
	rest := b[head+n:]
	var ev viewEval
	if b[sumLen]&viewEvaluated != 0 {
		var ok bool
		if ev, rest, ok = parseEval(rest); !ok {
			return View{}, viewEval{}, fmt.Errorf("%w: profile %s: stored view is truncated", ErrDamaged, id)
		}
	}
	return View{
		ID:         id,
		LastSeenMs: int64(binary.BigEndian.Uint64(b[sumLen+1:])),
		Version:    string(b[head : head+n]),
		JSON:       append([]byte(nil), rest...),
	}, ev, nil
}

// viewEvalOf reads a stored view record's evaluation without verifying
// or copying it (zero for a record without one or too short to hold it).
func viewEvalOf(b []byte) viewEval {
	const head = sumLen + 10
	if len(b) < head || b[sumLen]&viewEvaluated == 0 || len(b) < head+int(b[head-1]) {
		return viewEval{}
	}
	ev, _, _ := parseEval(b[head+int(b[head-1]):])
	return ev
}

// viewFailsSum reports whether view record b filed under key fails its
// checksum (a flagged view verifies).
func viewFailsSum(key, b []byte) bool {
	return len(b) < sumLen+10 || binary.BigEndian.Uint32(b) != recordSum(key, b[sumLen:])
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

var codecTimestamp = codec.Timestamp
