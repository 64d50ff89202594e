package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"ucv/tlsconf"
)

const tlsUsage = `Usage:
  ucv tls ca create --dir DIR
  ucv tls cert create --dir DIR --server|--client --name NAME [--ip IP]… [--dns NAME]…

A small private certificate authority for ucv's TLS links, like 'consul
tls': 'ca create' writes DIR/ca.pem and DIR/ca-key.pem; 'cert create'
signs a certificate with the CA in DIR and writes DIR/NAME.pem and
DIR/NAME-key.pem (keys are ECDSA P-256, key files 0600).

  --server           serves TLS: an edge's HTTP API
  --client           authenticates a client: an edge to the hub (NAME is
                     the edge's identity there) or an operator
  --server --client  a hub node (NAME should be its --node-id): serves its
                     API and Raft, and dials the other nodes

Run 'ucv tls ca create -h' or 'ucv tls cert create -h' for their flags.
`

// runTLS implements `ucv tls ca create` and `ucv tls cert create`.
func runTLS(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stderr, tlsUsage)
		return flag.ErrHelp
	}
	if len(args) < 2 || args[1] != "create" || (args[0] != "ca" && args[0] != "cert") {
		fmt.Fprint(stderr, tlsUsage)
		return fmt.Errorf("%w: want 'ca create' or 'cert create'", errUsage)
	}
	if args[0] == "ca" {
		return runCACreate(args[2:], stdout, stderr)
	}
	return runCertCreate(args[2:], stdout, stderr)
}

// listFlag is a flag that may be given several times, each value also a
// comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func runCACreate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tls ca create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", os.Getenv("UCV_TLS_DIR"), "directory to write ca.pem and ca-key.pem into (created 0700) [UCV_TLS_DIR]")
	name := fs.String("name", "ucv CA", "the CA's common name")
	days := fs.Int("days", int(tlsconf.DefaultCAValidity/(24*time.Hour)), "days the CA is valid")
	force := fs.Bool("force", false, "overwrite existing files")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ucv tls ca create --dir DIR\n\nCreates a private CA: DIR/ca.pem (give it to every node) and DIR/ca-key.pem\n(keep it offline; it signs certificates).\n\n")
		fs.PrintDefaults()
	}
	if err := parseTLSFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%w: --dir is required", errUsage)
	}
	if *days <= 0 {
		return fmt.Errorf("%w: --days must be positive", errUsage)
	}
	ca, err := tlsconf.NewCA(*name, time.Duration(*days)*24*time.Hour, time.Now())
	if err != nil {
		return err
	}
	if err := ca.WriteFiles(*dir, *force); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (the CA certificate) and %s (its key, 0600: keep it secret)\n  CA %q valid until %s\n",
		filepath.Join(*dir, tlsconf.CACertFile), filepath.Join(*dir, tlsconf.CAKeyFile), *name, ca.Cert.NotAfter.UTC().Format(time.DateOnly))
	return nil
}

