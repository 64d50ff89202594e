package store

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ucv/profile"
)

// faults is a switchable Options.FailWrites.
type faults struct{ err atomic.Pointer[error] }

func (f *faults) set(err error) {
	if err == nil {
		f.err.Store(nil)
		return
	}
	f.err.Store(&err)
}

func (f *faults) fail() error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}

// diskErr is what a failed pwrite on the data file looks like.
func diskErr(errno syscall.Errno) error {
	return &os.PathError{Op: "write", Path: "edge.db", Err: errno}
}

// A write the file system refuses fails with a classified error, stores
// nothing, and makes Writable report it until a write succeeds again.
func TestWriteFailuresReported(t *testing.T) {
	var f faults
	s := open(t, func(o *Options) { o.FailWrites = f.fail })
	ingest(t, s, `{"type":"identify","userId":"u1"}`)
	if err := s.Writable(); err != nil {
		t.Fatalf("Writable after a good commit = %v, want nil", err)
	}

	for _, tc := range []struct {
		errno syscall.Errno
		want  error
	}{{syscall.ENOSPC, ErrStorageFull}, {syscall.EDQUOT, ErrStorageFull}, {syscall.EROFS, ErrNotWritable}, {syscall.EIO, ErrNotWritable}} {
		f.set(diskErr(tc.errno))
		_, err := s.Ingest(context.Background(), []Event{ev(t, `{"type":"identify","userId":"u2"}`)})
		if !errors.Is(err, tc.want) || !errors.Is(err, tc.errno) {
			t.Fatalf("%v: Ingest = %v, want %v wrapping the errno", tc.errno, err, tc.want)
		}
		if err := s.Writable(); !errors.Is(err, tc.want) {
			t.Fatalf("%v: Writable = %v, want %v", tc.errno, err, tc.want)
		}
		if err := s.ProbeWrite(); !errors.Is(err, tc.want) {
			t.Fatalf("%v: ProbeWrite = %v, want %v", tc.errno, err, tc.want)
		}
		if _, err := s.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: "u2"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%v: the refused event was stored (lookup: %v)", tc.errno, err)
		}
	}

	f.set(nil)
	if err := s.Writable(); err == nil {
		t.Fatal("Writable = nil before any write succeeded again")
	}
	if err := s.ProbeWrite(); err != nil {
		t.Fatalf("ProbeWrite after the disk recovered = %v", err)
	}
	if err := s.Writable(); err != nil {
		t.Fatalf("Writable after a good probe = %v, want nil", err)
	}
	ingest(t, s, `{"type":"identify","userId":"u2"}`)

	// A failure that is not the file system's does not mark it unwritable.
	f.set(errors.New("some bug"))
	if _, err := s.Ingest(context.Background(), []Event{ev(t, `{"type":"identify","userId":"u3"}`)}); err == nil || errors.Is(err, ErrStorageFull) || errors.Is(err, ErrNotWritable) {
		t.Fatalf("Ingest = %v, want the plain error", err)
	}
	if err := s.Writable(); err != nil {
		t.Fatalf("Writable after a non-storage failure = %v, want nil", err)
	}
	f.set(nil)
}

func TestProbeWriteAfterClose(t *testing.T) {
	s := open(t)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.ProbeWrite(); !errors.Is(err, ErrClosed) {
		t.Fatalf("ProbeWrite after Close = %v, want ErrClosed", err)
	}
}

// A commit that began before the disk filled, and finishes after a later
// write was refused, does not report the store writable again: the
// refusal is the newer news (TestDiskFull in edge/api saw /readyz say
// ready on a full disk when the applier's commit of an earlier event
// outlasted the refused post).
func TestOlderSuccessKeepsNewerFailure(t *testing.T) {
	var (
		f       faults
		armed   atomic.Bool
		calls   atomic.Int32
		reached = make(chan struct{})
		release = make(chan struct{})
	)
	s := open(t, func(o *Options) {
		o.FailWrites = func() error {
			if armed.Load() && calls.Add(1) == 2 {
				// The applier's commit of "before", inside its transaction:
				// it passed the check and goes on to succeed, late.
				close(reached)
				<-release
				return nil
			}
			return f.fail()
		}
	})
	armed.Store(true)
	if err := s.Append(context.Background(), []Event{ev(t, `{"type":"identify","userId":"before"}`)}); err != nil {
		t.Fatal(err)
	}
	<-reached
	f.set(diskErr(syscall.ENOSPC))
	if err := s.Append(context.Background(), []Event{ev(t, `{"type":"identify","userId":"full"}`)}); !errors.Is(err, ErrStorageFull) {
		t.Fatalf("Append on a full disk = %v, want ErrStorageFull", err)
	}
	close(release)
	if _, err := s.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: "before"}); err != nil {
		t.Fatalf("the acknowledged event: %v", err) // the read waits for the applier
	}
	if err := s.Writable(); !errors.Is(err, ErrStorageFull) {
		t.Fatalf("Writable after the older commit succeeded = %v, want ErrStorageFull", err)
	}
	f.set(nil)
	if err := s.ProbeWrite(); err != nil {
		t.Fatalf("ProbeWrite after the disk recovered = %v", err)
	}
	if err := s.Writable(); err != nil {
		t.Fatalf("Writable after a good probe = %v, want nil", err)
	}
}

// TestServingDoesNotWaitForTheApplier: readiness (Serving) answers at
// once while acknowledged events wait for the applier — Stats, which
// /readyz used, waits for them. (After Close it is ErrClosed: edge/api's
// readyz test.)
func TestServingDoesNotWaitForTheApplier(t *testing.T) {
	s, armed, _ := openGated(t)
	armed.Store(true)
	if err := s.Append(context.Background(), []Event{ev(t, `{"type":"identify","userId":"ann","messageId":"a1"}`)}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serving() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serving with an event pending: %v", err)
		}
	case <-time.After(readWaitMax / 2):
		t.Fatal("Serving waited for the applier")
	}
}
