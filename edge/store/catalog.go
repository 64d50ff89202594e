package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"ucv/profile/catalog"
)

// The catalog of definitions (computed traits, audiences) this edge
// evaluates: the last one the hub shipped, or one loaded from a file by
// a standalone edge. It is kept in the meta bucket, so an edge that
// restarts while the hub is unreachable evaluates with what it had
// (docs/decisions/0032-catalog.md).

// Catalog returns the compiled catalog in force (never nil; empty until
// one is set).
func (s *Store) Catalog() *catalog.Compiled {
	if c := s.catalog.Load(); c != nil {
		return c
	}
	return emptyCatalog // loadCatalog stores one with the consent default
}

// compile compiles c with the store's consent default
// (Options.ConsentGranted).
func (s *Store) compile(c catalog.Catalog) (*catalog.Compiled, error) {
	comp, err := catalog.Compile(c)
	if err != nil {
		return nil, err
	}
	return comp.WithConsentDefault(s.opts.ConsentGranted), nil
}

var emptyCatalog = func() *catalog.Compiled {
	c, err := catalog.Compile(catalog.Catalog{})
	if err != nil {
		panic(err) // an empty catalog always compiles
	}
	return c
}()

// SetCatalog makes c the catalog in force, durably, and reports whether
// it changed anything. A catalog older than the one in force (a smaller
// Version, as a stale hub reply may carry) is ignored; one with the
// same definitions only records its version. c must compile.
func (s *Store) SetCatalog(c catalog.Catalog) (changed bool, err error) {
	return s.setCatalog(c, false)
}

// ReplaceCatalog is SetCatalog without the version check: a standalone
// edge's definitions file (version 0) replaces whatever was in force.
func (s *Store) ReplaceCatalog(c catalog.Catalog) (changed bool, err error) {
	return s.setCatalog(c, true)
}

func (s *Store) setCatalog(c catalog.Catalog, replace bool) (changed bool, err error) {
	comp, err := s.compile(c)
	if err != nil {
		return false, fmt.Errorf("store: set catalog: %w", err)
	}
	s.catalogMu.Lock()
	defer s.catalogMu.Unlock()
	cur := s.Catalog()
	if c.Version < cur.Catalog().Version && !replace {
		return false, nil
	}
	if c.Version == cur.Catalog().Version && comp.Digest() == cur.Digest() {
		return false, nil
	}
	b, err := c.Marshal()
	if err != nil {
		return false, fmt.Errorf("store: set catalog: %w", err)
	}
	if err := s.dbUpdate(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(catalogKey, b)
	}); err != nil {
		return false, fmt.Errorf("store: set catalog: %w", err)
	}
	s.catalog.Store(comp)
	if comp.Digest() == cur.Digest() {
		return false, nil
	}
	s.wakeSweep(true)
	return true, nil
}

// loadCatalog reads the stored catalog at Open. One that no longer
// compiles (written by a newer binary whose language this one lacks)
// is reported and left out: the edge evaluates nothing until the hub or
// the file gives it a catalog it understands.
func (s *Store) loadCatalog(meta *bolt.Bucket) {
	if s.opts.ConsentGranted {
		// Until a catalog is set: the empty one, with the default.
		s.catalog.Store(emptyCatalog.WithConsentDefault(true))
	}
	b := meta.Get(catalogKey)
	if b == nil {
		return
	}
	c, err := catalog.Unmarshal(b)
	if err == nil {
		var comp *catalog.Compiled
		if comp, err = s.compile(c); err == nil {
			s.catalog.Store(comp)
			return
		}
	}
	s.log.Error("stored catalog of definitions cannot be used; evaluating none until a new one arrives", "err", err)
}
