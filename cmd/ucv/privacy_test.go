package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The person every erasure test identifies: each marker must be gone from
// every data directory once the request is done.
var (
	erasedEmail = "zelda.quist@example.org"
	erasedPhone = "+14155550199"
	erasedName  = "Zelda Quistorff"
	erasedTrait = "left-handed-harpist"
)

func erasedMarkers() []string {
	// The phone as ingested and as stored (E.164); the name's parts.
	return []string{erasedEmail, erasedPhone, "4155550199", erasedName, "Quistorff", erasedTrait}
}

// grepDirs reads every file under dirs and returns "file: marker" for
// each marker found in its bytes (grep -a).
func grepDirs(t *testing.T, markers []string, dirs ...string) []string {
	t.Helper()
	var found []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range markers {
				if bytes.Contains(b, []byte(m)) {
					found = append(found, path+": "+m)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return found
}

type privacyRequest struct {
	ID     string            `json:"id"`
	Type   string            `json:"type"`
	Status string            `json:"status"`
	Edges  map[string]string `json:"edges"`
	Hub    map[string]string `json:"hub"`
}

func privacyStatus(t *testing.T, hubURL, id string) privacyRequest {
	t.Helper()
	code, b := httpDo(t, "GET", hubURL+"/v1/admin/privacy/requests/"+id, "", "Authorization", "Bearer at")
	if code != 200 {
		t.Fatalf("GET request %s = %d %s", id, code, b)
	}
	var r privacyRequest
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("request %s: %v in %s", id, err, b)
	}
	return r
}

func postPrivacy(t *testing.T, hubURL, typ, identifier string) string {
	t.Helper()
	code, b := httpDo(t, "POST", hubURL+"/v1/admin/privacy/requests",
		`{"type":"`+typ+`","identifier":"`+identifier+`"}`, "Authorization", "Bearer at")
	if code != 202 {
		t.Fatalf("POST privacy request = %d %s", code, b)
	}
	var r privacyRequest
	if err := json.Unmarshal(b, &r); err != nil || r.ID == "" || r.Status != "pending" {
		t.Fatalf("POST privacy request answered %s (%v)", b, err)
	}
	return r.ID
}

// identifyErased identifies the person on an edge with e-mail, phone,
// name and a trait, then tracks an order.
func identifyErased(t *testing.T, url string) {
	t.Helper()
	for _, m := range []struct{ path, body string }{
		{"/v1/identify", `{"userId":"u-zq","traits":{"email":"` + erasedEmail + `","phone":"` + erasedPhone +
			`","name":"` + erasedName + `","hobby":"` + erasedTrait + `"},"messageId":"zq-1"}`},
		{"/v1/track", `{"userId":"u-zq","event":"Order Completed","properties":{"total":12.5,"currency":"EUR"},"messageId":"zq-2"}`},
		{"/v1/identify", `{"userId":"u-zq","traits":{"name":"` + erasedName + `","hobby":"` + erasedTrait + `"},"messageId":"zq-3"}`},
	} {
		if code, b := httpDo(t, "POST", url+m.path, m.body, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("POST %s = %d %s", m.path, code, b)
		}
	}
}

// erasedRefs are the lookups that must answer 404 once the person is erased.
func erasedRefs() []string {
	return []string{"email:" + erasedEmail, "phone:" + erasedPhone, "user_id:u-zq"}
}

func waitGone(t *testing.T, what, base string) {
	t.Helper()
	for _, ref := range erasedRefs() {
		waitFor(t, 60*time.Second, what+" forgets "+ref, func() bool {
			code, _ := httpDo(t, "GET", base+ref, "")
			return code == 404
		})
	}
}

// TestErasureProcesses is issue 12's scenario: a hub and two edges; the
// person is identified on edge 1 and reaches edge 2; edge 2 stops; the
// erasure waits for it; edge 2 returns and confirms; the person answers
// 404 everywhere and no data directory holds a byte of them.
func TestErasureProcesses(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	hubDir := filepath.Join(dir, "hub")
	h := startHub(t, bin, hubDir, "127.0.0.1:0", "127.0.0.1:0", "--bootstrap")
	edge := func(name, addr string) *node {
		return start(t, bin, nil, "edge", "--data-dir", filepath.Join(dir, name), "--http-addr", addr,
			"--node-name", name, "--write-key", "k=pos", "--hub", h.url, "--sync-token", "st")
	}
	e1, e2 := edge("store-1", "127.0.0.1:0"), edge("store-2", "127.0.0.1:0")
	// Both edges must be known to the hub before the request (registered edges).
	for i, n := range []*node{e1, e2} {
		if code, b := httpDo(t, "POST", n.url+"/v1/identify", `{"userId":"u-other-`+string(rune('a'+i))+`","traits":{"plan":"basic"},"messageId":"other-`+string(rune('a'+i))+`"}`, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("identify = %d %s", code, b)
		}
	}
	identifyErased(t, e1.url)
	waitBody(t, e2.url+"/v1/profiles/email:"+erasedEmail, erasedName, `"u-zq"`)
	waitAdmin(t, h.url+"/v1/admin/profiles/email:"+erasedEmail, "u-zq")
	waitFor(t, 60*time.Second, "the hub knows both edges", func() bool {
		code, b := httpDo(t, "GET", h.url+"/v1/admin/edges", "", "Authorization", "Bearer at")
		return code == 200 && strings.Count(string(b), `"edge"`) >= 2
	})
	if found := grepDirs(t, erasedMarkers(), dir); len(found) == 0 {
		t.Fatal("control: no data directory holds the person before the erasure")
	}

	e2addr := strings.TrimPrefix(e2.url, "http://")
	e2.stop(t, syscall.SIGTERM)
	id := postPrivacy(t, h.url, "erase", "email:"+erasedEmail)
	waitGone(t, "edge 1", e1.url+"/v1/profiles/")
	// Edge 2 is away: the request waits for it.
	waitFor(t, 60*time.Second, "edge 1's receipt", func() bool {
		r := privacyStatus(t, h.url, id)
		done := 0
		for _, s := range r.Edges {
			if s == "done" {
				done++
			}
		}
		return done == 1
	})
	time.Sleep(500 * time.Millisecond) // a done request would show it by now
	if r := privacyStatus(t, h.url, id); r.Status != "pending" || len(r.Edges) != 2 {
		t.Fatalf("with edge 2 away the request is %+v, want pending with two edges", r)
	}

	e2 = edge("store-2", e2addr)
	waitFor(t, 60*time.Second, "the request to complete", func() bool { return privacyStatus(t, h.url, id).Status == "done" })
	waitGone(t, "edge 2", e2.url+"/v1/profiles/")
	waitGone(t, "edge 1", e1.url+"/v1/profiles/")
	for _, ref := range erasedRefs() {
		if code, b := httpDo(t, "GET", h.url+"/v1/admin/profiles/"+ref, "", "Authorization", "Bearer at"); code != 404 {
			t.Fatalf("hub lookup %s after erasure = %d %s", ref, code, b)
		}
	}
	// The other people are untouched.
	waitBody(t, e2.url+"/v1/profiles/user_id:u-other-a", `"basic"`)
	if found := grepDirs(t, erasedMarkers(), dir); len(found) > 0 {
		t.Fatalf("the erased person is still on disk:\n%s", strings.Join(found, "\n"))
	}
}

// TestErasureGossipReturn: two edges of one store gossip and sync with the
// hub; edge B is away during the erasure and comes back by gossip first
// (no hub): its peer erases it, and its old state cannot bring the person
// back. Then it reaches the hub, confirms, and the request is done with
// no byte of the person left in any data directory.
func TestErasureGossipReturn(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	h := startHub(t, bin, filepath.Join(dir, "hub"), "127.0.0.1:0", "127.0.0.1:0", "--bootstrap")
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	withHub := []string{"--hub", h.url, "--sync-token", "st"}
	a := startGossipEdgeWith(t, bin, "till-a", filepath.Join(dir, "a"), "127.0.0.1:0", key, withHub)
	b := startGossipEdgeWith(t, bin, "till-b", filepath.Join(dir, "b"), "127.0.0.1:0", key, withHub, a.gossip)
	for i, g := range []*gossipEdge{a, b} {
		if code, body := httpDo(t, "POST", g.url+"/v1/identify", fmt.Sprintf(`{"userId":"u-other-%d","traits":{"plan":"basic"},"messageId":"other-%d"}`, i, i), "X-Write-Key", "k"); code != 200 {
			t.Fatalf("identify = %d %s", code, body)
		}
	}
	identifyErased(t, a.url)
	waitLookup(t, b, "/v1/profiles/email:"+erasedEmail, erasedName)
	waitFor(t, 60*time.Second, "the hub knows both edges", func() bool {
		code, body := httpDo(t, "GET", h.url+"/v1/admin/edges", "", "Authorization", "Bearer at")
		return code == 200 && strings.Count(string(body), `"edge"`) >= 2
	})
	waitAdmin(t, h.url+"/v1/admin/profiles/email:"+erasedEmail, "u-zq")
	if found := grepDirs(t, erasedMarkers(), filepath.Join(dir, "b")); len(found) == 0 {
		t.Fatal("control: edge B's data directory does not hold the person before the erasure")
	}

	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
	id := postPrivacy(t, h.url, "erase", "email:"+erasedEmail)
	waitGone(t, "edge A", a.url+"/v1/profiles/")

	// B returns by gossip only: A's erased states reach it, its own old
	// state loses.
	b = startGossipEdgeWith(t, bin, "till-b", filepath.Join(dir, "b"), b.gossip, key, nil, a.gossip)
	waitGone(t, "edge B (by gossip)", b.url+"/v1/profiles/")
	// Let anti-entropy run both ways before looking for a resurrection:
	// two more digest comparisons on each edge than now.
	const rounds = "ucv_gossip_antientropy_rounds_total"
	ra, rb := metricValue(t, a.url, rounds), metricValue(t, b.url, rounds)
	waitFor(t, 60*time.Second, "two anti-entropy rounds on each edge", func() bool {
		return metricValue(t, a.url, rounds) >= ra+2 && metricValue(t, b.url, rounds) >= rb+2
	})
	for _, g := range []*gossipEdge{a, b} {
		for _, ref := range erasedRefs() {
			if code, body := httpDo(t, "GET", g.url+"/v1/profiles/"+ref, ""); code != 404 {
				t.Fatalf("%s resurrected %s: %d %s", g.url, ref, code, body)
			}
		}
	}
	if r := privacyStatus(t, h.url, id); r.Status != "pending" {
		t.Fatalf("before B reached the hub the request is %+v, want pending", r)
	}

	// B reaches the hub: it confirms and the request completes.
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
	b = startGossipEdgeWith(t, bin, "till-b", filepath.Join(dir, "b"), b.gossip, key, withHub, a.gossip)
	waitFor(t, 60*time.Second, "the request to complete", func() bool { return privacyStatus(t, h.url, id).Status == "done" })
	waitLookup(t, b, "/v1/profiles/user_id:u-other-0", `"basic"`)
	for _, g := range []*gossipEdge{a, b} {
		for _, ref := range erasedRefs() {
			if code, body := httpDo(t, "GET", g.url+"/v1/profiles/"+ref, ""); code != 404 {
				t.Fatalf("%s: %s after done: %d %s", g.url, ref, code, body)
			}
		}
	}
	if found := grepDirs(t, erasedMarkers(), dir); len(found) > 0 {
		t.Fatalf("the erased person is still on disk:\n%s", strings.Join(found, "\n"))
	}
}

// waitAdmin polls an admin GET (the shortcut admin token) until its body
// holds want.
func waitAdmin(t *testing.T, url, want string) {
	t.Helper()
	var body []byte
	waitFor(t, 30*time.Second, "GET "+url+" to hold "+want, func() bool {
		_, body = httpDo(t, "GET", url, "", "Authorization", "Bearer at")
		return strings.Contains(string(body), want)
	})
}

// metricValue reads one sample of a Prometheus metric from url/metrics
// (-1 when it is absent).
func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	_, b := httpDo(t, "GET", url+"/metrics", "")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}

