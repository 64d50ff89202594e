//go:build !linux

package store

import "errors"

// raisePriority is Linux's: elsewhere a nice value is the process's, and
// raising it would raise the request handlers with the applier.
func raisePriority(int) (func(), error) {
	return func() {}, errors.New("store: a thread priority for the applier is set on Linux only")
}
