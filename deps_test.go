// Package ucv_test holds repository-wide checks: the dependency direction
// between our packages and that every package documents itself.
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
	ImportPath string
	Doc        string
	Standard   bool
	Deps       []string
	Imports    []string
	Name       string
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
	// Lower layers never import higher ones.
	order := []string{"ucv/crdt", "ucv/profile", "ucv/replication", "ucv/edge", "ucv/hub", "ucv/cmd"}
	for _, p := range list(t, "./...") {
		rank := slices.IndexFunc(order, func(o string) bool { return p.ImportPath == o || strings.HasPrefix(p.ImportPath, o+"/") })
		if rank < 0 {
			continue
		}
		for _, dep := range p.Deps {
			dr := slices.IndexFunc(order, func(o string) bool { return dep == o || strings.HasPrefix(dep, o+"/") })
			if dr > rank && !(rank == 3 && dr == 4) && !(rank == 4 && dr == 3) {
				t.Errorf("%s imports %s: dependencies point down (%v)", p.ImportPath, dep, order)
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