// TestSuppressionProcesses: a hub and an edge; the e-mail is suppressed
// at the hub; the edge accepts its events (200, as Segment does), counts
// them as suppressed and stores nothing; other people are unaffected;
// after unsuppress new events go through.
func TestSuppressionProcesses(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	h := startHub(t, bin, filepath.Join(dir, "hub"), "127.0.0.1:0", "127.0.0.1:0", "--bootstrap")
	e := start(t, bin, nil, "edge", "--data-dir", filepath.Join(dir, "store-1"), "--http-addr", "127.0.0.1:0",
		"--node-name", "store-1", "--write-key", "k=pos", "--hub", h.url, "--sync-token", "st")
	post := func(path, body string) {
		t.Helper()
		if code, b := httpDo(t, "POST", e.url+path, body, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("POST %s = %d %s", path, code, b)
		}
	}
	post("/v1/identify", `{"userId":"u-bob","traits":{"plan":"basic"},"messageId":"bob-1"}`)
	waitFor(t, 60*time.Second, "the hub to know the edge", func() bool {
		code, b := httpDo(t, "GET", h.url+"/v1/admin/edges", "", "Authorization", "Bearer at")
		return code == 200 && strings.Contains(string(b), `"edge"`)
	})
	id := postPrivacy(t, h.url, "suppress", "email:"+erasedEmail)
	waitFor(t, 60*time.Second, "the suppression to reach the edge", func() bool { return privacyStatus(t, h.url, id).Status == "done" })

	before := metricValue(t, e.url, "ucv_edge_events_suppressed_total")
	// Upper case and a display-free form: the edge normalises before hashing.
	post("/v1/identify", `{"anonymousId":"anon-sup","traits":{"email":"`+strings.ToUpper(erasedEmail)+`","name":"`+erasedName+`"},"messageId":"sup-1"}`)
	post("/v1/batch", `{"batch":[{"type":"track","event":"Viewed","anonymousId":"anon-sup-2","context":{"traits":{"email":"`+erasedEmail+`"}},"messageId":"sup-2"},`+
		`{"type":"track","event":"Viewed","userId":"u-bob","messageId":"bob-2"}]}`)
	// A scrape shows what is applied (it does not wait for the applier).
	var got float64
	waitFor(t, 30*time.Second, "the suppressed events to be counted", func() bool {
		got = metricValue(t, e.url, "ucv_edge_events_suppressed_total")
		return got >= before+2
	})
	if got != before+2 {
		t.Fatalf("suppressed counter went %v → %v, want +2", before, got)
	}
	for _, ref := range []string{"email:" + erasedEmail, "anonymous_id:anon-sup", "anonymous_id:anon-sup-2"} {
		if code, b := httpDo(t, "GET", e.url+"/v1/profiles/"+ref, ""); code != 404 {
			t.Fatalf("suppressed %s stored: %d %s", ref, code, b)
		}
	}
	waitBody(t, e.url+"/v1/profiles/user_id:u-bob/events", `"Viewed"`)

	id = postPrivacy(t, h.url, "unsuppress", "email:"+erasedEmail)
	waitFor(t, 60*time.Second, "the unsuppression to reach the edge", func() bool { return privacyStatus(t, h.url, id).Status == "done" })
	post("/v1/identify", `{"anonymousId":"anon-sup","traits":{"email":"`+erasedEmail+`"},"messageId":"sup-3"}`)
	waitBody(t, e.url+"/v1/profiles/email:"+erasedEmail, `"anon-sup"`)
	if code, b := httpDo(t, "GET", e.url+"/v1/profiles/email:"+erasedEmail+"/events", ""); code != 200 || strings.Contains(string(b), `"sup-1"`) {
		t.Fatalf("events after unsuppress = %d %s; the suppressed sup-1 must not be there", code, b)
	}
}
