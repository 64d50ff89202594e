package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"ucv/hub/webhook"
)

var secret = []byte("0123456789abcdef")

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"dlv_1"}`)
	h := webhook.Sign(secret, now, body)
	// The documented scheme, computed independently: openssl dgst
	// -sha256 -hmac 0123456789abcdef over `1800000000.{"id":"dlv_1"}`.
	const want = "t=1800000000,v1=534fb84e81be70cf108d5fe317ff936737ba1b6b0ec3a0f23a576fbcdfffc47b"
	if h != want {
		t.Fatalf("Sign = %q", h)
	}
	if err := webhook.Verify(secret, h, body, now, time.Minute); err != nil {
		t.Errorf("Verify(own signature) = %v", err)
	}
	for name, c := range map[string]struct {
		header string
		body   []byte
		at     time.Time
		want   error
	}{
		"changed body":       {h, []byte(`{"id":"dlv_2"}`), now, webhook.ErrBadSignature},
		"too old":            {h, body, now.Add(10 * time.Minute), webhook.ErrTooOld},
		"no v1":              {"t=1800000000", body, now, webhook.ErrBadSignature},
		"garbage":            {"nonsense", body, now, webhook.ErrBadSignature},
		"rotated: second ok": {"t=1800000000,v1=00," + h[len("t=1800000000,"):], body, now, nil},
	} {
		if err := webhook.Verify(secret, c.header, c.body, c.at, time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", name, err, c.want)
		}
	}
}

func TestSendOutcomes(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/gone":
			w.WriteHeader(410)
		case "/busy":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(429)
		case "/down":
			w.WriteHeader(502)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/away":
			http.Redirect(w, r, other.URL+"/x", http.StatusTemporaryRedirect)
		case "/here":
			http.Redirect(w, r, "/ok", http.StatusTemporaryRedirect)
		}
	}))
	defer srv.Close()
	c := webhook.NewClient(100*time.Millisecond, 2)
	for path, want := range map[string]webhook.Result{
		"/ok":   {Outcome: webhook.Delivered, Status: 200},
		"/here": {Outcome: webhook.Delivered, Status: 200},
		"/gone": {Outcome: webhook.Failed, Status: 410, Err: "HTTP 410"},
		"/busy": {Outcome: webhook.Retry, Status: 429, RetryAfter: 2 * time.Minute, Err: "HTTP 429"},
		"/down": {Outcome: webhook.Retry, Status: 502, Err: "HTTP 502"},
		"/slow": {Outcome: webhook.Retry, Err: "timeout"},
		"/away": {Outcome: webhook.Failed, Err: "redirect to another host or to plain http"},
	} {
		got := c.Send(context.Background(), webhook.Request{URL: srv.URL + path, Secret: secret, ID: "dlv_1", Type: "audience.entered", Attempt: 1, Body: []byte(`{}`), Now: time.Now()})
		if got != want {
			t.Errorf("%s: %+v, want %+v", path, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	base, most := time.Second, time.Minute
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: time.Minute, 30: time.Minute} {
		lo, hi := webhook.Backoff(attempt, base, most, 0), webhook.Backoff(attempt, base, most, 0.999999)
		if lo != want/2 || hi < want*99/100 || hi > want {
			t.Errorf("attempt %d: backoff in [%v, %v], want [%v, %v]", attempt, lo, hi, want/2, want)
		}
	}
}
