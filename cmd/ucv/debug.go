package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startDebug serves Go's profiling endpoints (net/http/pprof: CPU and
// heap profiles, goroutine dumps, execution traces under /debug/pprof/)
// on addr, a loopback address (--debug-addr), until the returned stop
// runs. They are for the operator on the machine: a profile or a trace
// of the running edge without perf or a rebuild. They are never on the
// API's listener, and never on another interface: a goroutine dump or a
// 30-second CPU profile is not for the network.
func startDebug(addr string, log *slog.Logger) (stop func() error, bound string, err error) {
	if err := checkDebugAddr(addr); err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("debug listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug listener stopped", "err", err)
		}
	}()
	log.Info("profiling endpoints", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return srv.Close, ln.Addr().String(), nil
}

// checkDebugAddr refuses a --debug-addr that is not a loopback HOST:PORT.
func checkDebugAddr(addr string) error {
	if !isLoopback(addr) {
		return fmt.Errorf("%w: --debug-addr must be a loopback HOST:PORT, such as 127.0.0.1:6060", errUsage)
	}
	return nil
}
