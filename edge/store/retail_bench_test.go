package store

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ucv/profile"
)

// What an event costs as a profile grows, and what ingest runs at on a
// real store's order stream (issue 16; bench/README.md, "Profiles that
// grow"). The other ingest benchmarks spread their events over 100,000
// users, so every profile holds one to three events; a store's regulars
// hold hundreds, and a profile's state, ledger and view are rewritten
// whole on every event.

// BenchmarkApplyBySize applies one more event to a profile already
// holding events=N (four in five "Product Viewed", one in five an
// "Order Completed" with a product) as the writer does — Profile.Apply,
// the view rendered, the state encoded — with no store around it: the
// in-memory floor of decision 0090 as a function of the profile's size.
// Every 16 events the profile is put back to its N events (the timer
// stopped), so any -benchtime measures a profile of N to N+16 events;
// before, it kept every event, and a default run of events=1 ended on a
// profile of thousands.
func BenchmarkApplyBySize(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			s := open(b)
			cat := s.Catalog()
			src := profile.Source{Node: s.node, Name: "pos", Capture: cat.Capture}
			nowMs := time.Now().UnixMilli()
			event := func(i int) *profile.Message {
				if i%5 == 0 {
					return ev(b, fmt.Sprintf(`{"type":"track","userId":"u1","messageId":"m-%d","event":"Order Completed","properties":{"order_id":"o%d","revenue":%d.5,"currency":"EUR","products":[{"product_id":"p%d","category":"c%d","price":10}]}}`,
						i, i, i%90, i%50, i%7)).Msg
				}
				return ev(b, fmt.Sprintf(`{"type":"track","userId":"u1","messageId":"m-%d","event":"Product Viewed","properties":{"sku":"sku-%d","price":19.99}}`, i, i%500)).Msg
			}
			p := profile.New("p1")
			for i := range n {
				m := event(i)
				p.Apply(m, m.Identifiers, src, s.clock.Now())
			}
			base, err := p.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			msgs := make([]*profile.Message, b.N)
			for i := range msgs {
				msgs[i] = event(n + i)
			}
			var stateBytes int
			b.ReportAllocs()
			b.ResetTimer()
			for i, m := range msgs {
				if i > 0 && i%16 == 0 {
					b.StopTimer()
					if p, err = profile.Unmarshal(base); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				p.Apply(m, m.Identifiers, src, s.clock.Now())
				if _, _, err := renderViewAfter(p, cat, nowMs, nil); err != nil {
					b.Fatal(err)
				}
				enc, err := p.Marshal()
				if err != nil {
					b.Fatal(err)
				}
				stateBytes = len(enc)
			}
			b.StopTimer()
			b.ReportMetric(float64(stateBytes), "state-B")
		})
	}
}

// BenchmarkIngestOnlineRetail replays the Online Retail data set
// (../shared/data/online_retail: a year of a UK web shop's orders) through
// the store as BenchmarkAppendBatches does — 8 callers appending batches
// of 100 through the write-ahead log, the applier committing behind them,
// the timer stopped once everything is applied — in the order the
// invoices were placed: one "Order Completed" per invoice of a known
// customer with its line items as products (orders), and, for views,
// also one "Product Viewed" per line item just before its order, which
// is what a shop's event stream looks like (views outnumber orders);
// with logins, also an identify with the customer's e-mail and country
// before each invoice's views (a customer signing in).
// Each b.N replays the whole stream into a fresh store; run it with
// -benchtime 1x. It reports the events applied per second and the
// largest and median profile at the end (events per customer).
func BenchmarkIngestOnlineRetail(b *testing.B) {
	invoices := onlineRetailInvoices(b)
	for _, mode := range []string{"views=false", "views=true", "logins=true"} {
		views, logins := mode != "views=false", mode == "logins=true"
		b.Run(mode, func(b *testing.B) {
			var evs []Event
			perCustomer := map[string]int{}
			for _, inv := range invoices {
				if logins {
					evs = append(evs, retailLogin(b, inv, -time.Duration(len(inv.lines)+1)*time.Minute))
					perCustomer[inv.customer]++
				}
				if views {
					for i, l := range inv.lines {
						evs = append(evs, retailEvent(b, inv, fmt.Sprintf("v-%s-%d", inv.id, i), "Product Viewed",
							map[string]any{"product_id": l.product, "price": l.price}, -time.Duration(len(inv.lines)-i)*time.Minute))
					}
					perCustomer[inv.customer] += len(inv.lines)
				}
				products := make([]map[string]any, len(inv.lines))
				revenue := 0.0
				for i, l := range inv.lines {
					products[i] = map[string]any{"product_id": l.product, "quantity": l.quantity, "price": l.price}
					revenue += float64(l.quantity) * l.price
				}
				evs = append(evs, retailEvent(b, inv, "o-"+inv.id, "Order Completed",
					map[string]any{"order_id": inv.id, "currency": "GBP", "revenue": float64(int64(revenue*100+0.5)) / 100, "products": products}, 0))
				perCustomer[inv.customer]++
			}
			sizes := make([]int, 0, len(perCustomer))
			for _, n := range perCustomer {
				sizes = append(sizes, n)
			}
			slices.Sort(sizes)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				s := open(b)
				b.StartTimer()
				appendAll(b, s, evs)
				b.StopTimer()
				if err := s.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(len(evs)), "events")
			b.ReportMetric(float64(sizes[len(sizes)/2]), "median-events/customer")
			b.ReportMetric(float64(sizes[len(sizes)-1]), "max-events/customer")
		})
	}
}

