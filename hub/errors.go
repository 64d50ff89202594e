package hub

import "errors"

// Sentinel errors. Test with errors.Is. Errors the state machine returns
// for a committed command are domain errors: every replica returns the
// same one and none of them changed anything.
var (
	// ErrMalformed is returned (wrapped) for a command or snapshot whose
	// bytes do not decode.
	ErrMalformed = errors.New("hub: malformed command")
	// ErrInvalid is returned (wrapped) for a well-formed command that
	// breaks a rule: entries out of order, a delta for another profile,
	// an undecodable delta, an empty ID.
	ErrInvalid = errors.New("hub: invalid command")
	// ErrSequenceGap is returned (wrapped) when a sync batch skips
	// sequences the hub has not seen from that edge; the edge resends
	// from the expected sequence named in the message.
	ErrSequenceGap = errors.New("hub: sync batch sequence gap")
	// ErrNotFound is returned (wrapped) for an unknown profile or
	// fragment ID.
	ErrNotFound = errors.New("hub: profile not found")
	// ErrNotMerged is returned by unmerge when the two fragments are not
	// in the same cluster.
	ErrNotMerged = errors.New("hub: profiles are not merged")
	// ErrNoDefinition is returned (wrapped) for a definition the catalog
	// does not hold.
	ErrNoDefinition = errors.New("hub: no such definition")
	// ErrConflict is returned (wrapped) for a catalog change that other
	// definitions stand in the way of: removing a computed trait or an
	// audience an audience reads, one definition too many.
	ErrConflict = errors.New("hub: conflicts with other definitions")
	// ErrStaleSalt is returned (wrapped) for a privacy request whose
	// salted key was computed under another salt than the state's (two
	// first requests raced): it changed nothing; compute the key again
	// under FSM.PrivacySalt and retry.
	ErrStaleSalt = errors.New("hub: privacy request computed under a stale salt")
	// ErrAmbiguous is returned (wrapped) for a privacy request (erase,
	// export) by an identifier several people hold: a contact point they
	// share. It changed nothing; name the person by an identifier only
	// they hold.
	ErrAmbiguous = errors.New("hub: identifier held by several people")
	// ErrNotLeader is returned (wrapped in a *NotLeaderError) by
	// Server.Apply on a follower without a Forward function.
	ErrNotLeader = errors.New("hub: not the leader")
	// ErrClosed is returned after Server.Close.
	ErrClosed = errors.New("hub: server closed")
	// ErrTooLittleData is returned (wrapped) by FitModel when the
	// clusters' orders cannot identify a model; the catalog keeps the
	// model it had.
	ErrTooLittleData = errors.New("hub: too little data to fit the model")
)
