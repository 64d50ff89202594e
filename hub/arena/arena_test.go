package arena

import (
	"bytes"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

func open(t testing.TB, size int) *Arena {
	t.Helper()
	a, err := Open(t.TempDir(), size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// item is a copy the model holds: its expected content and whether the
// owner released it (then only a pin taken before may read it).
type item struct {
	copy, want []byte
	released   bool
	pins       []int // pins held when it was released
}

// TestArenaModel runs random sequences of copies, releases, pins and
// compaction passes against a model, with chunks small enough that every
// sequence fills, empties and reuses several. Everything the model says
// is readable must read back as written: a chunk unmapped or reused too
// early fails here (or faults).
func TestArenaModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		a := open(t, 4096)
		var items []*item
		pins := map[int]func(){}
		nextPin := 0
		check := func() {
			var live int64
			for i, it := range items {
				readable := !it.released
				for _, p := range it.pins {
					if pins[p] != nil {
						readable = true
					}
				}
				if readable && !bytes.Equal(Plain(it.copy), it.want) {
					rt.Fatalf("item %d reads %q, want %q", i, Plain(it.copy), it.want)
				}
				if readable {
					// AppendPlain reads the same bytes after what dst holds.
					prefix := fmt.Sprintf("<%d>", i)
					want := append([]byte(prefix), it.want...)
					if got := AppendPlain([]byte(prefix), it.copy); !bytes.Equal(got, want) {
						rt.Fatalf("item %d: AppendPlain reads %q, want %q", i, got, want)
					}
				}
				if !it.released {
					live += int64(len(it.want))
				}
			}
			if s := a.Stats(); s.Live != live {
				rt.Fatalf("Stats.Live %d, model %d", s.Live, live)
			}
		}
		release := func(it *item) {
			a.Release(it.copy)
			it.released = true
			for p := range pins {
				it.pins = append(it.pins, p)
			}
		}
		pass := false
		rt.Repeat(map[string]func(*rapid.T){
			"copy": func(rt *rapid.T) {
				n := rapid.IntRange(1, 4096/8).Draw(rt, "n")
				b := bytes.Repeat([]byte{byte(len(items))}, n)
				b[0] = byte(n)
				c := a.Copy(b)
				b[n-1]++ // the copy is the arena's, not the caller's
				b[n-1]--
				items = append(items, &item{copy: c, want: bytes.Clone(b)})
			},
			"release": func(rt *rapid.T) {
				var live []*item
				for _, it := range items {
					if !it.released {
						live = append(live, it)
					}
				}
				if len(live) == 0 {
					rt.Skip("nothing live")
				}
				release(live[rapid.IntRange(0, len(live)-1).Draw(rt, "i")])
			},
			"pin": func(rt *rapid.T) {
				pins[nextPin] = a.Pin()
				nextPin++
			},
			"unpin": func(rt *rapid.T) {
				if len(pins) == 0 {
					rt.Skip("no pins")
				}
				var ks []int
				for k := range pins {
					ks = append(ks, k)
				}
				k := rapid.SampledFrom(ks).Draw(rt, "pin")
				pins[k]()
				pins[k]() // a second call does nothing
				delete(pins, k)
			},
			"pass": func(rt *rapid.T) {
				if !pass {
					pass = a.BeginPass()
					return
				}
				// The owner's walk: every live copy in an evacuated chunk
				// is replaced by a fresh one.
				for _, it := range items {
					if !it.released && a.Evacuating(it.copy) {
						fresh := a.Move(it.copy)
						release(it)
						items = append(items, &item{copy: fresh, want: it.want})
					}
				}
				if left := a.EndPass(); left != 0 {
					rt.Fatalf("EndPass: %d chunks still hold live copies", left)
				}
				pass = false
			},
			"": func(*rapid.T) { check() },
		})
		// Everything released and every pin gone: at most the current
		// chunk stays mapped.
		for _, it := range items {
			if !it.released {
				release(it)
			}
		}
		for k, unpin := range pins {
			unpin()
			delete(pins, k)
		}
		check()
		if s := a.Stats(); s.Chunks > 1 || s.Pending != 0 {
			rt.Fatalf("all released and unpinned: %+v", s)
		}
	})
}