// appendAll appends evs in order from 8 callers in batches of 100 and
// waits until the applier has applied them.
func appendAll(b *testing.B, s *Store, evs []Event) {
	const per, callers = 100, 8
	var n atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(n.Add(per) - per)
				if i >= len(evs) {
					return
				}
				if err := s.Append(context.Background(), evs[i:min(i+per, len(evs))]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s.waitApplied()
}

type retailLine struct {
	product  string
	quantity int
	price    float64
}

type retailInvoice struct {
	id, customer, country string
	at                    time.Time
	lines                 []retailLine
}

// retailEvent builds one parsed track event of inv's customer, stamped
// at the invoice's time plus offset.
func retailEvent(b *testing.B, inv retailInvoice, messageID, event string, props map[string]any, offset time.Duration) Event {
	body, err := json.Marshal(map[string]any{
		"type": "track", "userId": "c" + inv.customer, "messageId": messageID, "event": event,
		"timestamp": inv.at.Add(offset).Format(time.RFC3339), "properties": props,
	})
	if err != nil {
		b.Fatal(err)
	}
	return ev(b, string(body))
}

// retailLogin builds the identify inv's customer sends on signing in
// before the invoice (offset from its time): the customer's e-mail and
// country as traits, as a shop's login sends them every time.
func retailLogin(b *testing.B, inv retailInvoice, offset time.Duration) Event {
	body, err := json.Marshal(map[string]any{
		"type": "identify", "userId": "c" + inv.customer, "messageId": "i-" + inv.id,
		"timestamp": inv.at.Add(offset).Format(time.RFC3339),
		"traits":    map[string]any{"email": "c" + inv.customer + "@example.com", "country": inv.country},
	})
	if err != nil {
		b.Fatal(err)
	}
	return ev(b, string(body))
}

// onlineRetailInvoices reads the invoices of known customers (positive
// quantities, cancellations left out) from online_retail.csv.gz above
// the repository, in the order they were placed. It skips when the
// file is absent.
func onlineRetailInvoices(b *testing.B) []retailInvoice {
	b.Helper()
	dir, _ := os.Getwd()
	var path string
	for d := dir; path == ""; d = filepath.Dir(d) {
		if p := filepath.Join(d, "shared", "data", "online_retail", "online_retail.csv.gz"); fileExists(p) {
			path = p
		} else if filepath.Dir(d) == d {
			b.Skip("shared/data/online_retail/online_retail.csv.gz not found above the repository")
		}
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	r := csv.NewReader(gz)
	if _, err := r.Read(); err != nil {
		b.Fatal(err)
	}
	byID := map[string]*retailInvoice{}
	var order []*retailInvoice
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		q, _ := strconv.Atoi(row[3])
		price, _ := strconv.ParseFloat(row[5], 64)
		if q <= 0 || price <= 0 || row[6] == "" || row[0] == "" || row[0][0] == 'C' {
			continue
		}
		inv := byID[row[0]]
		if inv == nil {
			at, err := time.Parse(time.DateTime, row[4])
			if err != nil {
				b.Fatal(err)
			}
			cust, _, _ := strings.Cut(row[6], ".")
			inv = &retailInvoice{id: row[0], customer: cust, country: row[7], at: at}
			byID[row[0]] = inv
			order = append(order, inv)
		}
		inv.lines = append(inv.lines, retailLine{product: row[1], quantity: q, price: price})
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].at.Before(order[j].at) })
	out := make([]retailInvoice, len(order))
	for i, inv := range order {
		out[i] = *inv
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
