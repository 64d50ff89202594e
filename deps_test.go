// Package ucv_test holds repository-wide checks: the dependency direction
// between our packages, the one home of each third-party library, and
// that every package documents itself.
package ucv_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath   string
	Doc          string
	Standard     bool
	Deps         []string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Name         string
}

func list(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// isStd reports whether an import path is in the standard library (no dot
// in the first element).
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".") && first != "ucv"
}

// within reports whether path is pkg or one of its subpackages.
func within(path, pkg string) bool {
	return path == pkg || strings.HasPrefix(path, pkg+"/")
}

// imports of p as written in its non-test and its test files; the
// package's own path (an external test imports it) is left out.
func testImports(p pkg) []string {
	var out []string
	for _, imp := range append(slices.Clone(p.TestImports), p.XTestImports...) {
		if imp != p.ImportPath {
			out = append(out, imp)
		}
	}
	return out
}

func TestDependencyDirection(t *testing.T) {
	banned := map[string][]string{
		// crdt is pure: the standard library only.
		"ucv/crdt": nil,
		// profile is the domain: no storage, no network, no replication.
		"ucv/profile": {"go.etcd.io/bbolt", "github.com/valyala/fasthttp", "github.com/hashicorp/", "net/http", "ucv/edge", "ucv/hub", "ucv/replication", "os/exec", "database/sql"},
		// identity resolution is pure logic the Raft FSM calls.
		"ucv/hub/identity": {"go.etcd.io/bbolt", "github.com/valyala/fasthttp", "github.com/hashicorp/", "net/http", "ucv/edge"},
	}
	for path, ban := range banned {
		ps := list(t, path)
		if len(ps) == 0 {
			continue
		}
		for _, dep := range ps[0].Deps {
			if path == "ucv/crdt" && !isStd(dep) {
				t.Errorf("%s imports %s; crdt may use only the standard library", path, dep)
			}
			for _, b := range ban {
				if dep == b || (strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b)) || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s depends on %s, which it must not", path, dep)
				}
			}
		}
	}
	// Pure packages open no sockets: they may not import net directly
	// (net/mail, which parses addresses, pulls it in transitively).
	for path := range banned {
		for _, p := range list(t, path) {
			if slices.Contains(p.Imports, "net") {
				t.Errorf("%s imports net", path)
			}
		}
	}
}

// layers ranks our packages; an import may only point to a lower rank.
// edge and hub share a rank and never import each other (the edge talks
// to the hub over HTTP through replication's wire types); metric, the
// home of the metrics library, sits with crdt at the bottom, and
// tlsconf, which every TLS link is built from, well below edge and hub.
// Only bench, cmd and integration (tests of edges and hubs together) see
// both edge and hub, and only cmd imports bench.
var layers = []struct {
	pkgs []string
	rank int
}{
	{[]string{"ucv/crdt", "ucv/metric", "ucv/parallel", "ucv/gcpolicy"}, 0},
	{[]string{"ucv/profile"}, 1},
	{[]string{"ucv/tlsconf"}, 1},
	{[]string{"ucv/replication"}, 2},
	{[]string{"ucv/edge"}, 3},
	{[]string{"ucv/hub"}, 3},
	{[]string{"ucv/bench"}, 4},
	{[]string{"ucv/cmd", "ucv/integration"}, 5},
}

func rank(path string) (rank int, top string, ok bool) {
	for _, l := range layers {
		for _, p := range l.pkgs {
			if within(path, p) {
				return l.rank, p, true
			}
		}
	}
	return 0, "", false
}

// TestLayers holds every package, its tests included, to the layering:
// imports point down, edge and hub never import each other, and bench is
// imported only by cmd.
func TestLayers(t *testing.T) {
	for _, p := range list(t, "./...") {
		if p.ImportPath == "ucv" {
			continue // this file
		}
		pr, ptop, ok := rank(p.ImportPath)
		if !ok {
			t.Errorf("package %s has no layer: add it to layers in deps_test.go", p.ImportPath)
			continue
		}
		check := func(imp, how string) {
			if !within(imp, "ucv") {
				return
			}
			ir, itop, ok := rank(imp)
			switch {
			case !ok:
				t.Errorf("%s %s %s, which has no layer", p.ImportPath, how, imp)
			case ir > pr:
				t.Errorf("%s %s %s: imports point down (%s is above %s)", p.ImportPath, how, imp, itop, ptop)
			case ir == pr && itop != ptop:
				t.Errorf("%s %s %s: %s and %s must not import each other", p.ImportPath, how, imp, ptop, itop)
			case within(imp, "ucv/bench") && !within(p.ImportPath, "ucv/cmd") && !within(p.ImportPath, "ucv/bench"):
				t.Errorf("%s %s %s: only cmd may import bench", p.ImportPath, how, imp)
			}
		}
		for _, imp := range p.Deps {
			check(imp, "depends on")
		}
		for _, imp := range testImports(p) {
			check(imp, "imports in its tests")
		}
	}
}

