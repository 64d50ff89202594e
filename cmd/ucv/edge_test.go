package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucv/edge/api"
	"ucv/gcpolicy"
)

func TestParseEdgeFlags(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const rk1, rk2 = "rk-crm-0123456789abcdef", "rk-recs-0123456789abcdef=="
	crm := api.ReadKey{Name: "crm", Secret: rk1, Scopes: []api.Scope{api.ScopeProfiles}}
	recs := api.ReadKey{Name: "recs", Secret: rk2, Scopes: []api.Scope{api.ScopeDecide, api.ScopeStream}}
	wkFile := file("write-keys", "# tills and web\nk1=till-3\nk2\n")
	rkFile := file("read-keys", "crm="+rk1+"\n\n# recommendations\nrecs:decide+stream="+rk2+"\n")
	gkFile := file("gossip.key", "AAAAAAAAAAAAAAAAAAAAAA==\nAQEBAQEBAQEBAQEBAQEBAQ==\n")
	tokFile := file("sync-token", "st-0123456789\n")
	badTokFile := file("two-tokens", "st-1\nst-2\n")
	for _, tc := range []struct {
		name    string
		cmd     string
		args    []string
		env     map[string]string
		want    edgeConfig
		wantErr bool
	}{
		{
			name: "dev defaults",
			cmd:  "dev",
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true},
		},
		{
			name: "edge from env",
			cmd:  "edge",
			env:  map[string]string{"UCV_DATA_DIR": "/var/lib/ucv", "UCV_HTTP_ADDR": "0.0.0.0:9000", "UCV_WRITE_KEYS": "k1=till-3, k2", "UCV_NODE_NAME": "store-12-a", "UCV_RULES": "/etc/ucv/rules.json"},
			want: edgeConfig{dataDir: "/var/lib/ucv", httpAddr: "0.0.0.0:9000", writeKeys: map[string]string{"k1": "till-3", "k2": ""}, rulesFile: "/etc/ucv/rules.json", nodeName: "store-12-a", defaultRegion: "US"},
		},
		{
			name: "flags win over env",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--http-addr", "127.0.0.1:0", "--write-key", "k9=pos", "--node-name", "n", "--default-region", "GB"},
			env:  map[string]string{"UCV_DATA_DIR": "/x", "UCV_WRITE_KEYS": "k1", "UCV_NODE_NAME": "envnode"},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:0", writeKeys: map[string]string{"k9": "pos"}, nodeName: "n", defaultRegion: "GB"},
		},
		{
			name: "gossip from env",
			cmd:  "edge",
			env:  map[string]string{"UCV_DATA_DIR": "d", "UCV_WRITE_KEYS": "k", "UCV_GOSSIP_ADDR": "0.0.0.0:7946", "UCV_JOIN": "10.0.0.2:7946, 10.0.0.3:7946", "UCV_GOSSIP_KEY": "AAAAAAAAAAAAAAAAAAAAAA==,AQEBAQEBAQEBAQEBAQEBAQ=="},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US",
				gossipAddr: "0.0.0.0:7946", join: []string{"10.0.0.2:7946", "10.0.0.3:7946"}, gossipKeys: [][]byte{make([]byte, 16), bytes.Repeat([]byte{1}, 16)}},
		},
		{
			name: "dev gossips without a key",
			cmd:  "dev",
			args: []string{"--gossip-addr", "127.0.0.1:0"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true, gossipAddr: "127.0.0.1:0"},
		},
		{
			name: "dev without its hub",
			cmd:  "dev",
			args: []string{"--no-hub"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true, noHub: true},
		},
		{
			name: "cors and event age from env",
			cmd:  "dev",
			env:  map[string]string{"UCV_CORS_ORIGINS": "https://shop.example, http://localhost:3000", "UCV_MAX_EVENT_AGE": "2y"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true,
				corsOrigins: []string{"https://shop.example", "http://localhost:3000"}, maxEventAge: 2 * 365 * 24 * time.Hour},
		},
		{
			name: "event age in days, flags win",
			cmd:  "dev",
			args: []string{"--max-event-age", "90d", "--cors-origins", "*"},
			env:  map[string]string{"UCV_MAX_EVENT_AGE": "2y"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true,
				maxEventAge: 90 * 24 * time.Hour},
		},
		{
			name: "read keys: repeated flag, scopes",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key", "k", "--read-key", "crm=" + rk1, "--read-key", "recs:decide+stream=" + rk2},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US",
				readKeys: []api.ReadKey{crm, recs}},
		},
		{
			name: "read keys from env, comma-separated, and open reads",
			cmd:  "edge",
			env:  map[string]string{"UCV_DATA_DIR": "d", "UCV_WRITE_KEYS": "k", "UCV_READ_KEYS": "crm=" + rk1 + ", recs:decide+stream=" + rk2, "UCV_INSECURE_OPEN_READS": "true"},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US",
				readKeys: []api.ReadKey{crm, recs}, insecureOpenReads: true},
		},
		{
			name: "every secret from a file flag",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key-file", wkFile, "--read-key-file", rkFile, "--gossip-addr", "127.0.0.1:0", "--gossip-key-file", gkFile, "--sync-token-file", tokFile},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k1": "till-3", "k2": ""}, nodeName: hostOr("edge"), defaultRegion: "US",
				readKeys: []api.ReadKey{crm, recs}, gossipAddr: "127.0.0.1:0", gossipKeys: [][]byte{make([]byte, 16), bytes.Repeat([]byte{1}, 16)}, syncToken: "st-0123456789"},
		},
		{
			name: "every secret from a file variable",
			cmd:  "edge",
			env: map[string]string{"UCV_DATA_DIR": "d", "UCV_WRITE_KEYS_FILE": wkFile, "UCV_READ_KEYS_FILE": rkFile, "UCV_GOSSIP_ADDR": "127.0.0.1:0",
				"UCV_GOSSIP_KEY_FILE": gkFile, "UCV_SYNC_TOKEN_FILE": tokFile},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k1": "till-3", "k2": ""}, nodeName: hostOr("edge"), defaultRegion: "US",
				readKeys: []api.ReadKey{crm, recs}, gossipAddr: "127.0.0.1:0", gossipKeys: [][]byte{make([]byte, 16), bytes.Repeat([]byte{1}, 16)}, syncToken: "st-0123456789"},
		},
		{
			name: "a flag wins over the other variant's variable",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key", "k9", "--read-key", "crm=" + rk1, "--sync-token", "st-flag"},
			env:  map[string]string{"UCV_WRITE_KEYS_FILE": wkFile, "UCV_READ_KEYS_FILE": rkFile, "UCV_SYNC_TOKEN_FILE": tokFile},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k9": ""}, nodeName: hostOr("edge"), defaultRegion: "US",
				readKeys: []api.ReadKey{crm}, syncToken: "st-flag"},
		},
		{
			name: "limits",
			cmd:  "dev",
			args: []string{"--read-key-rate", "0.5", "--read-key-burst", "3", "--write-key-rate", "200", "--max-conns", "64"},
			env:  map[string]string{"UCV_WRITE_KEY_BURST": "400", "UCV_MAX_CONNS_PER_IP": "0"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true,
				limits: edgeLimits{readKeyRate: 0.5, readKeyBurst: 3, writeKeyRate: 200, writeKeyBurst: 400, maxConns: 64}},
		},
		{name: "write key and its file", cmd: "dev", args: []string{"--write-key", "k", "--write-key-file", wkFile}, wantErr: true},
		{name: "both read key variables", cmd: "dev", env: map[string]string{"UCV_READ_KEYS": "crm=" + rk1, "UCV_READ_KEYS_FILE": rkFile}, wantErr: true},
		{name: "missing key file", cmd: "dev", args: []string{"--read-key-file", filepath.Join(dir, "nothing")}, wantErr: true},
		{name: "read key without a name", cmd: "dev", args: []string{"--read-key", rk1}, wantErr: true},
		{name: "short read key", cmd: "dev", args: []string{"--read-key", "crm=short"}, wantErr: true},
		{name: "unknown scope", cmd: "dev", args: []string{"--read-key", "crm:admin=" + rk1}, wantErr: true},
		{name: "sync token twice", cmd: "dev", args: []string{"--sync-token", "a", "--sync-token", "b"}, wantErr: true},
		{name: "two tokens in a file", cmd: "dev", args: []string{"--sync-token-file", badTokFile}, wantErr: true},
		{name: "negative rate", cmd: "dev", args: []string{"--read-key-rate", "-1"}, wantErr: true},
		{name: "rate without burst", cmd: "dev", args: []string{"--write-key-rate", "5", "--write-key-burst", "0"}, wantErr: true},
		{name: "no connections", cmd: "dev", args: []string{"--max-conns", "0"}, wantErr: true},
		{name: "bad event age", cmd: "dev", args: []string{"--max-event-age", "-1h"}, wantErr: true},
		{name: "event age not a duration", cmd: "dev", args: []string{"--max-event-age", "five years"}, wantErr: true},
		{name: "origin without scheme", cmd: "dev", args: []string{"--cors-origins", "shop.example"}, wantErr: true},
		{name: "no-hub is dev only", cmd: "edge", args: []string{"--data-dir", "d", "--write-key", "k", "--no-hub"}, wantErr: true},
		{
			name: "edge ID for the hub",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key", "k", "--hub", "http://hub:8300", "--edge-id", "store-1"},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US",
				hubURLs: []string{"http://hub:8300"}, edgeID: "store-1"},
		},
		{
			name: "forwarding from flags",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key", "k", "--forward-url", "https://api.segment.io", "--forward-write-key-file", tokFile, "--forward-max-outbox-mb", "64"},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US",
				forwardURL: "https://api.segment.io", forwardKey: "st-0123456789", forwardMaxMB: 64},
		},
		{
			name: "forwarding from env",
			cmd:  "dev",
			env:  map[string]string{"UCV_FORWARD_URL": "http://rudder:8080", "UCV_FORWARD_WRITE_KEY": "wk-up", "UCV_FORWARD_MAX_OUTBOX_MB": "16"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true,
				forwardURL: "http://rudder:8080", forwardKey: "wk-up", forwardMaxMB: 16},
		},
		{
			name: "consent default granted",
			cmd:  "dev",
			args: []string{"--consent-default", "granted"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true, consentGranted: true},
		},
		{
			name: "consent default from env",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key", "k"},
			env:  map[string]string{"UCV_CONSENT_DEFAULT": "granted"},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US", consentGranted: true},
		},
		{name: "bad consent default", cmd: "dev", args: []string{"--consent-default", "maybe"}, wantErr: true},
		{name: "forward URL without a key", cmd: "dev", args: []string{"--forward-url", "https://api.segment.io"}, wantErr: true},
		{name: "forward key without a URL", cmd: "dev", args: []string{"--forward-write-key", "wk"}, wantErr: true},
		{name: "forward key and its file", cmd: "dev", args: []string{"--forward-url", "https://x", "--forward-write-key", "wk", "--forward-write-key-file", tokFile}, wantErr: true},
		{name: "negative forward cap", cmd: "dev", args: []string{"--forward-max-outbox-mb", "-1"}, wantErr: true},
		{
			name: "view memory bound",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key", "k", "--view-memory-mb", "256"},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US", viewMemoryMB: 256},
		},
		{
			name: "no views in memory, from env",
			cmd:  "dev",
			env:  map[string]string{"UCV_VIEW_MEMORY_MB": "-1"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true, viewMemoryMB: -1},
		},
		{name: "view memory below -1", cmd: "dev", args: []string{"--view-memory-mb", "-2"}, wantErr: true},
		{
			name: "apply linger",
			cmd:  "dev",
			args: []string{"--apply-linger", "50ms"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true, applyLinger: 50 * time.Millisecond},
		},
		{
			name: "apply pace above",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key", "k", "--apply-pace-above", "4096"},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US", applyPaceAbove: 4096},
		},
		{
			name: "page size",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key", "k", "--page-size", "4096"},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US", pageSize: 4096},
		},
		{
			name: "apply commit events",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key", "k", "--apply-commit-events", "32768"},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US", applyCommitEvents: 32768},
		},
		{
			name: "dedupe window",
			cmd:  "dev",
			env:  map[string]string{"UCV_DEDUPE_WINDOW": "24h"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true, dedupeWindow: 24 * time.Hour},
		},
		{
			name: "never pace",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key", "k", "--apply-pace-above", "0"},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US", applyPaceAbove: neverPace},
		},
		{
			name: "apply priority",
			cmd:  "edge",
			args: []string{"--data-dir", "d", "--write-key", "k", "--apply-priority", "-20"},
			want: edgeConfig{dataDir: "d", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{"k": ""}, nodeName: hostOr("edge"), defaultRegion: "US", applyPriority: -20},
		},
		{
			name: "apply priority left to the process, from env",
			cmd:  "dev",
			env:  map[string]string{"UCV_APPLY_PRIORITY": "0"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true, applyPriority: leaveApplyPriority},
		},
		{
			name: "debug addr",
			cmd:  "dev",
			args: []string{"--debug-addr", "127.0.0.1:6060"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true, debugAddr: "127.0.0.1:6060"},
		},
		{name: "debug addr not loopback", cmd: "dev", args: []string{"--debug-addr", "0.0.0.0:6060"}, wantErr: true},
		{name: "debug addr without a port", cmd: "edge", args: []string{"--data-dir", "d", "--write-key", "k", "--debug-addr", "127.0.0.1"}, wantErr: true},
		{name: "apply pace above the hard bound", cmd: "dev", args: []string{"--apply-pace-above", "32768"}, wantErr: true},
		{name: "page size not a power of two", cmd: "dev", args: []string{"--page-size", "5000"}, wantErr: true},
		{name: "page size below 4096", cmd: "dev", args: []string{"--page-size", "2048"}, wantErr: true},
		{name: "page size above 65536", cmd: "dev", args: []string{"--page-size", "131072"}, wantErr: true},
		{name: "page size not a number", cmd: "dev", args: []string{"--page-size", "16k"}, wantErr: true},
		{name: "apply pace above negative", cmd: "dev", args: []string{"--apply-pace-above", "-1"}, wantErr: true},
		{name: "apply pace above not a number", cmd: "dev", args: []string{"--apply-pace-above", "8k"}, wantErr: true},
		{name: "apply priority above 19", cmd: "dev", args: []string{"--apply-priority", "20"}, wantErr: true},
		{name: "apply priority below -20", cmd: "dev", args: []string{"--apply-priority", "-21"}, wantErr: true},
		{name: "apply priority not a number", cmd: "dev", args: []string{"--apply-priority", "high"}, wantErr: true},
		{name: "apply linger negative", cmd: "dev", args: []string{"--apply-linger", "-1ms"}, wantErr: true},
		{name: "apply commit age negative", cmd: "dev", args: []string{"--apply-commit-age", "-1s"}, wantErr: true},
		{name: "apply idle commit over a second", cmd: "dev", args: []string{"--apply-idle-commit", "2s"}, wantErr: true},
		{name: "apply idle commit not a duration", cmd: "edge", args: []string{"--apply-idle-commit", "soon"}, wantErr: true},
		{name: "apply idle gap over a second", cmd: "dev", args: []string{"--apply-idle-gap", "2s"}, wantErr: true},
		{name: "apply idle gap negative", cmd: "dev", args: []string{"--apply-idle-gap", "-1ms"}, wantErr: true},
		{name: "apply idle gap not a duration", cmd: "edge", args: []string{"--apply-idle-gap", "2"}, wantErr: true},
		{name: "dedupe window under an hour", cmd: "dev", args: []string{"--dedupe-window", "30m"}, wantErr: true},
		{name: "dedupe window over 90 days", cmd: "edge", args: []string{"--data-dir", "d", "--write-key", "k", "--dedupe-window", "2161h"}, wantErr: true},
		{name: "dedupe window without a unit", cmd: "dev", args: []string{"--dedupe-window", "7"}, wantErr: true},
		{name: "apply commit events zero", cmd: "dev", args: []string{"--apply-commit-events", "0"}, wantErr: true},
		{name: "apply commit events over 65536", cmd: "edge", args: []string{"--data-dir", "d", "--write-key", "k", "--apply-commit-events", "65537"}, wantErr: true},
		{name: "apply commit events not a number", cmd: "dev", args: []string{"--apply-commit-events", "16k"}, wantErr: true},
		{name: "apply commit age over ten seconds", cmd: "dev", args: []string{"--apply-commit-age", "11s"}, wantErr: true},
		{name: "apply linger over a second", cmd: "dev", args: []string{"--apply-linger", "2s"}, wantErr: true},
		{name: "apply linger without a unit", cmd: "dev", args: []string{"--apply-linger", "20"}, wantErr: true},
		{name: "view memory not a number", cmd: "dev", args: []string{"--view-memory-mb", "lots"}, wantErr: true},
		{name: "edge ID with a space", cmd: "edge", args: []string{"--data-dir", "d", "--write-key", "k", "--edge-id", "store 1"}, wantErr: true},
		{name: "edge gossip needs a key", cmd: "edge", args: []string{"--data-dir", "d", "--write-key", "k", "--gossip-addr", "127.0.0.1:0"}, wantErr: true},
		{name: "short gossip key", cmd: "dev", args: []string{"--gossip-addr", "127.0.0.1:0", "--gossip-key", "AAAA"}, wantErr: true},
		{name: "join without gossip", cmd: "dev", args: []string{"--join", "127.0.0.1:7946"}, wantErr: true},
		{name: "bad join", cmd: "dev", args: []string{"--gossip-addr", "127.0.0.1:0", "--join", "nohost"}, wantErr: true},
		{name: "bad gossip addr", cmd: "dev", args: []string{"--gossip-addr", "7946"}, wantErr: true},
		{name: "edge needs a data dir", cmd: "edge", args: []string{"--write-key", "k"}, wantErr: true},
		{name: "edge needs a write key", cmd: "edge", args: []string{"--data-dir", "d"}, wantErr: true},
		{name: "bad addr", cmd: "dev", args: []string{"--http-addr", "8080"}, wantErr: true},
		{name: "bad key", cmd: "dev", args: []string{"--write-key", "a:b"}, wantErr: true},
		{name: "duplicate key", cmd: "dev", args: []string{"--write-key", "a,a=x"}, wantErr: true},
		{name: "bad log level", cmd: "dev", args: []string{"--log-level", "loud"}, wantErr: true},
		{name: "stray argument", cmd: "dev", args: []string{"now"}, wantErr: true},
		{
			name: "collector flags",
			cmd:  "dev",
			args: []string{"--memory-limit-mb", "256", "--gc-percent", "200", "--procs", "4"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true,
				gc: gcpolicy.Policy{LimitBytes: 256 << 20, GCPercent: 200, Ratio: 0.9, SystemRatio: 0.25, Procs: 4, ExtraProcs: 1}},
		},
		{
			name: "collector variables",
			cmd:  "dev",
			env:  map[string]string{"UCV_MEMORY_LIMIT_MB": "64", "UCV_GC_PERCENT": "-1"},
			want: edgeConfig{dataDir: "./ucv-data", httpAddr: "127.0.0.1:8080", writeKeys: map[string]string{}, nodeName: "dev", defaultRegion: "US", dev: true,
				gc: gcpolicy.Policy{LimitBytes: 64 << 20, GCPercent: -1, Ratio: 0.9, SystemRatio: 0.25, ExtraProcs: 1}},
		},
		{name: "memory limit not a number", cmd: "dev", args: []string{"--memory-limit-mb", "1G"}, wantErr: true},
		{name: "gc percent below -1", cmd: "dev", args: []string{"--gc-percent", "-5"}, wantErr: true},
		{name: "procs negative", cmd: "dev", args: []string{"--procs", "-1"}, wantErr: true},
		{name: "procs not a number", cmd: "edge", args: []string{"--data-dir", "d", "--write-key", "k", "--procs", "two"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := parseEdgeFlags(tc.cmd, tc.args, func(k string) string { return tc.env[k] }, &stderr)
			if tc.wantErr {
				if !errors.Is(err, errUsage) {
					t.Fatalf("parseEdgeFlags = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseEdgeFlags: %v", err)
			}
			tc.want.shutdownTimeout = 15 * time.Second
			if tc.want.corsOrigins == nil {
				tc.want.corsOrigins = []string{"*"}
			}
			if tc.want.maxEventAge == 0 {
				tc.want.maxEventAge = 43800 * time.Hour
			}
			if tc.want.forwardMaxMB == 0 {
				tc.want.forwardMaxMB = 1024
			}
			if tc.want.applyLinger == 0 {
				tc.want.applyLinger = 20 * time.Millisecond
			}
			if tc.want.applyCommitAge == 0 {
				tc.want.applyCommitAge = time.Second
			}
			if tc.want.applyIdleCommit == 0 {
				tc.want.applyIdleCommit = 20 * time.Millisecond
			}
			if tc.want.applyIdleGap == 0 {
				tc.want.applyIdleGap = 2 * time.Millisecond
			}
			if tc.want.dedupeWindow == 0 {
				tc.want.dedupeWindow = 7 * 24 * time.Hour
			}
			if tc.want.applyCommitEvents == 0 {
				tc.want.applyCommitEvents = 16384 // decision 0096
			}
			if tc.want.pageSize == 0 {
				tc.want.pageSize = 16384 // decision 0104
			}
			switch tc.want.applyPaceAbove {
			case 0:
				tc.want.applyPaceAbove = 8192
			case neverPace:
				tc.want.applyPaceAbove = 0
			}
			switch tc.want.applyPriority {
			case 0:
				tc.want.applyPriority = -10 // ahead of the request handlers (0100)
			case leaveApplyPriority:
				tc.want.applyPriority = 0
			}
			if tc.want.gc == (gcpolicy.Policy{}) {
				// GOGC 400 under 90 % of a cgroup's limit or a quarter
				// of the machine's memory (0062), one spare processor (0098).
				tc.want.gc = gcpolicy.Policy{Ratio: 0.9, SystemRatio: 0.25, ExtraProcs: 1}
			}
			if tc.want.limits == (edgeLimits{}) {
				tc.want.limits = edgeLimits{readKeyRate: 1000, readKeyBurst: 2000, writeKeyBurst: 1000, maxConns: 10000, maxConnsPerIP: 512}
			}
			if diff := cmp.Diff(got, tc.want, cmp.AllowUnexported(edgeConfig{}, edgeLimits{})); diff != "" {
				t.Errorf("config (-got +want):\n%s", diff)
			}
		})
	}
}

