package profile

import (
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/crdt"
)

// oldEncode is contribution.encode as it was before product IDs: the
// bytes every replica wrote until then.
func oldEncode(c contribution) []byte {
	c.products = nil
	return c.encode()
}

func genContribution(t *rapid.T) contribution {
	str := rapid.StringN(0, 12, 40)
	c := contribution{
		kind:     Kind(rapid.SampledFrom([]string{"track", "identify", "page"}).Draw(t, "kind")),
		event:    str.Draw(t, "event"),
		isOrder:  rapid.Bool().Draw(t, "order"),
		currency: rapid.SampledFrom([]string{"", "EUR", "USD"}).Draw(t, "currency"),
		minor:    rapid.Int64().Draw(t, "minor"),
		cats:     rapid.SliceOfN(str, 0, 3).Draw(t, "cats"),
	}
	for i, p := range rapid.SliceOfNDistinct(str, 0, 3, func(s string) string { return s }).Draw(t, "paths") {
		c.props = append(c.props, capturedProp{path: p, val: []byte{byte(i)}})
	}
	c.products = rapid.SliceOfNDistinct(rapid.StringN(1, 20, 60), 0, MaxProducts, func(s string) string { return s }).Draw(t, "products")
	return c
}

// TestContributionProductsRoundTrip: the product IDs come back from the
// encoding; the counts folded from it are those of the encoding without
// them (what older readers see); and bytes written before product IDs
// decode as before, with none.
func TestContributionProductsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genContribution(t)
		b := c.encode()
		back, ok := decodeContribution(b)
		if !ok {
			t.Fatalf("decode(%x) failed", b)
		}
		if !slices.Equal(back.products, c.products) && (len(back.products) > 0 || len(c.products) > 0) {
			t.Fatalf("products %q, want %q", back.products, c.products)
		}
		if len(back.props) != len(c.props) || back.minor != c.minor || !slices.Equal(back.cats, c.cats) {
			t.Fatalf("decoded %+v, want %+v", back, c)
		}
		old := oldEncode(c)
		ob, ok := decodeContribution(old)
		if !ok || len(ob.products) != 0 || len(ob.props) != len(c.props) {
			t.Fatalf("old bytes %x decoded to %+v, %v", old, ob, ok)
		}
		t1, t2 := newTally(), newTally()
		if !t1.fold(b) || !t2.fold(old) || t1.orders != t2.orders || len(t1.cats) != len(t2.cats) {
			t.Fatalf("folding with products differs from folding without")
		}
		// An event read through LedgerEvents sees the same products and props.
		p := New("p")
		p.Ledger.Add(crdt.LedgerEntry{Key: 1, Time: 5, Data: b})
		n := 0
		p.LedgerEvents(func(e *LedgerEvent) {
			n++
			if got := e.Products(); !slices.Equal(got, c.products) && (len(got) > 0 || len(c.products) > 0) {
				t.Fatalf("LedgerEvent.Products = %q, want %q", got, c.products)
			}
			if e.Order != c.isOrder {
				t.Fatalf("LedgerEvent.Order = %v", e.Order)
			}
			for _, cp := range c.props {
				if v, ok := e.Prop(cp.path); !ok || !slices.Equal(v, cp.val) {
					t.Fatalf("Prop(%q) = %x, %v", cp.path, v, ok)
				}
			}
		})
		if n != 1 {
			t.Fatalf("LedgerEvents visited %d events", n)
		}
	})
}

// TestContributionOldBytes pins encodings written before product IDs
// existed: they still decode, with their props and no products.
func TestContributionOldBytes(t *testing.T) {
	for _, tc := range []struct {
		hex   string
		props int
	}{
		// Order Completed, EUR 59.90, category Shoes (no props).
		{"0105747261636b0f4f7264657220436f6d706c6574656403455552cc5d010553686f6573", 0},
		// The same with one captured prop total=42.
		{"0105747261636b0f4f7264657220436f6d706c6574656403455552cc5d010553686f65730105746f74616c012a", 1},
	} {
		b, _ := hex.DecodeString(tc.hex)
		c, ok := decodeContribution(b)
		if !ok || c.minor != 5990 || !c.isOrder || len(c.props) != tc.props || c.products != nil {
			t.Errorf("%s decoded to %+v, %v", tc.hex, c, ok)
		}
	}
}

// TestProductsOf reads Segment's e-commerce fields.
func TestProductsOf(t *testing.T) {
	m := msg(t, `{"type":"track","userId":"u1","event":"Order Completed","messageId":"o1","timestamp":"2026-02-02T10:00:00Z",
		"properties":{"total":10,"products":[{"product_id":"A"},{"sku":"B"},{"product_id":"","sku":"C"},{"product_id":7},{"product_id":"A"},{"name":"no id"}]}}`)
	if got, want := productsOf(m.Properties), []string{"A", "B", "C", "7"}; !slices.Equal(got, want) {
		t.Errorf("order products = %q, want %q", got, want)
	}
	v := msg(t, `{"type":"track","userId":"u1","event":"Product Viewed","messageId":"v1","timestamp":"2026-02-02T10:00:00Z","properties":{"product_id":" X ","sku":"Y"}}`)
	if got := productsOf(v.Properties); !slices.Equal(got, []string{"X"}) {
		t.Errorf("viewed products = %q", got)
	}
	var many []any
	for i := range MaxProducts + 10 {
		many = append(many, map[string]any{"product_id": string(rune('a'+i%26)) + time.Duration(i).String()})
	}
	if got := productsOf(map[string]any{"products": many}); len(got) != MaxProducts {
		t.Errorf("kept %d products, want %d", len(got), MaxProducts)
	}
	// Through Apply: the ledger keeps them.
	clk := crdt.NewClock(1, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	p := New("p")
	p.Apply(m, m.Identifiers, Source{Node: 1}, clk.Now())
	p.Apply(v, v.Identifiers, Source{Node: 1}, clk.Now())
	got := map[string][]string{}
	p.LedgerEvents(func(e *LedgerEvent) { got[string(e.Event)] = e.Products() })
	if !slices.Equal(got["Order Completed"], []string{"A", "B", "C", "7"}) || !slices.Equal(got["Product Viewed"], []string{"X"}) {
		t.Errorf("ledger products = %q", got)
	}
}
