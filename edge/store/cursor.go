package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// seekBucket is a bucket whose Get reuses one cursor. bbolt's
// Bucket.Get makes a new cursor per call, whose stack of pages grows
// (allocates) once per tree level: a fifth of the edge ingest's
// allocations came from the writer's lookups of the index, profile and
// dedupe buckets. Cursor.Seek resets the same stack, so after the first
// Get the lookups allocate nothing. Put and Delete are the bucket's own
// (they reposition nothing the next Seek relies on: Seek starts from the
// root). Valid for its transaction only, like the bucket.
type seekBucket struct {
	*bolt.Bucket
	c *bolt.Cursor
}

func newSeekBucket(b *bolt.Bucket) *seekBucket { return &seekBucket{Bucket: b} }

// Get returns the value of key, or nil if the key does not exist or
// names a nested bucket — exactly what Bucket.Get returns.
func (b *seekBucket) Get(key []byte) []byte {
	if b.c == nil {
		b.c = b.Bucket.Cursor()
	}
	k, v := b.c.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}
