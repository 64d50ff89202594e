// Package integration holds in-process tests of edges and hubs working
// together: an edge's store and hub sync client (edge/...) against hub
// nodes behind their HTTP API (hub/...) on real loopback sockets. It is
// the one package besides cmd that imports both sides (deps_test.go),
// and it holds no code of its own.
package integration
