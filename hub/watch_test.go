package hub_test

import (
	"bytes"
	"sync"
	"testing"

	"ucv/hub/hubtest"
	"ucv/profile"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestWatch: Watch's channel stays open until the state moves, is closed
// by the next Apply (a refused or duplicate command too: the index
// moved) and by Restore, and a new Watch returns a new, open channel.
// Readers waiting concurrently with Apply are all woken (run with -race).
func TestWatch(t *testing.T) {
	l := newLog(t)
	idx, ch := l.f.Watch()
	if idx != 0 || closed(ch) {
		t.Fatalf("Watch on an empty FSM = %d, closed %v; want 0, open", idx, closed(ch))
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ch
			if idx, _ := l.f.Watch(); idx == 0 {
				t.Error("woken before the index moved")
			}
		}()
	}
	twoStores(l)
	wg.Wait()
	idx, ch = l.f.Watch()
	if idx != 2 || closed(ch) {
		t.Fatalf("Watch after two commands = %d, closed %v; want 2, open", idx, closed(ch))
	}
	if r := l.sync("edge-b", hubtest.Delta(2, 1, hubtest.Event{Profile: p2, IDs: []profile.Identifier{hubtest.Anon("x")}})); !r.Duplicate {
		t.Fatalf("replay = %+v, want a duplicate", r)
	}
	if !closed(ch) {
		t.Fatal("a duplicate batch moved the index but did not close the channel")
	}
	_, ch = l.f.Watch()
	var b bytes.Buffer
	if err := l.f.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	if err := l.f.Restore(nopCloser{bytes.NewReader(b.Bytes())}); err != nil {
		t.Fatal(err)
	}
	if !closed(ch) {
		t.Fatal("Restore did not close the channel")
	}
}
