package replication

// Batcher packs entries into messages of at most MaxBytes (estimated with
// Entry.Size), for streaming bucket states in chunks without holding them
// all. An entry larger than MaxBytes travels alone. It is not safe for
// concurrent use.
type Batcher struct {
	Type     MsgType // MsgEntries or MsgBucketEntries
	Origin   uint64
	MaxBytes int

	cur  []Entry
	size int
}

const entriesOverhead = 1 + 1 + 9 + 5

// Add queues e. When e does not fit in the current batch, the batch so far
// is encoded and returned (nil otherwise); e starts the next one.
func (b *Batcher) Add(e Entry) ([]byte, error) {
	var out []byte
	if len(b.cur) > 0 && b.size+e.Size() > b.MaxBytes {
		var err error
		if out, err = b.Flush(); err != nil {
			return nil, err
		}
	}
	if len(b.cur) == 0 {
		b.size = entriesOverhead
	}
	b.cur = append(b.cur, e)
	b.size += e.Size()
	return out, nil
}

// Len returns the number of entries queued.
func (b *Batcher) Len() int { return len(b.cur) }

// Flush encodes the queued entries (nil if none) and empties the batch.
func (b *Batcher) Flush() ([]byte, error) {
	if len(b.cur) == 0 {
		return nil, nil
	}
	msg, err := MarshalEntries(b.Type, &Entries{Origin: b.Origin, Entries: b.cur})
	b.cur, b.size = b.cur[:0], 0
	return msg, err
}
