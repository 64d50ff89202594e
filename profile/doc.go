// Package profile is the customer-profile domain: typed identifiers and
// their normalization, identity rules, Segment-spec messages and their
// validation, and the Profile document built from the CRDTs in package crdt.
//
// Everything here is pure: no I/O, no goroutines, no clock reads (callers
// pass times in). The package never logs; values that carry personal data
// implement slog.LogValuer and render only a short keyed hash.
package profile