// neverPace stands, in a wanted config, for --apply-pace-above 0.
const neverPace = -1

// leaveApplyPriority stands, in a wanted config, for --apply-priority 0
// (the zero value there means "the default").
const leaveApplyPriority = 100

// hostOr is the default node name: the host name, or def.
func hostOr(def string) string {
	if h, _ := os.Hostname(); h != "" {
		return h
	}
	return def
}

// buildUCV builds the binary once per test binary run.
func buildUCV(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "ucv")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// node is a running ucv edge/dev subprocess.
type node struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	stdout *syncBuffer // every line printed
}

// syncBuffer is a bytes.Buffer the subprocess's output copier writes while
// the test may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listening = regexp.MustCompile(`listening on (https?://\S+)`)

// start runs bin with args and waits for it to print its URL.
func start(t *testing.T, bin string, env []string, args ...string) *node {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: cmd, stderr: &syncBuffer{}, stdout: &syncBuffer{}}
	cmd.Stderr = n.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			n.stdout.Write([]byte(sc.Text() + "\n"))
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !sent {
				urlc <- m[1]
				sent = true
			}
		}
		if !sent {
			close(urlc)
		}
	}()
	select {
	case u, ok := <-urlc:
		if !ok {
			cmd.Wait()
			t.Fatalf("ucv %v exited before listening:\n%s", args, n.stderr)
		}
		n.url = u
	case <-time.After(30 * time.Second):
		t.Fatalf("ucv %v did not print its URL:\n%s", args, n.stderr)
	}
	return n
}

