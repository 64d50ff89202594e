package tlsconf

import "errors"

// Sentinel errors.
var (
	// ErrExists: a file to write exists and overwriting was not asked for.
	ErrExists = errors.New("tlsconf: file exists")
	// ErrInvalid: a name, a file's content or a setting is unusable; the
	// message says which.
	ErrInvalid = errors.New("tlsconf: invalid")
	// ErrHandshake: a TLS handshake failed — the peer spoke no TLS,
	// presented no certificate, or one the CA did not sign or of the
	// wrong kind.
	ErrHandshake = errors.New("tlsconf: handshake refused")
)
