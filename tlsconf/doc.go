// Package tlsconf is ucv's one home of crypto/tls and crypto/x509 setup:
// a small private certificate authority that issues server, client and
// hub-node certificates (`ucv tls ca create`, `ucv tls cert create`),
// and the Loader that every TLS link is built from — HTTP listeners (the
// edge's and the hub's), HTTP clients (edge → hub, hub → hub) and raw
// streams (the hub's Raft transport).
//
// A Loader holds one certificate and key and one set of trusted CAs,
// read from PEM files and read again on Reload (SIGHUP in cmd) and when
// the files change (their modification times are polled at handshakes and
// scrapes, at most every Config.Poll): new connections use the new
// material at once, open ones keep theirs, and a file that fails to load
// leaves the working material in place. Every configuration it builds
// speaks TLS 1.2 or 1.3 with the standard library's default cipher
// suites and curves.
//
// Certificate kinds follow X.509's extended key usages: a server
// certificate (serverAuth) serves HTTPS, a client certificate
// (clientAuth) names an edge or an operator to the hub, and a hub node's
// certificate carries both, since a node serves and dials its peers. The
// Raft transport accepts only node certificates, so an edge's key — even
// one of its HTTPS server certificate, signed by the same CA — opens no
// Raft connection.
package tlsconf
