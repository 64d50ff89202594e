package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoPIIInLogsOrErrors drives answers that are logged (5xx) and not
// (4xx) with personal data in the request, and checks neither the log
// nor the answers contain it.
func TestNoPIIInLogsOrErrors(t *testing.T) {
	var logs syncBuffer
	e := newTestEdge(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const email, phone = "secret.person@example.com", "+14155550100"
	var answers []string
	r := e.post(t, "/v1/identify", `{"userId":"p1","traits":{"email":"`+email+`","phone":"`+phone+`","name":"Secret Person"}}`)
	answers = append(answers, string(r.body))
	r = e.post(t, "/v1/identify", `{"userId":"p2","traits":{"email":"`+email+`x@@"}}`)
	answers = append(answers, string(r.body))
	answers = append(answers, string(e.get(t, "/v1/profiles/email:nobody.secret@example.com").body))
	answers = append(answers, string(e.get(t, "/v1/profiles/phone:+1415555").body))
	if err := e.st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = e.post(t, "/v1/identify", `{"userId":"p3","traits":{"email":"`+email+`"}}`)
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("ingest on a closed store = %d, want 503", r.status)
	}
	answers = append(answers, string(r.body))
	answers = append(answers, string(e.get(t, "/v1/profiles/email:"+email).body))
	out := logs.String() + strings.Join(answers, "\n")
	for _, pii := range []string{"secret", "Secret", "4155550100", "+1415555", "nobody"} {
		if strings.Contains(out, pii) { // whole numbers: a time's digits can spell a part
			t.Errorf("logs or error answers contain %q:\n%s", pii, out)
		}
	}
	if !strings.Contains(logs.String(), "request failed") {
		t.Errorf("the 503 was not logged: %s", logs.String())
	}
}

func TestGzipBodies(t *testing.T) {
	e := newTestEdge(t, nil)
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	r := e.do(t, http.MethodPost, "/v1/track", gz(`{"userId":"gz1","event":"Zipped"}`), "Content-Encoding", "gzip")
	if r.status != http.StatusOK {
		t.Fatalf("gzip ingest = %d %s", r.status, r.body)
	}
	e.profileOf(t, "user_id:gz1")
	// 1 MB of spaces compresses to ~1 KB: the limit applies to the
	// decompressed body.
	bomb := gz(`{"userId":"gz2","event":"x","properties":{"a":"` + strings.Repeat(" ", 1<<20) + `"}}`)
	r = e.do(t, http.MethodPost, "/v1/track", bomb, "Content-Encoding", "gzip")
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("gzip bomb = %d %s, want 413", r.status, r.body)
	}
	r = e.do(t, http.MethodPost, "/v1/track", []byte("not gzip"), "Content-Encoding", "gzip")
	if r.status != http.StatusBadRequest {
		t.Errorf("bad gzip = %d %s, want 400", r.status, r.body)
	}
	r = e.do(t, http.MethodPost, "/v1/track", []byte(`{"userId":"gz3","event":"x"}`), "Content-Encoding", "br")
	if r.status != http.StatusBadRequest {
		t.Errorf("brotli = %d %s, want 400", r.status, r.body)
	}
	e.absent(t, "user_id:gz2")
	e.absent(t, "user_id:gz3")
}
