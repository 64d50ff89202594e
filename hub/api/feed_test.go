package api_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// TestFeedLongPollWaitsThroughNoNews: a waiting long-poll is woken by
// every command the FSM applies, but answers only when the feed has
// something after its cursor: a duplicate push and a refused unmerge
// (both committed, neither a change) leave it waiting; the next real
// change answers it.
func TestFeedLongPollWaitsThroughNoNews(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	d1 := e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Anon("a1")}})
	d2 := e.Delta(hubtest.Event{Profile: "p2", IDs: []profile.Identifier{hubtest.Anon("a2")}})
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "e1", d1)); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	_, b := do(t, "GET", url+"/v1/sync/feed?cursor=0", token, nil)
	first, err := replication.UnmarshalFeedResponse(b)
	if err != nil || len(first.Items) != 1 {
		t.Fatalf("feed = %+v %v", first, err)
	}
	waiting := func() string {
		_, b := do(t, "GET", url+"/metrics", "", nil)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "ucv_hub_feed_waiting "); ok {
				return v
			}
		}
		return ""
	}
	ch := longPoll(url + "/v1/sync/feed?wait=30s&cursor=" + strconv.FormatUint(first.Next, 10))
	// Parked: it has read the feed (nothing new) after taking the FSM's
	// watch channel, so what is applied from now on wakes it.
	for deadline := time.Now().Add(10 * time.Second); waiting() != "1"; {
		if time.Now().After(deadline) {
			t.Fatalf("the long-poll did not park: feed long-polls waiting = %q", waiting())
		}
		time.Sleep(time.Millisecond)
	}
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "e1", d1)); resp.StatusCode != 200 || ack(t, b).Status != replication.AckDuplicate {
		t.Fatalf("replayed push = %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", url+"/v1/admin/unmerge", admin, []byte(`{"a":"p1","b":"nobody"}`)); resp.StatusCode != 404 {
		t.Fatalf("unmerge with an unknown profile = %d %s, want 404", resp.StatusCode, b)
	}
	select {
	case r := <-ch:
		t.Fatalf("the long-poll answered without news: %+v %v", r.page, r.err)
	case <-time.After(100 * time.Millisecond): // it would answer within microseconds
	}
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "e1", d2)); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	select {
	case r := <-ch:
		if r.err != nil || len(r.page.Items) != 1 || r.page.Items[0].ID != "p2" || r.page.Next <= first.Next {
			t.Fatalf("long-poll after a change = %+v %v, want p2", r.page, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the long-poll did not answer a change within 10 s")
	}
	waitFor(t, "no long-poll waiting once it answered", func() bool { return waiting() == "0" })
}