func runCertCreate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tls cert create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", os.Getenv("UCV_TLS_DIR"), "directory of the CA (ca.pem, ca-key.pem); the certificate is written beside it [UCV_TLS_DIR]")
	var req tlsconf.CertRequest
	fs.BoolVar(&req.Server, "server", false, "a certificate that serves TLS (serverAuth)")
	fs.BoolVar(&req.Client, "client", false, "a certificate that authenticates a client (clientAuth); with --server: a hub node's")
	fs.StringVar(&req.Name, "name", "", "the certificate's name (common name): the identity of the edge, operator or hub node; also its file names")
	var ips, dns listFlag
	fs.Var(&ips, "ip", "an IP address the server certificate is valid for; repeat or separate with commas (127.0.0.1 and ::1 are always included)")
	fs.Var(&dns, "dns", "a DNS name the server certificate is valid for; repeat or separate with commas (localhost and NAME are always included)")
	days := fs.Int("days", int(tlsconf.DefaultCertValidity/(24*time.Hour)), "days the certificate is valid (never beyond the CA)")
	force := fs.Bool("force", false, "overwrite an existing certificate of this name (rotation: running nodes pick the new files up)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ucv tls cert create --dir DIR --server|--client --name NAME [--ip IP]… [--dns NAME]…\n\nSigns a certificate with the CA in DIR and writes DIR/NAME.pem and DIR/NAME-key.pem (0600).\n\n")
		fs.PrintDefaults()
	}
	if err := parseTLSFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return fmt.Errorf("%w: --dir is required", errUsage)
	case req.Name == "":
		return fmt.Errorf("%w: --name is required", errUsage)
	case !req.Server && !req.Client:
		return fmt.Errorf("%w: give --server, --client, or both (a hub node)", errUsage)
	case *days <= 0:
		return fmt.Errorf("%w: --days must be positive", errUsage)
	case !req.Server && (len(ips) > 0 || len(dns) > 0):
		return fmt.Errorf("%w: --ip and --dns are for server certificates", errUsage)
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("%w: --ip: %q is not an IP address", errUsage, s)
		}
		req.IPs = append(req.IPs, ip)
	}
	req.DNSNames = dns
	req.Validity = time.Duration(*days) * 24 * time.Hour
	ca, err := tlsconf.LoadCA(*dir)
	if err != nil {
		return fmt.Errorf("%w (create the CA first: ucv tls ca create --dir %s)", err, *dir)
	}
	certPEM, keyPEM, err := ca.Issue(req, time.Now())
	if errors.Is(err, tlsconf.ErrInvalid) {
		return fmt.Errorf("%w: %w", errUsage, err)
	} else if err != nil {
		return err
	}
	if err := tlsconf.WriteCert(*dir, req.Name, certPEM, keyPEM, *force); err != nil {
		return err
	}
	kind := "client"
	switch {
	case req.Server && req.Client:
		kind = "hub node"
	case req.Server:
		kind = "server"
	}
	cert, key := tlsconf.CertFiles(*dir, req.Name)
	fmt.Fprintf(stdout, "wrote %s and %s (0600)\n  %s certificate %q, signed by %q\n", cert, key, kind, req.Name, ca.Cert.Subject.CommonName)
	return nil
}

// parseTLSFlags parses args into fs; stray arguments are usage errors.
func parseTLSFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// tlsFiles names the files of one TLS Loader and what the flags that
// gave them are called (in logs and ucv_tls_cert_expiry_seconds).
type tlsFiles struct {
	cert, key, ca    string
	certFlag, caFlag string
	node, notNode    bool
	poll             time.Duration // 0: the default; negative: only SIGHUP
}

// load reads the files into a Loader.
func (f tlsFiles) load(log *slog.Logger) (*tlsconf.Loader, error) {
	c := tlsconf.DefaultConfig()
	c.CertFile, c.KeyFile, c.CAFile = f.cert, f.key, f.ca
	c.CertName, c.CAName, c.Node, c.NotNode = f.certFlag, f.caFlag, f.node, f.notNode
	c.Logger = log
	switch {
	case f.poll < 0:
		c.Poll = 0
	case f.poll > 0:
		c.Poll = f.poll
	}
	l, err := tlsconf.New(c)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", f.certFlag, err)
	}
	return l, nil
}

// hangups returns a channel that receives SIGHUP when want (a node with
// TLS files to read again), and a function that stops it; without want
// the channel is nil and SIGHUP keeps its default (the process ends).
func hangups(want bool) (<-chan os.Signal, func()) {
	if !want {
		return nil, func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}

// reloadTLS runs reload on SIGHUP and logs the outcome.
func reloadTLS(log *slog.Logger, reload func() error) {
	if err := reload(); err != nil {
		log.Error("tls reload on SIGHUP failed; the files loaded before stay in use", "err", err)
		return
	}
	log.Info("tls files reloaded on SIGHUP")
}
