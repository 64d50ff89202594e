package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"ucv/edge/api"
)

// secretFlag is a flag that carries a secret (--NAME) and its -file
// variant (--NAME-file PATH), each with a UCV_* variable, so that no
// secret needs to be on a command line `ps` shows. The value comes from
// the command line first — either flag, not both — and else from the
// environment — either variable, not both. Its help never shows a value
// (a secret taken from the environment would appear as the default).
type secretFlag struct {
	name, env, fileEnv string
	// multi: the flag may be repeated, each use adding entries.
	multi  bool
	values []string
	file   string
}

// secretVar defines --name and --name-file on fs. usage names the value's
// form in backquotes, as the flag package shows it in help.
func secretVar(fs *flag.FlagSet, name, env, fileEnv, usage string, multi bool) *secretFlag {
	s := &secretFlag{name: name, env: env, fileEnv: fileEnv, multi: multi}
	fs.Var(s, name, usage+" ["+env+"]")
	form := "the token; surrounding white space is ignored"
	if multi {
		form = "one entry a line or ','-separated; '#' starts a comment line"
	}
	fs.StringVar(&s.file, name+"-file", "", "`PATH` of a file holding --"+name+"'s value ("+form+"), which keeps it out of ps ["+fileEnv+"]")
	return s
}

// String implements flag.Value; it never shows the secret.
func (s *secretFlag) String() string { return "" }

// Set implements flag.Value.
func (s *secretFlag) Set(v string) error {
	if !s.multi && len(s.values) > 0 {
		return errors.New("given twice")
	}
	s.values = append(s.values, v)
	return nil
}

// maxSecretFileBytes bounds a secret file: it holds keys, not data.
const maxSecretFileBytes = 1 << 20

// resolve returns the flag's text (several uses joined by newlines) from
// the command line or the environment, "" when neither sets it. Errors
// name flags, variables and files, never a value.
func (s *secretFlag) resolve(getenv func(string) string) (string, error) {
	switch {
	case len(s.values) > 0 && s.file != "":
		return "", fmt.Errorf("%w: give --%s or --%s-file, not both", errUsage, s.name, s.name)
	case len(s.values) > 0:
		return strings.Join(s.values, "\n"), nil
	case s.file != "":
		return readSecretFile("--"+s.name+"-file", s.file)
	}
	v, f := getenv(s.env), getenv(s.fileEnv)
	switch {
	case v != "" && f != "":
		return "", fmt.Errorf("%w: set %s or %s, not both", errUsage, s.env, s.fileEnv)
	case f != "":
		return readSecretFile(s.fileEnv, f)
	}
	return v, nil
}

// readSecretFile reads a secret file named by what (a flag or variable).
func readSecretFile(what, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", errUsage, what, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", errUsage, what, err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("%w: %s: %s is larger than %d bytes", errUsage, what, path, maxSecretFileBytes)
	}
	return string(b), nil
}