// stop signals the node and checks that it exits 0 and logged JSON.
func (n *node) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after %v: %v\n%s", sig, err, n.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30 s after %v", sig)
	}
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(n.stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		msgs = append(msgs, rec["msg"].(string))
	}
	if len(msgs) == 0 || msgs[len(msgs)-1] != "edge stopped" {
		t.Errorf("log messages = %v, want the last to be \"edge stopped\"", msgs)
	}
}

var devHubLine = regexp.MustCompile(`(?m)^  hub: +(http://\S+) \(in-process`)

// devHubURL waits for `ucv dev` to print its in-process hub's URL.
func devHubURL(t *testing.T, n *node) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := devHubLine.FindStringSubmatch(n.stdout.String()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("ucv dev printed no hub URL:\n%s", n.stdout)
	return ""
}

func httpDo(t *testing.T, method, url, body string, hdr ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestEdgeProcess runs the real binary: `ucv dev` takes an event and
// answers a lookup, stops cleanly on SIGTERM; `ucv edge` on the same data
// directory still has the profile, wants its write key, and stops on
// SIGINT.
func TestEdgeProcess(t *testing.T) {
	bin := buildUCV(t)
	data := filepath.Join(t.TempDir(), "data")

	dev := start(t, bin, nil, "dev", "--data-dir", data, "--http-addr", "127.0.0.1:0")
	if code, body := httpDo(t, "POST", dev.url+"/v1/identify", `{"userId":"e2e-1","traits":{"email":"E2E@example.com"}}`); code != 200 {
		t.Fatalf("dev ingest = %d %s", code, body)
	}
	code, body := httpDo(t, "GET", dev.url+"/v1/profiles/email:e2e@example.com", "")
	if code != 200 || !strings.Contains(string(body), `"user_id","value":"e2e-1"`) {
		t.Fatalf("dev lookup = %d %s", code, body)
	}
	if code, _ := httpDo(t, "GET", dev.url+"/readyz", ""); code != 200 {
		t.Errorf("dev readyz = %d", code)
	}
	// dev runs a single-node hub in its process and syncs to it.
	hubURL := devHubURL(t, dev)
	waitBody(t, hubURL+"/v1/admin/profiles/email:e2e@example.com", `"e2e-1"`)
	waitBody(t, dev.url+"/v1/profiles/email:e2e@example.com", `"hub_synced_at":"`)
	dev.stop(t, syscall.SIGTERM)
	// Restarted on the same data, its hub comes back (new ports, same
	// Raft state), elects itself and still holds the profile.
	dev = start(t, bin, nil, "dev", "--data-dir", data, "--http-addr", "127.0.0.1:0")
	hubURL = devHubURL(t, dev)
	if code, body := httpDo(t, "POST", dev.url+"/v1/track", `{"userId":"e2e-1","event":"Came Back"}`); code != 200 {
		t.Fatalf("dev ingest after restart = %d %s", code, body)
	}
	waitBody(t, hubURL+"/v1/admin/profiles/user_id:e2e-1", `"e2e-1"`, `"Came Back"`)
	dev.stop(t, syscall.SIGTERM)

	edge := start(t, bin, []string{"UCV_WRITE_KEYS=k1=till-7", "UCV_NODE_NAME=store-7", "UCV_CORS_ORIGINS=https://shop.example", "UCV_MAX_EVENT_AGE=30d"},
		"edge", "--data-dir", data, "--http-addr", "127.0.0.1:0")
	code, body = httpDo(t, "GET", edge.url+"/v1/profiles/user_id:e2e-1", "")
	if code != 200 || !strings.Contains(string(body), `"node":"store-7"`) {
		t.Fatalf("edge lookup after restart = %d %s", code, body)
	}
	if code, body := httpDo(t, "POST", edge.url+"/v1/track", `{"userId":"e2e-1","event":"Paid"}`); code != 401 {
		t.Errorf("edge ingest without key = %d %s, want 401", code, body)
	}
	if code, body := httpDo(t, "POST", edge.url+"/v1/track", `{"userId":"e2e-1","event":"Paid"}`, "X-Write-Key", "k1"); code != 200 {
		t.Errorf("edge ingest with key = %d %s", code, body)
	}
	code, body = httpDo(t, "GET", edge.url+"/v1/profiles/user_id:e2e-1", "")
	if code != 200 || !strings.Contains(string(body), `"sources":["till-7"]`) {
		t.Errorf("edge lookup = %d %s, want source till-7", code, body)
	}
	// UCV_CORS_ORIGINS and UCV_MAX_EVENT_AGE reach the API.
	if code, body := httpDo(t, "POST", edge.url+"/v1/track", `{"userId":"e2e-1","event":"Paid"}`, "X-Write-Key", "k1", "Origin", "https://evil.example"); code != 403 {
		t.Errorf("edge ingest from an origin not listed = %d %s, want 403", code, body)
	}
	old := time.Now().Add(-60 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if code, body := httpDo(t, "POST", edge.url+"/v1/track", `{"userId":"e2e-1","event":"Paid","timestamp":"`+old+`"}`, "X-Write-Key", "k1"); code != 400 || !strings.Contains(string(body), "timestamp") {
		t.Errorf("edge ingest of a 60-day-old event with a 30-day bound = %d %s, want 400 naming timestamp", code, body)
	}
	edge.stop(t, syscall.SIGINT)
}
