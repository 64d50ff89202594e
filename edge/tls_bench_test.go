package edge_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"ucv/edge"
	"ucv/tlsconf/tlstest"
)

// BenchmarkLookupTLS compares profile lookups over plain HTTP and over
// TLS, both on keep-alive connections (the handshake is paid once per
// connection; what remains is the record layer's cost per request):
//
//	go test -run '^$' -bench LookupTLS -benchtime 2s ./edge
func BenchmarkLookupTLS(b *testing.B) {
	ca := tlstest.NewCA(b)
	for _, mode := range []string{"plain", "tls"} {
		b.Run(mode, func(b *testing.B) {
			c := config(b.TempDir(), "till-1")
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			if mode == "tls" {
				c.TLS = tlstest.Load(b, ca.Server("till-1"), "")
				pem, err := os.ReadFile(ca.File())
				if err != nil {
					b.Fatal(err)
				}
				roots := x509.NewCertPool()
				roots.AppendCertsFromPEM(pem)
				tr.TLSClientConfig = &tls.Config{RootCAs: roots}
			}
			n, err := edge.New(c)
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close(context.Background())
			client := &http.Client{Transport: tr}
			defer tr.CloseIdleConnections()
			resp, err := client.Post(n.URL()+"/v1/identify", "application/json",
				strings.NewReader(`{"userId":"u1","messageId":"m1","traits":{"email":"ann@example.com","plan":"gold"}}`))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			url := n.URL() + "/v1/profiles/user_id:u1"
			for {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