// homes is the one package each third-party library lives in: upgrading
// or replacing a library touches that package alone, and nothing else
// grows a dependency on it. Keys are module paths.
var homes = map[string]string{
	"github.com/hashicorp/raft":             "ucv/hub",
	"github.com/hashicorp/raft-boltdb/v2":   "ucv/hub",
	"github.com/hashicorp/go-hclog":         "ucv/hub", // raft's logger, fed from the hub's slog
	"github.com/google/btree":               "ucv/hub",
	"github.com/hashicorp/memberlist":       "ucv/edge/gossip",
	"go.etcd.io/bbolt":                      "ucv/edge/store",
	"github.com/oklog/ulid/v2":              "ucv/edge/store",
	"github.com/valyala/fasthttp":           "ucv/edge/api",
	"github.com/prometheus/client_golang":   "ucv/metric",
	"github.com/klauspost/compress":         "ucv/crdt/codec",
	"github.com/vmihailenco/msgpack/v5":     "ucv/crdt/codec",
	"github.com/nyaruka/phonenumbers":       "ucv/profile",
	"github.com/schollz/progressbar/v3":     "ucv/cmd/ucv",
	"golang.org/x/crypto":                   "ucv/hub/token",    // bcrypt for the hub's tokens file
	"golang.org/x/text":                     "ucv/hub/identity", // canonical decomposition folds the diacritics of names
	"gonum.org/v1/gonum":                    "ucv/profile/clv",  // optimisation and special functions of the customer-value models
	"github.com/google/cel-go":              "ucv/profile/expr", // audience expressions
	"github.com/KimMachineGun/automemlimit": "ucv/gcpolicy",     // the hub's soft memory limit from the cgroup or the machine
	"github.com/cespare/xxhash/v2":          "ucv/edge/store",   // the store digest's item hash (decision 0118)
}

// alsoHome names the test harnesses that build on their home package's
// library, with why; a harness is imported only by tests.
var alsoHome = map[string]map[string]string{
	"github.com/hashicorp/raft": {
		"ucv/hub/hubtest": "in-process clusters run on raft's InmemTransport and in-memory stores, which only raft provides",
	},
	"github.com/hashicorp/memberlist": {
		"ucv/edge/edgetest": "the in-memory network implements memberlist.Transport for in-process gossip clusters",
	},
}

// alsoHomeOf names the subpackages of a library's home that use the
// library on the home's behalf (imported by the home, not by tests
// only), with why.
var alsoHomeOf = map[string]map[string]string{
	"github.com/hashicorp/raft": {
		"ucv/hub/seal": "seals raft.LogStore and raft.SnapshotStore, raft's own interfaces, for hub's Raft node",
	},
	"github.com/hashicorp/raft-boltdb/v2": {
		"ucv/hub/seal": "rewrites a raft.db from before sealing into a sealed one (MigrateBolt)",
	},
}

// testOnly are libraries for tests: any package's tests may import them,
// no package's code may.
var testOnly = []string{"github.com/google/go-cmp", "pgregory.net/rapid"}

func module(imp string) (string, bool) {
	for m := range homes {
		if within(imp, m) {
			return m, true
		}
	}
	return "", false
}

func TestOneHomePerLibrary(t *testing.T) {
	for _, p := range list(t, "./...") {
		allowed := func(m string) bool {
			_, also := alsoHome[m][p.ImportPath]
			_, sub := alsoHomeOf[m][p.ImportPath]
			return homes[m] == p.ImportPath || also || sub
		}
		for _, imp := range p.Imports {
			if isStd(imp) || within(imp, "ucv") {
				continue
			}
			if slices.ContainsFunc(testOnly, func(m string) bool { return within(imp, m) }) {
				t.Errorf("%s imports %s, a test-only library, outside its tests", p.ImportPath, imp)
				continue
			}
			m, ok := module(imp)
			switch {
			case !ok:
				t.Errorf("%s imports %s, which has no home: add its module to homes in deps_test.go", p.ImportPath, imp)
			case !allowed(m):
				t.Errorf("%s imports %s, whose home is %s", p.ImportPath, imp, homes[m])
			}
		}
		for _, imp := range testImports(p) {
			if isStd(imp) || within(imp, "ucv") || slices.ContainsFunc(testOnly, func(m string) bool { return within(imp, m) }) {
				continue
			}
			if m, ok := module(imp); !ok || !allowed(m) {
				t.Errorf("%s imports %s in its tests; only its home %s (or a harness) may", p.ImportPath, imp, homes[m])
			}
		}
	}
	// A harness serves tests only.
	for _, p := range list(t, "./...") {
		for _, harnesses := range alsoHome {
			for h := range harnesses {
				if slices.Contains(p.Imports, h) {
					t.Errorf("%s imports the test harness %s outside its tests", p.ImportPath, h)
				}
			}
		}
	}
}

// TestOneHomeForTLS: crypto/tls and crypto/x509 are set up in tlsconf
// alone — versions, verification, reloading — so no link can drift to
// weaker settings; other packages get net.Listeners, net.Conns and
// http.Transports from it. Tests may build odd clients of their own.
func TestOneHomeForTLS(t *testing.T) {
	// Packages that name a crypto/tls type without configuring anything.
	typeOnly := map[string]string{
		// headTLSConn must keep a wrapped connection's ConnectionState
		// method so fasthttp still treats it as TLS (0027).
		"ucv/edge/api": "crypto/tls",
	}
	for _, p := range list(t, "./...") {
		if within(p.ImportPath, "ucv/tlsconf") {
			continue
		}
		for _, imp := range p.Imports {
			if (imp == "crypto/tls" || imp == "crypto/x509") && typeOnly[p.ImportPath] != imp {
				t.Errorf("%s imports %s; TLS is set up in ucv/tlsconf", p.ImportPath, imp)
			}
		}
	}
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range list(t, "./...") {
		if p.Name == "main" || strings.HasSuffix(p.ImportPath, "_test") || p.ImportPath == "ucv" {
			continue
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}
