package hub_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucv/hub"
)

// FuzzPrivacyCommands: the privacy commands' decoders never panic, and
// what they accept re-encodes to a command that decodes the same.
func FuzzPrivacyCommands(f *testing.F) {
	pr, _ := hub.MarshalPrivacy(&hub.PrivacyRequest{ID: "pr_1", Type: hub.PrivacyErase, Key: "k", ProfileIDs: []string{"p1", "p2"},
		Actor: "admin", At: 5, Salt: testSalt})
	er, _ := hub.MarshalEdgeReceipts(&hub.EdgeReceipts{Edge: "e", IDs: []string{"pr_1"}})
	sr, _ := hub.MarshalShredReceipt(&hub.ShredReceipt{Node: "n", IDs: []string{"pr_1"}, Voters: []string{"n", "m"}})
	dc, _ := hub.MarshalDecommission(&hub.Decommission{Edge: "e", Actor: "ops", At: 9})
	rg, _ := hub.MarshalEdgeRegister(&hub.EdgeRegister{Edge: "kiosk-1"})
	au, _ := hub.MarshalAudit(&hub.AuditEntry{At: 1, Actor: "a", Role: "admin", Action: "DELETE /x", Targets: []string{"t"}, Outcome: 200})
	for _, s := range [][]byte{pr, er, sr, dc, rg, au, {12, 0x97}, {13, 0x92}, {16, 0x96}, {17, 0x91}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := hub.UnmarshalPrivacy(data); err == nil {
			again, err := hub.MarshalPrivacy(p)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := hub.UnmarshalPrivacy(again); err != nil || !cmp.Equal(back, p) {
				t.Fatalf("privacy request does not round-trip: %v", err)
			}
		}
		if r, err := hub.UnmarshalEdgeReceipts(data); err == nil {
			again, err := hub.MarshalEdgeReceipts(r)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := hub.UnmarshalEdgeReceipts(again); err != nil || !cmp.Equal(back, r) {
				t.Fatalf("receipts do not round-trip: %v", err)
			}
		}
		if r, err := hub.UnmarshalShredReceipt(data); err == nil {
			again, err := hub.MarshalShredReceipt(r)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := hub.UnmarshalShredReceipt(again); err != nil || !cmp.Equal(back, r) {
				t.Fatalf("shred receipt does not round-trip: %v", err)
			}
		}
		if x, err := hub.UnmarshalDecommission(data); err == nil {
			again, err := hub.MarshalDecommission(x)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := hub.UnmarshalDecommission(again); err != nil || *back != *x {
				t.Fatalf("decommission does not round-trip: %v", err)
			}
		}
		if x, err := hub.UnmarshalEdgeRegister(data); err == nil {
			again, err := hub.MarshalEdgeRegister(x)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := hub.UnmarshalEdgeRegister(again); err != nil || *back != *x {
				t.Fatalf("edge registration does not round-trip: %v", err)
			}
		}
		if e, err := hub.UnmarshalAudit(data); err == nil {
			again, err := hub.MarshalAudit(e)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := hub.UnmarshalAudit(again); err != nil || !cmp.Equal(back, e) {
				t.Fatalf("audit entry does not round-trip: %v", err)
			}
		}
	})
}

// FuzzRestorePrivacy: Restore never panics on a privacy snapshot with
// bytes changed.
func FuzzRestorePrivacy(f *testing.F) {
	l := erasable(f)
	l.apply(hub.MarshalPrivacy(eraseReq("pr_1", eraseAt, p1)))
	l.apply(hub.MarshalAudit(&hub.AuditEntry{At: 1, Actor: "a", Action: "x", Outcome: 200}))
	l.apply(hub.MarshalDecommission(&hub.Decommission{Edge: "store-1", At: 1}))
	f.Add(l.snapshot())
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm, err := hub.NewFSM()
		if err != nil {
			t.Fatal(err)
		}
		_ = fsm.Restore(nopCloser{bytes.NewReader(data)})
	})
}
