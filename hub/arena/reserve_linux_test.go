//go:build linux

package arena

import (
	"syscall"
	"testing"
)

// TestChunksHaveTheirBlocks: a chunk's disk blocks are reserved when it
// is mapped, so a full disk fails the mapping (and the copy goes to the
// heap) instead of killing the process at a page fault.
func TestChunksHaveTheirBlocks(t *testing.T) {
	a := open(t, 64<<10)
	a.Copy([]byte("x"))
	var st syscall.Stat_t
	if err := syscall.Fstat(int(a.f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != 64<<10 || st.Blocks*512 < 64<<10 {
		t.Fatalf("file of %d bytes with %d bytes of blocks: the chunk is a hole", st.Size, st.Blocks*512)
	}
}