// secretEntries splits a secret flag's text into entries: one a line or
// ','-separated, blank lines and lines starting with '#' skipped.
func secretEntries(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, e := range strings.Split(line, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// parseReadKeys reads read key entries NAME[:SCOPE[+SCOPE…]]=SECRET; a
// key without scopes gets profiles. Errors name an entry by its position,
// never by its text (a mistyped entry may be a secret).
func parseReadKeys(text string) ([]api.ReadKey, error) {
	var keys []api.ReadKey
	for i, e := range secretEntries(text) {
		head, secret, ok := strings.Cut(e, "=")
		if !ok {
			return nil, fmt.Errorf("entry %d: want NAME[:SCOPE[+SCOPE…]]=SECRET", i+1)
		}
		name, scopes, hasScopes := strings.Cut(head, ":")
		k := api.ReadKey{Name: strings.TrimSpace(name), Secret: strings.TrimSpace(secret), Scopes: []api.Scope{api.ScopeProfiles}}
		if hasScopes {
			k.Scopes = nil
			for _, sc := range strings.Split(scopes, "+") {
				k.Scopes = append(k.Scopes, api.Scope(strings.TrimSpace(sc)))
			}
		}
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// parseSyncToken reads the hub sync token (or another single token, the
// forwarding write key): one token, surrounding white space (a file's
// newline) trimmed.
func parseSyncToken(text string) (string, error) {
	t := strings.TrimSpace(text)
	if strings.ContainsAny(t, " \t\r\n") {
		return "", errors.New("must be one token without white space")
	}
	return t, nil
}

// edgeLimits are the abuse limits of an edge's HTTP API.
type edgeLimits struct {
	readKeyRate, writeKeyRate   float64
	readKeyBurst, writeKeyBurst int
	maxConns, maxConnsPerIP     int
}

// edgeSecurityFlags are the secret, read access and limit flags of
// `ucv edge` and `ucv dev`, defined by addEdgeSecurityFlags and turned
// into configuration by apply once the flags are parsed.
type edgeSecurityFlags struct {
	writeKeys, readKeys, gossipKeys, syncToken, forwardKey *secretFlag
	insecureOpenReads                                      *bool
	// The limits as given (flag or UCV_* variable), parsed by apply.
	readRate, readBurst, writeRate, writeBurst, maxConns, maxConnsPerIP *string
}

func addEdgeSecurityFlags(fs *flag.FlagSet, env func(k, def string) string) *edgeSecurityFlags {
	d := api.DefaultConfig()
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	f := &edgeSecurityFlags{
		writeKeys: secretVar(fs, "write-key", "UCV_WRITE_KEYS", "UCV_WRITE_KEYS_FILE",
			"accepted write keys, `KEY[=SOURCE_LABEL],…`; a write key cannot read", true),
		readKeys: secretVar(fs, "read-key", "UCV_READ_KEYS", "UCV_READ_KEYS_FILE",
			"a read key, `NAME[:SCOPE[+SCOPE…]]=SECRET` (repeat the flag or separate keys with ','): clients send SECRET as 'Authorization: Bearer SECRET' or HTTP Basic (NAME:SECRET); "+
				"scopes: profiles (lookups, the default), decide (decisions only, no raw traits), stream (event stream); SECRET at least 16 bytes, no ',' or white space; "+
				"a read key cannot write; without read keys lookups are open, which only a loopback --http-addr allows unless --insecure-open-reads", true),
		gossipKeys: secretVar(fs, "gossip-key", "UCV_GOSSIP_KEY", "UCV_GOSSIP_KEY_FILE",
			"base64 AES keys (16, 24 or 32 bytes) encrypting gossip, `KEY,OLDKEY,…`; required with --gossip-addr outside dev; during rotation the first encrypts, all decrypt", true),
		syncToken: secretVar(fs, "sync-token", "UCV_SYNC_TOKEN", "UCV_SYNC_TOKEN_FILE",
			"bearer `TOKEN` of the hub's sync API", false),
		forwardKey: secretVar(fs, "forward-write-key", "UCV_FORWARD_WRITE_KEY", "UCV_FORWARD_WRITE_KEY_FILE",
			"write `KEY` of the upstream source events are forwarded to (sent as the HTTP Basic username, as Segment's HTTP API takes it); needs --forward-url", false),
		insecureOpenReads: new(bool),
	}
	fs.BoolVar(f.insecureOpenReads, "insecure-open-reads", env("UCV_INSECURE_OPEN_READS", "") == "true",
		"serve lookups without read keys on a non-loopback --http-addr: anyone who reaches the edge reads every profile; logged every minute and exported as ucv_insecure_open_reads [UCV_INSECURE_OPEN_READS]")
	f.readRate = fs.String("read-key-rate", env("UCV_READ_KEY_RATE", num(d.ReadKeyRate)), "`N` requests/s each read key may make (token bucket); over it: 429 with Retry-After; 0: no limit [UCV_READ_KEY_RATE]")
	f.readBurst = fs.String("read-key-burst", env("UCV_READ_KEY_BURST", strconv.Itoa(d.ReadKeyBurst)), "`N` requests a read key may make at once after a quiet spell (its bucket's size) [UCV_READ_KEY_BURST]")
	f.writeRate = fs.String("write-key-rate", env("UCV_WRITE_KEY_RATE", num(d.WriteKeyRate)), "`N` requests/s each write key may make, all its browsers together; over it: 429 with Retry-After; 0: no limit [UCV_WRITE_KEY_RATE]")
	f.writeBurst = fs.String("write-key-burst", env("UCV_WRITE_KEY_BURST", strconv.Itoa(d.WriteKeyBurst)), "`N` requests a write key may make at once (its bucket's size) [UCV_WRITE_KEY_BURST]")
	f.maxConns = fs.String("max-conns", env("UCV_MAX_CONNS", strconv.Itoa(d.Concurrency)), "`N` connections served at once; more get 503 and are closed [UCV_MAX_CONNS]")
	f.maxConnsPerIP = fs.String("max-conns-per-ip", env("UCV_MAX_CONNS_PER_IP", strconv.Itoa(d.MaxConnsPerIP)), "`N` connections from one client IP at once; more get 429 and are closed; 0: no cap [UCV_MAX_CONNS_PER_IP]")
	return f
}

// apply resolves the secrets and limits into cfg and returns the gossip
// keys' text for parseGossipFlags. Errors are usage errors that name the
// flag and never show a secret.
func (f *edgeSecurityFlags) apply(cfg *edgeConfig, getenv func(string) string) (gossipKeys string, err error) {
	text, err := f.writeKeys.resolve(getenv)
	if err != nil {
		return "", err
	}
	if cfg.writeKeys, err = parseWriteKeys(text); err != nil {
		return "", fmt.Errorf("%w: --write-key: %v", errUsage, err)
	}
	if text, err = f.readKeys.resolve(getenv); err != nil {
		return "", err
	}
	if cfg.readKeys, err = parseReadKeys(text); err != nil {
		return "", fmt.Errorf("%w: --read-key: %v", errUsage, err)
	}
	if text, err = f.syncToken.resolve(getenv); err != nil {
		return "", err
	}
	if cfg.syncToken, err = parseSyncToken(text); err != nil {
		return "", fmt.Errorf("%w: --sync-token: %v", errUsage, err)
	}
	if text, err = f.forwardKey.resolve(getenv); err != nil {
		return "", err
	}
	if cfg.forwardKey, err = parseSyncToken(text); err != nil {
		return "", fmt.Errorf("%w: --forward-write-key: %v", errUsage, err)
	}
	cfg.insecureOpenReads = *f.insecureOpenReads
	l := &cfg.limits
	for _, n := range []struct {
		flag string
		in   *string
		f    *float64
		i    *int
	}{
		{"--read-key-rate", f.readRate, &l.readKeyRate, nil}, {"--write-key-rate", f.writeRate, &l.writeKeyRate, nil},
		{"--read-key-burst", f.readBurst, nil, &l.readKeyBurst}, {"--write-key-burst", f.writeBurst, nil, &l.writeKeyBurst},
		{"--max-conns", f.maxConns, nil, &l.maxConns}, {"--max-conns-per-ip", f.maxConnsPerIP, nil, &l.maxConnsPerIP},
	} {
		if n.f != nil {
			v, err := strconv.ParseFloat(strings.TrimSpace(*n.in), 64)
			if err != nil || v < 0 || v > 1e9 {
				return "", fmt.Errorf("%w: %s must be a number of requests/s >= 0 (0: no limit)", errUsage, n.flag)
			}
			*n.f = v
			continue
		}
		v, err := strconv.Atoi(strings.TrimSpace(*n.in))
		if err != nil || v < 0 {
			return "", fmt.Errorf("%w: %s must be a whole number >= 0", errUsage, n.flag)
		}
		*n.i = v
	}
	if l.readKeyRate > 0 && l.readKeyBurst < 1 || l.writeKeyRate > 0 && l.writeKeyBurst < 1 {
		return "", fmt.Errorf("%w: --read-key-burst and --write-key-burst must be at least 1 with a rate set", errUsage)
	}
	if l.maxConns < 1 {
		return "", fmt.Errorf("%w: --max-conns must be at least 1", errUsage)
	}
	return f.gossipKeys.resolve(getenv)
}
