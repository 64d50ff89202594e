package identity

import "errors"

// Sentinel errors. Test with errors.Is.
var (
	// ErrNoRecords is returned by Train and Resolve when given no records.
	ErrNoRecords = errors.New("identity: no records")
	// ErrDuplicateID is returned when one batch holds two records with the
	// same ID.
	ErrDuplicateID = errors.New("identity: duplicate record id")
	// ErrEmptyID is returned for a record without an ID.
	ErrEmptyID = errors.New("identity: empty record id")
	// ErrUnknownKind is returned for a field whose Kind is not one of the
	// Kinds listed in this package.
	ErrUnknownKind = errors.New("identity: unknown field kind")
	// ErrNotFound is returned when a record ID is not in the index.
	ErrNotFound = errors.New("identity: record not found")
	// ErrInvalidConfig is returned by Config.Validate.
	ErrInvalidConfig = errors.New("identity: invalid config")
	// ErrBadModel is returned by Unmarshal for bytes that are not a model
	// this binary can score with.
	ErrBadModel = errors.New("identity: malformed model")
)