// TestArenaCompacts: replacing copies at random leaves chunks mostly
// garbage; passes bring what is mapped back near what is live.
func TestArenaCompacts(t *testing.T) {
	a := open(t, 64<<10)
	const n = 20000
	held := make([][]byte, n)
	val := func(i, gen int) []byte { return []byte(fmt.Sprintf("%06d-%04d-%0100d", i, gen, i)) }
	for i := range held {
		held[i] = a.Copy(val(i, 0))
	}
	passes := 0
	for gen := 1; gen <= 8; gen++ {
		for i := range held {
			if (i*7919+gen*31)%3 == 0 { // a third changes each round
				fresh := a.Copy(val(i, gen))
				a.Release(held[i])
				held[i] = fresh
			}
		}
		if a.ShouldCompact() && a.BeginPass() {
			for i, b := range held {
				if a.Evacuating(b) {
					fresh := a.Move(b)
					a.Release(b)
					held[i] = fresh
				}
			}
			if left := a.EndPass(); left != 0 {
				t.Fatalf("round %d: %d chunks left with live copies", gen, left)
			}
			passes++
		}
	}
	for i, b := range held {
		if p := Plain(b); !bytes.Equal(p[:6], []byte(fmt.Sprintf("%06d", i))) {
			t.Fatalf("copy %d reads %q", i, p)
		}
	}
	s := a.Stats()
	t.Logf("passes %d, %+v", passes, s)
	if passes == 0 {
		t.Fatal("no pass although two thirds of the copies were replaced")
	}
	if s.Mapped > 3*s.Live {
		t.Fatalf("mapped %d bytes for %d live", s.Mapped, s.Live)
	}
}

// TestArenaLargeAndNil: copies over an eighth of a chunk go to the
// heap; a nil arena hands back its argument.
func TestArenaLargeAndNil(t *testing.T) {
	a := open(t, 4096)
	big := bytes.Repeat([]byte{7}, 1000)
	c := a.Copy(big)
	if &Plain(c)[0] != &c[0] || !bytes.Equal(c, big) || a.Stats().Heap != 1 || a.Stats().Chunks != 0 {
		t.Fatalf("large copy: %+v", a.Stats())
	}
	a.Release(c) // a heap copy: nothing to do
	var none *Arena
	b := []byte("x")
	if got := none.Copy(b); &got[0] != &b[0] {
		t.Fatal("nil arena copied")
	}
	none.Release(b)
	none.Pin()()
	if none.ShouldCompact() || none.BeginPass() || none.Evacuating(b) || none.EndPass() != 0 {
		t.Fatal("nil arena compacts")
	}
	if _, err := Open(t.TempDir(), 1000); err == nil {
		t.Fatal("chunk size 1000 accepted")
	}
}

// TestArenaFileHoldsCiphertext: what the kernel writes back to the
// scratch file is encrypted (docs/decisions/0040-privacy.md: the hub's
// files hold no readable personal data once their keys are gone): a
// value copied thousands of times appears nowhere in the file, and two
// equal copies are stored differently.
func TestArenaFileHoldsCiphertext(t *testing.T) {
	a := open(t, 64<<10)
	v := []byte("ann.lee@example.com Ann Lee 1985-12-03")
	var cs [][]byte
	for range 5000 {
		cs = append(cs, a.Copy(v))
	}
	if bytes.Equal(cs[0], cs[1]) || bytes.Contains(cs[0], []byte("example")) {
		t.Fatal("copies are stored as written")
	}
	for _, c := range cs {
		if !bytes.Equal(Plain(c), v) {
			t.Fatalf("Plain reads %q", Plain(c))
		}
	}
	st, err := a.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	file := make([]byte, st.Size())
	if _, err := a.f.ReadAt(file, 0); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file, []byte("example.com")) || bytes.Contains(file, []byte("Ann Lee")) {
		t.Fatal("the scratch file holds the plaintext")
	}
	if n := bytes.Count(file, v[:8]); n != 0 {
		t.Fatalf("the plaintext's prefix occurs %d times", n)
	}
}
