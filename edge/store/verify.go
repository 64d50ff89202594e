package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
	"ucv/crdt/codec"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// maxProblems bounds the problems a Report lists.
const maxProblems = 50

// Report is what Verify found in a data file.
type Report struct {
	Path string
	// Schema is the file's schema version (0 if unreadable).
	Schema uint32
	// Profiles and Views count the records whose checksums were verified.
	Profiles, Views int
	// Repairing counts profiles whose state was found damaged while the
	// node ran and that wait for a replica's copy (not a problem: the
	// node handles them).
	Repairing int
	// Notes are facts worth knowing that are not damage (a schema 1 file
	// that the next start migrates).
	Notes []string
	// Problems lists the damage found, one line each, at most 50; More
	// counts those left out.
	Problems []string
	More     int
}

// OK reports whether no damage was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) problem(err error) bool {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, err.Error())
	} else {
		r.More++
	}
	return true
}

// Verify checks the data file at path of a stopped node without
// changing it: its structure, as Open does before bbolt reads it; both
// meta pages; bbolt's consistency check (tx.Check); the checksum of every
// profile state and view; and the store's invariants (see checkTx).
// Damage goes into the report. The error is for a file it could not
// check: missing, in use by a running node (ErrInUse), unreadable.
func Verify(path string) (*Report, error) {
	r := &Report{Path: path}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	if fi.Size() == 0 {
		return r, nil
	}
	pw, err := checkFile(path, 0)
	var fe *FileError
	switch {
	case errors.Is(err, ErrInUse):
		return nil, err
	case errors.As(err, &fe):
		r.problem(errors.New(fe.Reason))
		return r, nil
	case err != nil:
		return nil, err
	}
	if pw.metaNote != "" {
		r.problem(errors.New(pw.metaNote))
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: verify %s: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			r.problem(fmt.Errorf("bbolt: %w", err))
		}
		// Everything at the top level is a bucket: a flipped flag that
		// turns one into a plain value (one Open creates when missing,
		// such as the forward or due bucket) makes Open refuse the file.
		c := tx.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v != nil {
				r.problem(fmt.Errorf("top-level key %q is not a bucket", k))
			}
		}
		for _, b := range schema1Buckets {
			if tx.Bucket(b) == nil {
				r.problem(fmt.Errorf("bucket %q is missing", b))
			}
		}
		if !r.OK() {
			return nil
		}
		if v := tx.Bucket(bucketMeta).Get(schemaKey); len(v) == 4 {
			r.Schema = binary.BigEndian.Uint32(v)
		}
		switch r.Schema {
		case schemaVersion:
		case 2:
			r.Notes = append(r.Notes, fmt.Sprintf("schema 2: every holder of an identifier has a holders entry; the next start marks the file schema %d, which reads it as it is", schemaVersion))
		case 3:
			r.Notes = append(r.Notes, fmt.Sprintf("schema 3: view records carry their JSON; the next start marks the file schema %d, which reads it as it is", schemaVersion))
		case 1:
			r.Notes = append(r.Notes, fmt.Sprintf("schema 1: records carry no checksums yet; the next start migrates the file to schema %d", schemaVersion))
			return nil
		default:
			r.problem(fmt.Errorf("unknown schema version %d", r.Schema))
			return nil
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				r.problem(fmt.Errorf("bucket %q is missing", b))
				return nil
			}
		}
		checkMeta(tx.Bucket(bucketMeta), r.problem)
		r.Profiles, r.Views = checkTx(tx, r.problem)
		r.Repairing = tx.Bucket(bucketRepair).Stats().KeyN
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: verify %s: %w", path, err)
	}
	return r, nil
}

// checkMeta decodes the meta values Open decodes (the clock's high-water
// mark, the digest), so a file Open would refuse is not reported clean.
func checkMeta(meta *bolt.Bucket, problem func(error) bool) {
	if v := meta.Get(hlcKey); v != nil {
		if _, err := codec.Timestamp.Unmarshal(v); err != nil {
			problem(fmt.Errorf("meta: clock high-water mark: %w", err))
		}
	}
	if v := meta.Get(digestKey); v != nil {
		var d Digest
		if err := d.unmarshal(v); err != nil {
			problem(fmt.Errorf("meta: digest: %w", err))
		}
	}
}
