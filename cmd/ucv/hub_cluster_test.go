package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hubStatus reads GET /v1/admin/status: the leader ("" when unreachable)
// and how many members the node knows the HTTP URL of.
func hubStatus(h *hubProc) (leader string, peers int) { return hubStatusURL(h.url) }

// hubStatusURL is hubStatus of the node at url (admin token "at" sent).
func hubStatusURL(url string) (leader string, peers int) {
	return hubStatusWith(&http.Client{Timeout: 2 * time.Second}, url)
}

// hubStatusWith is hubStatusURL through client.
func hubStatusWith(client *http.Client, url string) (leader string, peers int) {
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/admin/status", nil)
	req.Header.Set("Authorization", "Bearer at")
	resp, err := client.Do(req)
	if err != nil {
		return "", 0
	}
	defer resp.Body.Close()
	var st struct {
		Leader string `json:"leader"`
		Peers  []struct {
			HTTPURL string `json:"http_url"`
		} `json:"peers"`
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return "", 0
	}
	for _, p := range st.Peers {
		if p.HTTPURL != "" {
			peers++
		}
	}
	return st.Leader, peers
}

// hubMembers reads the member IDs of the Raft configuration from the
// node's status (nil when unreachable).
func hubMembers(h *hubProc) []string {
	req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/admin/status", nil)
	req.Header.Set("Authorization", "Bearer at")
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var st struct {
		Peers []struct {
			ID string `json:"id"`
		} `json:"peers"`
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return nil
	}
	var ids []string
	for _, p := range st.Peers {
		ids = append(ids, p.ID)
	}
	return ids
}

// waitFor polls cond every 50 ms until it holds or d passes; the
// optional detail is reported on timeout.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool, detail ...*string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			for _, s := range detail {
				msg += "; " + *s
			}
			t.Fatalf("timed out after %v waiting for %s%s", d, what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *hubProc) log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stderr.String()
}

