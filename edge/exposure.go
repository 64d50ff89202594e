package edge

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// loopbackHost reports whether host is a loopback address: an IP in
// 127.0.0.0/8 or ::1, or the name "localhost". Any other name counts as
// reachable from elsewhere: it is not resolved, and a name is almost
// always given to be reached from the network.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackAddr is loopbackHost of a HOST:PORT address.
func loopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	return err == nil && loopbackHost(host)
}

// validateExposure refuses what would expose data to the network: a dev
// node (API.DevMode: no write key needed) off loopback, and open reads
// (no read keys) off loopback without InsecureOpenReads.
func (c Config) validateExposure() error {
	if c.OpenReadsWarnEvery <= 0 {
		return errors.New("edge: config: OpenReadsWarnEvery must be positive")
	}
	if c.InsecureOpenReads && len(c.API.ReadKeys) > 0 {
		return errors.New("edge: config: InsecureOpenReads (--insecure-open-reads) contradicts API.ReadKeys (--read-key): reads are not open with read keys")
	}
	if c.API.DevMode {
		if !loopbackAddr(c.HTTPAddr) {
			return fmt.Errorf("edge: config: HTTPAddr (--http-addr) %q: dev mode listens on loopback only (127.0.0.1, ::1 or localhost); run 'ucv edge' with write and read keys to serve the network", c.HTTPAddr)
		}
		if c.Gossip != nil && c.Gossip.Memberlist != nil && !loopbackHost(c.Gossip.Memberlist.BindAddr) {
			return fmt.Errorf("edge: config: gossip bind address (--gossip-addr) %q: dev mode listens on loopback only (127.0.0.1, ::1 or localhost)", c.Gossip.Memberlist.BindAddr)
		}
		return nil
	}
	if len(c.API.ReadKeys) == 0 && !c.InsecureOpenReads && !loopbackAddr(c.HTTPAddr) {
		return fmt.Errorf("edge: config: HTTPAddr (--http-addr) %q is not a loopback address and there are no read keys: anyone who reaches it could read every profile; add read keys (API.ReadKeys, --read-key NAME=SECRET), listen on 127.0.0.1, or accept open reads with InsecureOpenReads (--insecure-open-reads)", c.HTTPAddr)
	}
	return nil
}

// openReadsExposed reports whether the node serves reads without a key
// on an address others can reach (validateExposure allowed it only with
// InsecureOpenReads).
func (c Config) openReadsExposed() bool {
	return len(c.API.ReadKeys) == 0 && !c.API.DevMode && !loopbackAddr(c.HTTPAddr)
}

// warnOpenReads logs that reads are open to the network at once and then
// every period, until warnStop closes; it closes warnDone when it ends.
func (n *Node) warnOpenReads(addr string, period time.Duration) {
	defer close(n.warnDone)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		n.log.Warn("insecure: profile lookups need no read key on an address others can reach; anyone who reaches it can read every profile (--insecure-open-reads); add read keys (--read-key)", "addr", addr)
		select {
		case <-n.warnStop:
			return
		case <-t.C:
		}
	}
}
