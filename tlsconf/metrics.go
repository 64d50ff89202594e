package tlsconf

import "ucv/metric"

var (
	expiryDesc = metric.NewDesc("ucv_tls_cert_expiry_seconds",
		"Seconds until a certificate in use ends (negative once it has); cert names the flag of its file (tls-cert, tls-client-ca, hub-ca, …), a CA file counting its earliest CA.", "cert")
	reloadsDesc = metric.NewDesc("ucv_tls_reloads_total",
		"TLS files read again after start (SIGHUP or a change on disk), by result: ok (in use) or error (refused; the old ones stay).", "cert", "result")
	refusedDesc = metric.NewDesc("ucv_tls_handshakes_refused_total",
		"TLS handshakes refused on the hub's Raft port and in outgoing Raft dials: a peer without TLS, without a certificate, or with one of another CA or kind.", "cert")
)

// Collector returns a metric.Collector of the loaders' certificate
// expiries, reloads and refused handshakes, for a server's /metrics.
// One collector serves all of a process's loaders of one registry (a
// registry takes each metric's description once). The loaders' files are
// polled at each scrape, so the expiry shown is of the files on disk.
func Collector(ls ...*Loader) metric.Collector { return collector(ls) }

type collector []*Loader

func (c collector) Describe(describe func(*metric.Desc)) {
	describe(expiryDesc)
	describe(reloadsDesc)
	describe(refusedDesc)
}

func (c collector) Collect(e *metric.Emitter) {
	for _, l := range c {
		l.poll()
		s := l.Stats()
		now := l.cfg.Now()
		if !s.CertNotAfter.IsZero() {
			e.Gauge(expiryDesc, s.CertNotAfter.Sub(now).Seconds(), l.cfg.CertName)
		}
		if !s.CANotAfter.IsZero() {
			e.Gauge(expiryDesc, s.CANotAfter.Sub(now).Seconds(), l.cfg.CAName)
		}
		e.Counter(reloadsDesc, float64(s.Reloads), l.name(), "ok")
		e.Counter(reloadsDesc, float64(s.ReloadErrors), l.name(), "error")
		e.Counter(refusedDesc, float64(s.Refused), l.name())
	}
}
