package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"ucv/hub/api"
	"ucv/hub/token"
)

// hubSecurityFlags registers `ucv hub`'s security and abuse-limit flags
// on fs and returns what to run after fs.Parse: it resolves the secret
// flags (each with a -file variant and UCV_* variables for both, see
// secretFlag) into cfg and checks the limits. Errors name flags, never a
// secret.
func hubSecurityFlags(fs *flag.FlagSet, cfg *hubConfig, env func(k, def string) string, getenv func(string) string) func() error {
	def := api.DefaultConfig()
	fs.StringVar(&cfg.tokensFile, "tokens-file", env("UCV_TOKENS_FILE", ""),
		"`FILE` of the API's tokens, a \"name role secret-hash\" line each (see `ucv tokens`) [UCV_TOKENS_FILE]")
	secrets := []struct {
		flag *secretFlag
		to   *string
	}{
		{secretVar(fs, "node-token", "UCV_NODE_TOKEN", "UCV_NODE_TOKEN_FILE",
			"the `SECRET` this node presents to the other hub nodes: a node token of --tokens-file", false), &cfg.nodeToken},
		{secretVar(fs, "sync-token", "UCV_SYNC_TOKEN", "UCV_SYNC_TOKEN_FILE",
			"development shortcut: a sync token's `SECRET`, shared by all edges and bound to none", false), &cfg.syncToken},
		{secretVar(fs, "admin-token", "UCV_ADMIN_TOKEN", "UCV_ADMIN_TOKEN_FILE",
			"development shortcut: an admin token's `SECRET`", false), &cfg.adminToken},
	}
	fs.BoolVar(&cfg.insecure, "insecure", env("UCV_INSECURE", "") == "true",
		"serve beyond loopback without tokens or without TLS (refused otherwise) [UCV_INSECURE]")
	rate := fs.String("rate-limit", env("UCV_RATE_LIMIT", fmt.Sprint(def.RateLimit)),
		"`N` requests a second one token may make (one client IP without a token); over it 429; 0: no limit [UCV_RATE_LIMIT]")
	burst := fs.String("rate-burst", env("UCV_RATE_BURST", strconv.Itoa(def.RateBurst)), "`N` requests one token may make at once [UCV_RATE_BURST]")
	conns := fs.String("max-conns", env("UCV_MAX_CONNS", strconv.Itoa(def.MaxConns)), "`N` connections open at once; 0: no cap [UCV_MAX_CONNS]")
	perIP := fs.String("max-conns-per-ip", env("UCV_MAX_CONNS_PER_IP", strconv.Itoa(def.MaxConnsPerIP)),
		"`N` connections open at once from one client IP; 0: no cap [UCV_MAX_CONNS_PER_IP]")
	return func() error {
		for _, s := range secrets {
			text, err := s.flag.resolve(getenv)
			if err != nil {
				return err
			}
			if *s.to, err = parseSyncToken(text); err != nil {
				return fmt.Errorf("%w: --%s: %v", errUsage, s.flag.name, err)
			}
		}
		var err [4]error
		cfg.rateLimit, err[0] = strconv.ParseFloat(*rate, 64)
		cfg.rateBurst, err[1] = strconv.Atoi(*burst)
		cfg.maxConns, err[2] = strconv.Atoi(*conns)
		cfg.maxConnsPerIP, err[3] = strconv.Atoi(*perIP)
		switch {
		case err[0] != nil || cfg.rateLimit < 0:
			return fmt.Errorf("%w: --rate-limit must be a number of requests a second, 0 or more", errUsage)
		case err[1] != nil || (cfg.rateLimit > 0 && cfg.rateBurst < 1):
			return fmt.Errorf("%w: --rate-burst must be a whole number, at least 1", errUsage)
		case err[2] != nil || err[3] != nil || cfg.maxConns < 0 || cfg.maxConnsPerIP < 0:
			return fmt.Errorf("%w: --max-conns and --max-conns-per-ip must be whole numbers, 0 or more", errUsage)
		case cfg.syncToken != "" && cfg.syncToken == cfg.adminToken:
			return fmt.Errorf("%w: --sync-token and --admin-token must differ (every edge would hold the admin token)", errUsage)
		}
		return nil
	}
}

// hubSecurity puts cfg's tokens, node token and limits into acfg: it
// loads the tokens file, checks that --node-token is one of its node
// tokens, and warns about what the configuration leaves open.
func hubSecurity(cfg hubConfig, acfg *api.Config, log *slog.Logger) error {
	acfg.SyncToken, acfg.AdminToken, acfg.NodeToken = cfg.syncToken, cfg.adminToken, cfg.nodeToken
	acfg.RateLimit, acfg.RateBurst = cfg.rateLimit, cfg.rateBurst
	acfg.MaxConns, acfg.MaxConnsPerIP = cfg.maxConns, cfg.maxConnsPerIP
	if cfg.tokensFile != "" {
		set, err := token.Load(cfg.tokensFile)
		if err != nil {
			return fmt.Errorf("%w: --tokens-file: %w", errUsage, err)
		}
		acfg.Tokens = set
		if cfg.nodeToken != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			id, err := set.Verify(ctx, cfg.nodeToken)
			cancel()
			if err != nil || id.Role != token.Node {
				return fmt.Errorf("%w: --node-token is not a node token of --tokens-file", errUsage)
			}
		}
	}
	shortcuts := cfg.syncToken != "" || cfg.adminToken != ""
	switch {
	case acfg.Tokens.Len() == 0 && !shortcuts:
		log.Warn("no tokens: every API route is open; use only on loopback or for development")
	case acfg.Tokens.Len() > 0 && cfg.nodeToken == "" && !shortcuts:
		log.Warn("no --node-token: this node cannot join or forward to other hub nodes (a hub of one needs none)")
	}
	if cfg.syncToken != "" {
		log.Warn("--sync-token is a development shortcut: every edge shares it and may push any edge's sequences; give each edge its own sync token in --tokens-file")
	}
	return nil
}

// checkHubExposure refuses a hub whose HTTP API (at httpAddr) or Raft
// listens beyond loopback without both tokens and TLS, unless
// --insecure: whoever reaches it could read every profile, push for any
// edge, or — through Raft — join the cluster. With --insecure it warns.
func checkHubExposure(cfg hubConfig, httpAddr net.Addr, acfg api.Config, log *slog.Logger) error {
	var exposed, missing []string
	if !isLoopback(httpAddr.String()) {
		exposed = append(exposed, "the HTTP API on "+httpAddr.String())
	}
	if !isLoopback(cfg.raftAddr) {
		exposed = append(exposed, "Raft on "+cfg.raftAddr)
	}
	if acfg.Tokens.Len() == 0 && acfg.SyncToken == "" && acfg.AdminToken == "" {
		missing = append(missing, "tokens (--tokens-file)")
	}
	if !cfg.tls {
		missing = append(missing, "TLS (--tls-cert, --tls-key)")
	}
	if len(exposed) == 0 || len(missing) == 0 {
		return nil
	}
	if cfg.insecure {
		log.Warn("insecure: serving beyond loopback", "exposed", strings.Join(exposed, ", "), "without", strings.Join(missing, ", "))
		return nil
	}
	return fmt.Errorf("%w: refusing to serve %s without %s; configure them, or pass --insecure to serve anyway",
		errUsage, strings.Join(exposed, " and "), strings.Join(missing, " or "))
}

// isLoopback reports whether HOST:PORT names a loopback address
// ("localhost" counts; any other name does not).
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
