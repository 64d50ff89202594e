package store

import (
	"encoding/binary"
	"fmt"

	"ucv/crdt/codec"
)

// A view record is: int64 BE last-seen ms ‖ uint8 len ‖ version ‖ JSON prefix.
func encodeViewRecord(lastSeenMs int64, version string, json []byte) []byte {
	b := make([]byte, 0, 9+len(version)+len(json))
	b = binary.BigEndian.AppendUint64(b, uint64(lastSeenMs))
	b = append(b, byte(len(version)))
	b = append(b, version...)
	return append(b, json...)
}

func decodeViewRecord(id string, b []byte) (View, error) {
	if len(b) < 9 || len(b) < 9+int(b[8]) {
		return View{}, fmt.Errorf("store: corrupt view record for %s", id)
	}
	n := int(b[8])
	return View{
		ID:         id,
		LastSeenMs: int64(binary.BigEndian.Uint64(b)),
		Version:    string(b[9 : 9+n]),
		JSON:       append([]byte(nil), b[9+n:]...),
	}, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

var codecTimestamp = codec.Timestamp