// orderCount reads a user's computed order count at an edge (-1 when the
// lookup fails).
func orderCount(edgeURL string, user int) int64 {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(fmt.Sprintf("%s/v1/profiles/user_id:user-%d", edgeURL, user))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var v struct {
		Computed struct {
			OrderCount int64 `json:"order_count"`
		} `json:"computed"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		return -1
	}
	return v.Computed.OrderCount
}

// TestHubClusterLeaderKill: three `ucv hub` (hub-1 bootstraps, hub-2
// joins through it, hub-3 joins through the follower hub-2, which names
// the leader) and two edges of different stores syncing with all three.
// Both edges take a stream of orders for the same users; the leader is
// SIGKILLed during the stream. The others elect a leader, the edges keep
// ingesting and resume syncing, and in the end each edge shows, for every
// user, exactly the orders acknowledged at both edges: nothing the hub
// acknowledged is lost, nothing is counted twice. The killed node is
// removed through the surviving follower; the two left still commit.
// Then a steward merges
// two people at the hub and unmerges them: both edges show one profile,
// then two again.
func TestHubClusterLeaderKill(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	h1 := startHub(t, bin, filepath.Join(dir, "hub-1"), "127.0.0.1:0", "127.0.0.1:0", "--bootstrap")
	waitFor(t, 20*time.Second, "hub-1 leads", func() bool { l, _ := hubStatus(h1); return l == "hub-1" })
	h2 := startHub(t, bin, filepath.Join(dir, "hub-2"), "127.0.0.1:0", "127.0.0.1:0", "--node-id", "hub-2", "--join", h1.url)
	waitFor(t, 20*time.Second, "hub-2 in the cluster", func() bool { l, _ := hubStatus(h2); return l == "hub-1" })
	h3 := startHub(t, bin, filepath.Join(dir, "hub-3"), "127.0.0.1:0", "127.0.0.1:0", "--node-id", "hub-3", "--join", h2.url)
	waitFor(t, 20*time.Second, "hub-3 in the cluster", func() bool { l, _ := hubStatus(h3); return l == "hub-1" })
	if !strings.Contains(h3.log(), "following the leader") {
		t.Errorf("hub-3 joined through a follower without following the leader:\n%s", h3.log())
	}
	hubs := map[string]*hubProc{"hub-1": h1, "hub-2": h2, "hub-3": h3}
	// Every node knows every member's URL (to forward after a failover).
	waitFor(t, 20*time.Second, "every hub to know 3 member URLs", func() bool {
		for _, h := range hubs {
			if _, n := hubStatus(h); n != 3 {
				return false
			}
		}
		return true
	})
	urls := h1.url + "," + h2.url + "," + h3.url
	edge := func(name string) *node {
		return start(t, bin, nil, "edge", "--data-dir", filepath.Join(dir, name), "--http-addr", "127.0.0.1:0",
			"--node-name", name, "--write-key", "k=pos", "--hub", urls, "--sync-token", "st")
	}
	edges := []*node{edge("store-1"), edge("store-2")}
	var diagHub string // a live hub node's URL, for the failure report
	// A failure under load once showed an edge whose hub sync had been
	// silent for 20 s: keep what the edges logged (warnings and errors).
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, n := range edges {
			var keep []string
			for _, l := range strings.Split(n.stderr.String(), "\n") {
				if !strings.Contains(l, `"level":"INFO"`) && l != "" {
					keep = append(keep, l)
				}
			}
			if len(keep) > 40 {
				keep = keep[len(keep)-40:]
			}
			t.Logf("edge %d log (last warnings):\n%s", i, strings.Join(keep, "\n"))
			for _, ref := range []string{"anonymous_id:anon-finn", "anonymous_id:anon-erin"} {
				_, b := httpDo(t, "GET", n.url+"/v1/profiles/"+ref+"/events", "")
				_, m := httpDo(t, "GET", n.url+"/v1/profiles/"+ref+"/merges", "")
				t.Logf("edge %d %s events: %.1500s\nmerges: %.1500s", i, ref, b, m)
			}
		}
		if diagHub != "" {
			for _, ref := range []string{"anonymous_id:anon-finn", "anonymous_id:anon-erin"} {
				_, b := httpDo(t, "GET", diagHub+"/v1/admin/profiles/"+ref, "", "Authorization", "Bearer at")
				t.Logf("hub %s: %.3000s", ref, b)
			}
		}
	})

	const users = 8
	var (
		acked [2][users]atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 3 * time.Second}
	for e, n := range edges {
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					user := (w*3 + i) % users
					body := fmt.Sprintf(`{"userId":"user-%d","messageId":"e%d-w%d-%d","event":"Order Completed","properties":{"total":1.25,"currency":"EUR"}}`, user, e, w, i)
					req, _ := http.NewRequest(http.MethodPost, n.url+"/v1/track", strings.NewReader(body))
					req.Header.Set("X-Write-Key", "k")
					resp, err := client.Do(req)
					if err != nil {
						t.Errorf("edge %d refused an event: %v", e, err) // the edges never depend on the hub
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Errorf("edge %d: POST /v1/track = %d", e, resp.StatusCode)
						return
					}
					acked[e][user].Add(1)
					time.Sleep(2 * time.Millisecond)
				}
			}()
		}
	}
	// Let the stream reach the hub, then kill the leader mid-stream.
	waitFor(t, 10*time.Second, "the first orders at the other edge", func() bool { return orderCount(edges[1].url, 0) > 0 && orderCount(edges[0].url, 3) > 0 })
	leader, _ := hubStatus(h1)
	dead := hubs[leader]
	if dead == nil {
		t.Fatalf("leader %q is not a known hub", leader)
	}
	dead.cmd.Process.Kill()
	killedAt := time.Now()
	var alive []*hubProc
	for id, h := range hubs {
		if id != leader {
			alive = append(alive, h)
		}
	}
	waitFor(t, 15*time.Second, "a new leader", func() bool {
		l0, _ := hubStatus(alive[0])
		l1, _ := hubStatus(alive[1])
		return l0 != "" && l0 != leader && l0 == l1
	})
	newLeader, _ := hubStatus(alive[0])
	t.Logf("killed leader %s; %s elected after %v", leader, newLeader, time.Since(killedAt).Round(time.Millisecond))
	// Keep streaming across the failover, then stop.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && !t.Failed() {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	want := make([]int64, users)
	var total int64
	for u := range users {
		want[u] = acked[0][u].Load() + acked[1][u].Load()
		total += want[u]
	}
	var last string
	waitFor(t, 20*time.Second, "both edges to converge on every order", func() bool {
		for e, n := range edges {
			for u := range users {
				if got := orderCount(n.url, u); got != want[u] {
					last = fmt.Sprintf("edge %d user-%d: %d orders, want %d", e, u, got, want[u])
					return false
				}
			}
		}
		return true
	}, &last)
	t.Logf("%d orders at 2 edges (%d users) converged on both edges", total, users)

	// The killed node is gone for good: an operator removes it through
	// the follower (which relays to the leader). Both survivors show the
	// two-member configuration, and the two still commit: an order at
	// one edge reaches the other through the hub.
	follower := alive[0]
	if l, _ := hubStatus(follower); hubs[l] == follower {
		follower = alive[1]
	}
	start := time.Now()
	if code, b := httpDo(t, "POST", follower.url+"/v1/admin/remove", fmt.Sprintf(`{"id":%q}`, leader), "Authorization", "Bearer at"); code != 200 {
		t.Fatalf("POST /v1/admin/remove %s via a follower = %d %s", leader, code, b)
	}
	var members string
	waitFor(t, 10*time.Second, "both survivors to show two members", func() bool {
		for _, h := range alive {
			ids := hubMembers(h)
			members = strings.Join(ids, ",")
			if len(ids) != 2 || slices.Contains(ids, leader) {
				return false
			}
		}
		return true
	}, &members)
	if code, b := httpDo(t, "POST", edges[0].url+"/v1/track", `{"userId":"user-after-remove","messageId":"after-remove","event":"Order Completed","properties":{"total":2,"currency":"EUR"}}`, "X-Write-Key", "k"); code != 200 {
		t.Fatalf("POST /v1/track after the removal = %d %s", code, b)
	}
	waitBody(t, edges[1].url+"/v1/profiles/user_id:user-after-remove", `"order_count":1`)
	t.Logf("removed %s via a follower; the two left commit again after %v", leader, time.Since(start).Round(time.Millisecond))

	// Exactly once across stores (issue 9 §1): a client retries an order
	// at the other store's edge after the first copy reached it through
	// the hub; both edges and the hub count it once.
	retried := `{"userId":"user-retry","messageId":"retried-order","event":"Order Completed","properties":{"total":"59.90","currency":"EUR"}}`
	for _, n := range edges {
		if code, b := httpDo(t, "POST", n.url+"/v1/track", retried, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("POST /v1/track (retried order) = %d %s", code, b)
		}
		for _, o := range edges {
			waitBody(t, o.url+"/v1/profiles/user_id:user-retry", `"order_count":1`)
		}
	}
	// A marker through the hub each way: by then every copy has arrived.
	for i, n := range edges {
		marker := fmt.Sprintf(`{"anonymousId":"anon-retry-marker-%d","messageId":"retry-marker-%d"}`, i, i)
		if code, b := httpDo(t, "POST", n.url+"/v1/identify", marker, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("POST /v1/identify = %d %s", code, b)
		}
		waitBody(t, edges[1-i].url+fmt.Sprintf("/v1/profiles/anonymous_id:anon-retry-marker-%d", i), "anon-retry-marker")
	}
	for _, n := range edges {
		waitBody(t, n.url+"/v1/profiles/user_id:user-retry", `"order_count":1`, `"minor_units":5990`)
	}
	waitFor(t, 30*time.Second, "the hub to count the retried order once", func() bool {
		for _, h := range alive {
			code, b := httpDo(t, "GET", h.url+"/v1/admin/profiles/user_id:user-retry", "", "Authorization", "Bearer at")
			last = fmt.Sprintf("%d %.1500s", code, b)
			if code != 200 || !strings.Contains(string(b), `"order_count":1`) || strings.Contains(string(b), `"order_count":2`) {
				return false
			}
		}
		return true
	}, &last)

	// Unmerge reaches the edges: two people (one per edge) merged by a
	// steward at the hub show as one profile on both edges, then as two
	// again after the steward unmerges them.
	post := func(n *node, body string) {
		t.Helper()
		if code, b := httpDo(t, "POST", n.url+"/v1/identify", body, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("POST /v1/identify = %d %s", code, b)
		}
	}
	post(edges[0], `{"anonymousId":"anon-carl","traits":{"email":"carl@example.com","name":"Carl"},"messageId":"c1"}`)
	post(edges[1], `{"anonymousId":"anon-dana","traits":{"email":"dana@example.com","name":"Dana"},"messageId":"d1"}`)
	for _, n := range edges {
		waitBody(t, n.url+"/v1/profiles/email:carl@example.com", `"anon-carl"`)
		waitBody(t, n.url+"/v1/profiles/email:dana@example.com", `"anon-dana"`)
	}
	admin := alive[0]
	diagHub = admin.url
	idOf := func(ref string) string { // this node may lag the leader a little
		t.Helper()
		var v struct {
			ID string `json:"id"`
		}
		var last string
		waitFor(t, 30*time.Second, "the hub node to hold "+ref, func() bool {
			code, b := httpDo(t, "GET", admin.url+"/v1/admin/profiles/"+ref, "", "Authorization", "Bearer at")
			last = fmt.Sprintf("%d %s", code, b)
			return code == 200 && json.Unmarshal(b, &v) == nil && v.ID != ""
		}, &last)
		return v.ID
	}
	carl, dana := idOf("email:carl@example.com"), idOf("email:dana@example.com")
	steward := func(op string, ab ...string) {
		t.Helper()
		a, b := carl, dana
		if len(ab) == 2 {
			a, b = ab[0], ab[1]
		}
		body := fmt.Sprintf(`{"a":%q,"b":%q,"actor":"test","reason":"%s by hand"}`, a, b, op)
		if code, b := httpDo(t, "POST", admin.url+"/v1/admin/"+op, body, "Authorization", "Bearer at"); code != 200 {
			t.Fatalf("POST /v1/admin/%s = %d %s", op, code, b)
		}
	}
	steward("merge")
	for _, n := range edges {
		waitBody(t, n.url+"/v1/profiles/email:carl@example.com", `"anon-carl"`, `"anon-dana"`)
	}
	steward("unmerge")
	for e, n := range edges {
		var last string
		waitFor(t, 20*time.Second, fmt.Sprintf("edge %d to show Carl and Dana apart", e), func() bool {
			_, c := httpDo(t, "GET", n.url+"/v1/profiles/email:carl@example.com", "")
			_, d := httpDo(t, "GET", n.url+"/v1/profiles/email:dana@example.com", "")
			last = string(c) + "\n" + string(d)
			return strings.Contains(string(c), `"anon-carl"`) && !strings.Contains(string(c), `"anon-dana"`) &&
				strings.Contains(string(d), `"anon-dana"`) && !strings.Contains(string(d), `"anon-carl"`)
		}, &last)
	}

	// The unmerge sticks (docs/decisions/0022-hub-unmerge-on-edges.md):
	// Erin (edge 0) and Finn (edge 1) share an e-mail, so the hub merges
	// them by its rules and both edges show one profile. A steward
	// unmerges them; then events carrying the shared e-mail at both edges
	// leave them apart on both edges and at the hub, though each edge's
	// own rules would link them by it.
	sticky := time.Now()
	// Two people first, each on the edge that saw them (without the
	// e-mail: had edge 1 learned Erin's e-mail before Finn's first event,
	// it would file Finn under Erin's profile and the hub would hold one
	// fragment, not two people to unmerge — a stress run caught that).
	// No names: two different given names on one e-mail are two people
	// the hub keeps apart by itself (decision 0061 §8), and this test
	// needs the hub to merge them first.
	post(edges[0], `{"anonymousId":"anon-erin","traits":{"loyalty_tier":"gold"},"messageId":"erin-0"}`)
	post(edges[1], `{"anonymousId":"anon-finn","traits":{"loyalty_tier":"silver"},"messageId":"finn-0"}`)
	waitBody(t, edges[1].url+"/v1/profiles/anonymous_id:anon-erin", `"anon-erin"`)
	waitBody(t, edges[0].url+"/v1/profiles/anonymous_id:anon-finn", `"anon-finn"`)
	post(edges[0], `{"anonymousId":"anon-erin","traits":{"email":"family@example.com"},"messageId":"erin-1"}`)
	post(edges[1], `{"anonymousId":"anon-finn","traits":{"email":"family@example.com"},"messageId":"finn-1"}`)
	for _, n := range edges {
		waitBody(t, n.url+"/v1/profiles/anonymous_id:anon-erin", `"anon-erin"`, `"anon-finn"`)
	}
	var merged struct {
		Fragments map[string]json.RawMessage `json:"fragments"`
	}
	var lastErin string
	waitFor(t, 30*time.Second, "the hub node to hold Erin and Finn as one", func() bool {
		code, b := httpDo(t, "GET", admin.url+"/v1/admin/profiles/anonymous_id:anon-erin", "", "Authorization", "Bearer at")
		lastErin = fmt.Sprintf("%d %.2000s", code, b)
		return code == 200 && json.Unmarshal(b, &merged) == nil && len(merged.Fragments) == 2
	}, &lastErin)
	var pair []string
	for id := range merged.Fragments {
		pair = append(pair, id)
	}
	steward("unmerge", pair[0], pair[1])
	apart := func(where, url string, hdr ...string) func() bool {
		return func() bool {
			_, e := httpDo(t, "GET", url+"anonymous_id:anon-erin", "", hdr...)
			_, f := httpDo(t, "GET", url+"anonymous_id:anon-finn", "", hdr...)
			last = where + ":\n" + string(e) + "\n" + string(f)
			return strings.Contains(string(e), `"anon-erin"`) && !strings.Contains(string(e), `"anon-finn"`) &&
				strings.Contains(string(f), `"anon-finn"`) && !strings.Contains(string(f), `"anon-erin"`)
		}
	}
	for e, n := range edges {
		waitFor(t, 20*time.Second, fmt.Sprintf("edge %d to show Erin and Finn apart", e), apart("edge", n.url+"/v1/profiles/"), &last)
	}
	track := func(n *node, anon, id, event string) {
		t.Helper()
		body := fmt.Sprintf(`{"anonymousId":%q,"messageId":%q,"event":%q,"context":{"traits":{"email":"family@example.com"}}}`, anon, id, event)
		if code, b := httpDo(t, "POST", n.url+"/v1/track", body, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("POST /v1/track = %d %s", code, b)
		}
	}
	track(edges[0], "anon-erin", "erin-2", "Erin Again")
	track(edges[1], "anon-finn", "finn-2", "Finn Again")
	track(edges[0], "anon-kiosk", "kiosk-1", "Kiosk Visit") // the e-mail and a new device
	// Each event reaches the other edge on its own person, then a marker
	// goes round both ways: a merge either edge pushed meanwhile would
	// have come back by then.
	waitBody(t, edges[1].url+"/v1/profiles/anonymous_id:anon-erin", `"Erin Again"`)
	waitBody(t, edges[0].url+"/v1/profiles/anonymous_id:anon-finn", `"Finn Again"`)
	waitBody(t, edges[1].url+"/v1/profiles/anonymous_id:anon-kiosk", `"Kiosk Visit"`)
	post(edges[1], `{"anonymousId":"anon-marker-1","messageId":"marker-1"}`)
	waitBody(t, edges[0].url+"/v1/profiles/anonymous_id:anon-marker-1", `"anon-marker-1"`)
	post(edges[0], `{"anonymousId":"anon-marker-0","messageId":"marker-0"}`)
	waitBody(t, edges[1].url+"/v1/profiles/anonymous_id:anon-marker-0", `"anon-marker-0"`)
	for e, n := range edges {
		if !apart("edge", n.url+"/v1/profiles/")() {
			t.Errorf("edge %d re-merged Erin and Finn after the unmerge: %s", e, last)
		}
	}
	waitFor(t, 30*time.Second, "the hub node to catch up", func() bool {
		code, b := httpDo(t, "GET", admin.url+"/v1/admin/profiles/anonymous_id:anon-marker-0", "", "Authorization", "Bearer at")
		return code == 200 && strings.Contains(string(b), "anon-marker-0")
	})
	if !apart("hub", admin.url+"/v1/admin/profiles/", "Authorization", "Bearer at")() {
		t.Errorf("the hub re-merged Erin and Finn after the unmerge: %s", last)
	}
	t.Logf("unmerge of two people sharing an e-mail stuck on both edges and the hub (%v)", time.Since(sticky).Round(time.Millisecond))
}
