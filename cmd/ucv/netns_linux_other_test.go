//go:build linux && !amd64 && !arm64

package main

// sysSetns is unknown on this architecture: the network-namespace test
// skips, saying so.
const sysSetns = 0
