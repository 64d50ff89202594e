package store

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzViewRecord: any bytes filed under a profile ID decode as a view
// record or fail with an error, never a panic; a record that decodes
// encodes back to a record that decodes alike, with or without its JSON
// (decision 0109), and a record without its JSON says so.
func FuzzViewRecord(f *testing.F) {
	ev := viewEval{digest: 7, nextMs: 1_800_000_000_000, audiences: encodeNames([]string{"vip"}), ok: true}
	f.Add([]byte("01ABC"), encodeViewRecord("01ABC", 0, 1_700_000_000_000, "1700.1@ab", ev, []byte(`{"id":"01ABC"`)))
	f.Add([]byte("01ABC"), encodeViewRecord("01ABC", viewBodiless, 1_700_000_000_000, "1700.1@ab", ev, nil))
	f.Add([]byte("01ABC"), encodeViewRecord("01ABC", viewRepairing, 0, "", viewEval{ok: true}, nil))
	f.Add([]byte("x"), []byte{0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, key, b []byte) {
		id := string(key)
		v, got, err := decodeViewRecord(id, key, b)
		if err != nil {
			return
		}
		flags := b[sumLen] &^ viewEvaluated
		var body []byte
		if !isBodiless(b) {
			body = v.JSON
		} else if len(v.JSON) != 0 {
			t.Fatalf("a record without its JSON decoded with %d bytes of it", len(v.JSON))
		}
		if !got.ok {
			return // before catalogs: the encoder always writes an evaluation
		}
		again := encodeViewRecord(id, flags, v.LastSeenMs, v.Version, got, body)
		v2, ev2, err := decodeViewRecord(id, key, again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if v2.Version != v.Version || v2.LastSeenMs != v.LastSeenMs || !bytes.Equal(v2.JSON, v.JSON) ||
			ev2.digest != got.digest || ev2.nextMs != got.nextMs || !bytes.Equal(ev2.audiences, got.audiences) || isBodiless(again) != isBodiless(b) {
			t.Fatalf("round trip changed the record: %+v %+v → %+v %+v", v, got, v2, ev2)
		}
	})
}

// BenchmarkRecordSum is the checksum of a record of a view's sizes (an
// evaluation only; one with its JSON): what verifying a stored view or
// decision costs (decision 0122).
func BenchmarkRecordSum(b *testing.B) {
	for _, size := range []int{256, 1600} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(i * 7)
		}
		key := []byte("01M98D042QZZ45QDYHXCQ7FMNN")
		b.Run(fmt.Sprintf("record=%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			var sink uint32
			for b.Loop() {
				sink ^= recordSum(key, body)
			}
			_ = sink
		})
	}
}
