package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConsentProcesses (issue 12, "Show it: Consent"): a hub and an
// edge. A consent purpose defined at the hub marks the e-mail, an
// audience and an offer under advertising; on the edge a lookup with
// ?purpose=advertising for a person who declined it omits them, the
// offer is not offered to her (asked for a purpose or not), a person who
// granted it sees everything, one who stated nothing follows
// --consent-default, and an unknown purpose is a 400 naming it.
func TestConsentProcesses(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	h := startHub(t, bin, filepath.Join(dir, "hub"), "127.0.0.1:0", "127.0.0.1:0", "--bootstrap")
	admin := []string{"Authorization", "Bearer at"}
	put := func(path, body string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, b := httpDo(t, "PUT", h.url+path, body, admin...)
			if code == 200 {
				return
			}
			if time.Now().After(deadline) || code < 500 {
				t.Fatalf("PUT %s = %d %s", path, code, b)
			}
			time.Sleep(50 * time.Millisecond) // no leader yet
		}
	}
	put("/v1/admin/audiences/buyers", `{"expression":"count(\"Order Completed\", \"lifetime\") >= 1"}`)
	put("/v1/admin/offers/retarget", `{"placement":"home","priority":2}`)
	put("/v1/admin/offers/plain", `{"placement":"home","priority":1}`)
	put("/v1/admin/consent-purposes/advertising", `{"traits":["email"],"audiences":["buyers"],"offers":["retarget"]}`)
	if code, b := httpDo(t, "PUT", h.url+"/v1/admin/consent-purposes/ads", `{"audiences":["nobody"]}`, admin...); code != 400 || !strings.Contains(string(b), "audiences") {
		t.Fatalf("bad purpose: %d %s", code, b)
	}
	e := start(t, bin, nil, "edge", "--data-dir", filepath.Join(dir, "edge"), "--http-addr", "127.0.0.1:0",
		"--node-name", "store-1", "--write-key", "k=pos", "--hub", h.url, "--sync-token", "st", "--consent-default", "denied")
	post := func(body string) {
		t.Helper()
		if code, b := httpDo(t, "POST", e.url+"/v1/track", body, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("track = %d %s", code, b)
		}
	}
	for _, p := range []struct{ user, consent string }{{"ann", `{"advertising":false}`}, {"bob", `{"Advertising":true}`}, {"cy", `{}`}} {
		post(`{"userId":"` + p.user + `","event":"Order Completed","messageId":"o-` + p.user + `","context":{"traits":{"email":"` +
			p.user + `@example.com"},"consent":{"categoryPreferences":` + p.consent + `}},"properties":{"total":5,"currency":"EUR"}}`)
	}
	// The edge holds the catalog (and the profiles) once bob is offered
	// retarget and ann is a buyer.
	waitBody(t, e.url+"/v1/decide/user_id:bob?placement=home", `"retarget"`)
	waitBody(t, e.url+"/v1/profiles/user_id:ann", `"buyers"`, `ann@example.com`)
	code, b := httpDo(t, "GET", e.url+"/v1/profiles/user_id:ann?purpose=advertising", "")
	if code != 200 || strings.Contains(string(b), "ann@example.com") || strings.Contains(string(b), `"buyers"`) {
		t.Fatalf("ann for advertising = %d %s", code, b)
	}
	for _, path := range []string{"/v1/decide/user_id:ann?placement=home", "/v1/decide/user_id:ann?placement=home&purpose=advertising",
		"/v1/decide/user_id:cy?placement=home"} {
		code, b := httpDo(t, "GET", e.url+path, "")
		if code != 200 || strings.Contains(string(b), "retarget") || !strings.Contains(string(b), `"plain"`) {
			t.Errorf("GET %s = %d %s, want plain only", path, code, b)
		}
	}
	code, b = httpDo(t, "GET", e.url+"/v1/profiles/user_id:bob?purpose=advertising", "")
	if code != 200 || !strings.Contains(string(b), "bob@example.com") || !strings.Contains(string(b), `"buyers"`) {
		t.Errorf("bob for advertising = %d %s", code, b)
	}
	if code, b := httpDo(t, "GET", e.url+"/v1/profiles/user_id:cy?purpose=advertising", ""); code != 200 || strings.Contains(string(b), "cy@example.com") {
		t.Errorf("cy (no consent data, default denied) for advertising = %d %s", code, b)
	}
	code, b = httpDo(t, "GET", e.url+"/v1/profiles/user_id:ann?purpose=adverts", "")
	if code != 400 || !strings.Contains(string(b), `"message":"purpose:`) {
		t.Errorf("unknown purpose = %d %s", code, b)
	}
}
