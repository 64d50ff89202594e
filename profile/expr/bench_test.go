package expr

import (
	"fmt"
	"testing"
	"time"
)

// benchExpressions are realistic audience definitions of varied shape; the
// benchmark cycles through them to make 100.
var benchExpressions = []string{
	`computed.orders_30d >= 2`,
	`count("Order Completed", "720h") >= 2`,
	`sum("Order Completed", "total", "90d") > 500.0`,
	`exists_event("Cart Abandoned", "7d") && !exists_event("Order Completed", "7d")`,
	`days_since(last_seen) > 30`,
	`days_since(first_seen) < 14 && count("Order Completed", "lifetime") == 0`,
	`has(traits.plan) && traits.plan == "gold"`,
	`identities.exists(i, i.type == "email")`,
	`consent["marketing"] == true && "repeat_buyers" in audiences`,
	`traits.?country.orValue("") in ["DE", "AT", "CH"]`,
	`computed.lifetime_value > 1000.0 || sum("Order Completed", "total", "") > 1000.0`,
	`"vip" in audiences || audiences.exists(a, a == "gold" || a == "platinum")`,
	`count("Product Viewed", "30d") > 10 && count("Order Completed", "30d") == 0`,
	`now - last_seen > duration("2160h")`,
	`has(traits.tags) && "newsletter" in traits.tags`,
	`exists_event("Support Ticket Opened", "14d") && days_since(last_seen) <= 1`,
	`traits.?age.orValue(0) >= 18 && traits.?age.orValue(0) < 30`,
	`size(identities) > 3`,
	`computed.orders_30d >= 1 && sum("Order Completed", "total", "30d") / double(computed.orders_30d) > 80.0`,
	`!("churned" in audiences) && count("Email Opened", "60d") > 0`,
}

func benchProfile(now time.Time) *profile {
	p := &profile{
		traits: map[string]any{"plan": "gold", "country": "DE", "age": int64(27),
			"tags": []any{"newsletter", "vip"}, "email": "someone@example.com"},
		computed:   map[string]any{"orders_30d": int64(3), "lifetime_value": 1234.5},
		identities: []map[string]string{{"type": "email", "value": "someone@example.com"}, {"type": "user_id", "value": "u1"}},
		consent:    map[string]bool{"marketing": true},
		audiences:  []string{"repeat_buyers", "gold"},
		first:      now.Add(-400 * 24 * time.Hour),
		last:       now.Add(-3 * 24 * time.Hour),
		now:        now,
	}
	for i := range 20 {
		p.events = append(p.events,
			event{name: "Order Completed", at: now.Add(-time.Duration(i) * 9 * 24 * time.Hour), props: map[string]any{"total": 40.0 + float64(i)}},
			event{name: "Product Viewed", at: now.Add(-time.Duration(i) * 24 * time.Hour)})
	}
	return p
}

// fastProfile answers the event functions in constant time, as the
// catalog's per-day buckets will, so BenchmarkEval100 measures the
// expressions and not the tests' linear event scan.
type fastProfile struct {
	*profile
}

func (f fastProfile) Count(string, time.Duration) int64         { return 3 }
func (f fastProfile) Sum(string, string, time.Duration) float64 { return 321.5 }
func (f fastProfile) Exists(string, time.Duration) bool         { return true }

// BenchmarkEval100 evaluates 100 audiences over one profile: the issue's
// target is 50 µs per changed profile.
func BenchmarkEval100(b *testing.B) {
	known := Known{Audiences: []string{"repeat_buyers", "vip", "gold", "platinum", "churned"}}
	var progs []*Program
	for i := range 100 {
		p, err := Compile(fmt.Sprintf("a%03d", i), benchExpressions[i%len(benchExpressions)], known)
		if err != nil {
			b.Fatal(err)
		}
		progs = append(progs, p)
	}
	in := fastProfile{benchProfile(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range progs {
			if _, err := p.Eval(in); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkEvalEach evaluates each of benchExpressions alone.
func BenchmarkEvalEach(b *testing.B) {
	known := Known{Audiences: []string{"repeat_buyers", "vip", "gold", "platinum", "churned"}}
	in := fastProfile{benchProfile(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))}
	for i, e := range benchExpressions {
		p, err := Compile("a", e, known)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%02d", i), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Eval(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
