//go:build !benchceiling

package store

// benchCeiling is false in every build but a measurement one
// (ceiling_on.go).
const benchCeiling = false
