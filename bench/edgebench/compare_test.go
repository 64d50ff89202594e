package edgebench

import (
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := []byte(`Running 3s test @ http://127.0.0.1:40321
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    63.12us  150.20us   3.90ms   98.91%
    Req/Sec    17.73k     1.02k   19.10k    80.00%
  Latency Distribution
     50%   27.00us
     75%   33.00us
     90%   45.00us
     99%    3.38ms
  52944 requests in 3.00s, 86.10MB read
Requests/sec:  17648.00
Transfer/sec:     28.70MB
`)
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rate != 17648 || r.P50 != 27*time.Microsecond || r.P99 != 3380*time.Microsecond {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := parseWrk(append(out, "  Non-2xx or 3xx responses: 12\n"...)); err == nil {
		t.Fatal("non-2xx responses were not an error")
	}
	if _, err := parseWrk([]byte("unable to connect to 127.0.0.1:1 Connection refused\n")); err == nil {
		t.Fatal("no rate was not an error")
	}
}

func TestParseRedisBenchmark(t *testing.T) {
	out := []byte(`"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"EVAL redis.call('INCR',KEYS[1]..':n') return 1 1 user:__rand_int__ {"type":"track"}","29069.77","2.063","0.360","2.015","2.895","4.295","19.519"
`)
	r, err := parseRedisBenchmark(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rate != 29069.77 || r.P50 != 2015*time.Microsecond || r.P99 != 4295*time.Microsecond {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := parseRedisBenchmark([]byte("Could not connect to Redis at 127.0.0.1:1\n")); err == nil {
		t.Fatal("no result was not an error")
	}
}

func TestMedian(t *testing.T) {
	rs := []CompareResult{{Rate: 3, P99: 9 * time.Millisecond}, {Rate: 1, P99: time.Millisecond}, {Rate: 2, P99: 4*time.Millisecond + 400}}
	if MedianRate(rs) != 2 || MedianP99(rs) != 4*time.Millisecond || MedianRate(rs[:2]) != 2 || MedianRate(nil) != 0 {
		t.Fatal("median wrong")
	}
}
