package hub

import (
	"errors"
	"fmt"
	"slices"

	"ucv/profile/catalog"
)

// The catalog of definitions (user-defined computed traits, audiences)
// is replicated state (docs/decisions/0033-hub-catalog-and-transitions.md):
// CmdDefine and CmdUndefine change it at one log index on every node,
// its version is that index, the snapshot carries it, and the change
// feed and the snapshot bootstrap ship it to edges.

// defs is the catalog in force. It is immutable: a change replaces it,
// so snapshots and bootstraps share it without copying.
type defs struct {
	cat  catalog.Catalog
	comp *catalog.Compiled
	// encoded is cat.Marshal(), what edges receive; nil while no
	// definition was ever made (version 0), when there is nothing to
	// ship and the snapshot has no catalog record.
	encoded []byte
}

// emptyDefs is the catalog of a new state.
func emptyDefs() *defs {
	comp, err := catalog.Compile(catalog.Catalog{})
	if err != nil {
		panic(fmt.Sprintf("hub: an empty catalog does not compile: %v", err))
	}
	return &defs{comp: comp}
}

// newDefs compiles and encodes c. Errors wrap ErrInvalid: a catalog too
// large to ship.
func newDefs(c catalog.Catalog, comp *catalog.Compiled) (*defs, error) {
	b, err := c.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: encode catalog: %w", ErrInvalid, err)
	}
	if len(b) > catalog.MaxBytes {
		return nil, fmt.Errorf("%w: the catalog would take %d bytes, limit %d", ErrInvalid, len(b), catalog.MaxBytes)
	}
	return &defs{cat: c, comp: comp, encoded: b}, nil
}

// definitionErr classifies a catalog error as a domain error: a missing
// definition (ErrNoDefinition), one that others read (ErrConflict), or
// an invalid one (ErrInvalid).
func definitionErr(err error) error {
	var ce *catalog.Error
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNoDefinition, err)
	case errors.As(err, &ce) && ce.Conflict:
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return fmt.Errorf("%w: %w", ErrInvalid, err)
}

// define applies CmdDefine: the catalog with the definition, at version
// a.index, if the whole of it compiles; otherwise nothing changes.
func (a *applier) define(d *Define) error {
	def, err := catalog.ParseDefinition(d.Kind, d.Name, d.Definition)
	if err != nil {
		return definitionErr(err)
	}
	c, comp, err := a.st.defs.cat.With(d.Name, def, a.index)
	if err != nil {
		return definitionErr(err)
	}
	return a.setCatalog(c, comp)
}

// undefine applies CmdUndefine.
func (a *applier) undefine(u *Undefine) error {
	if !slices.Contains(catalog.Kinds, u.Kind) {
		return fmt.Errorf("%w: unknown kind of definition %q", ErrInvalid, u.Kind)
	}
	c, comp, err := a.st.defs.cat.Without(u.Kind, u.Name, a.index)
	if err != nil {
		return definitionErr(err)
	}
	if u.Kind == catalog.KindAudience {
		if ds := a.st.destsReading(u.Name); len(ds) > 0 {
			return definitionErr(&catalog.Error{Kind: u.Kind, Name: u.Name, Field: "name",
				Message: fmt.Sprintf("destination %q sends its transitions", ds[0]), Conflict: true})
		}
	}
	return a.setCatalog(c, comp)
}

func (a *applier) setCatalog(c catalog.Catalog, comp *catalog.Compiled) error {
	d, err := newDefs(c, comp)
	if err != nil {
		return err
	}
	// A change the digest does not see (the recommendations model)
	// changes no membership: nothing to re-evaluate.
	a.catalogChanged = a.catalogChanged || comp.Digest() != a.st.defs.comp.Digest()
	a.st.defs = d
	return nil
}

// Catalog returns the catalog of definitions in force. Treat it as
// immutable (catalog.Catalog's With and Without return copies). Safe for
// concurrent use.
func (f *FSM) Catalog() catalog.Catalog {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.defs.cat
}

// Compiled returns the catalog in force, compiled (never nil; empty
// before any definition). It is immutable. Safe for concurrent use.
func (f *FSM) Compiled() *catalog.Compiled {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.defs.comp
}
