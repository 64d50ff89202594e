package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"
)

// Names of the CA's files in its directory; a certificate NAME is
// written beside them as NAME.pem and NAME-key.pem (CertFiles).
const (
	CACertFile = "ca.pem"
	CAKeyFile  = "ca-key.pem"
)

// Default validities: the CA five years, a certificate one (as
// `consul tls` does); rotate certificates well before they end
// (ucv_tls_cert_expiry_seconds).
const (
	DefaultCAValidity   = 5 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
)

// backdate is how far before now a certificate's validity starts, so a
// peer whose clock runs a little behind accepts it at once.
const backdate = 5 * time.Minute

// CertFiles returns the paths of certificate name's PEM files in dir.
func CertFiles(dir, name string) (cert, key string) {
	return filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
}

// namePattern is what a certificate name may be: it becomes a file name
// and the identity the hub knows an edge, operator or node by.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// dnsPattern is a DNS name: labels of letters, digits and inner hyphens.
var dnsPattern = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// CA is a private certificate authority: its certificate and signing
// key. It is not safe for concurrent use.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA creates a CA named name (its certificate's common name) valid
// for validity from now, with a new ECDSA P-256 key. It may sign only
// end-entity certificates (path length 0).
func NewCA(name string, validity time.Duration, now time.Time) (*CA, error) {
	if name == "" || validity <= 0 {
		return nil, fmt.Errorf("%w: a CA needs a name and a positive validity", ErrInvalid)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: ca key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"ucv"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: ca certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads the CA in dir (CACertFile, CAKeyFile) and checks that the
// key is the certificate's.
func LoadCA(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, fmt.Errorf("tlsconf: read ca certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("tlsconf: read ca key: %w", err)
	}
	certs, err := parseCerts(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CACertFile, err)
	}
	if len(certs) != 1 || !certs[0].IsCA {
		return nil, fmt.Errorf("%w: %s must hold exactly one CA certificate", ErrInvalid, CACertFile)
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, fmt.Errorf("%w: %s holds no PEM block", ErrInvalid, CAKeyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, CAKeyFile, err)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s: not a signing key", ErrInvalid, CAKeyFile)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(certs[0].PublicKey) {
		return nil, fmt.Errorf("%w: %s is not the key of %s", ErrInvalid, CAKeyFile, CACertFile)
	}
	return &CA{Cert: certs[0], Key: key}, nil
}

// WriteFiles writes the CA's certificate (0644) and key (0600) into dir,
// creating dir (0700) if needed. Existing files are ErrExists unless
// overwrite; each file is replaced atomically.
func (ca *CA) WriteFiles(dir string, overwrite bool) error {
	keyPEM, err := encodeKey(ca.Key)
	if err != nil {
		return err
	}
	return writeFiles(dir, overwrite,
		file{CACertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o644},
		file{CAKeyFile, keyPEM, 0o600})
}

// CertRequest describes a certificate for Issue.
type CertRequest struct {
	// Name is the certificate's common name: the identity the hub gives
	// its holder (an edge, an operator, or a hub node, whose name should
	// be its node ID). Letters, digits, '.', '_' and '-', at most 64.
	Name string
	// Server makes a certificate that serves TLS (serverAuth), Client one
	// that authenticates a client (clientAuth); a hub node's certificate
	// is both. At least one is required.
	Server, Client bool
	// IPs and DNSNames are the addresses a server certificate is valid
	// for. A server certificate is always valid for localhost, 127.0.0.1
	// and ::1 too, and for Name when Name is a DNS name.
	IPs      []net.IP
	DNSNames []string
	// Validity is how long the certificate is valid from now.
	Validity time.Duration
}

// Issue signs a new certificate for req with a new ECDSA P-256 key and
// returns both PEM encoded (the key as PKCS #8). The certificate never
// outlives the CA.
func (ca *CA) Issue(req CertRequest, now time.Time) (certPEM, keyPEM []byte, err error) {
	switch {
	case !namePattern.MatchString(req.Name):
		return nil, nil, fmt.Errorf("%w: name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, req.Name)
	case !req.Server && !req.Client:
		return nil, nil, fmt.Errorf("%w: a certificate is for a server, a client or both", ErrInvalid)
	case req.Validity <= 0:
		return nil, nil, fmt.Errorf("%w: validity must be positive", ErrInvalid)
	case !req.Server && (len(req.IPs) > 0 || len(req.DNSNames) > 0):
		return nil, nil, fmt.Errorf("%w: IP addresses and DNS names are for server certificates", ErrInvalid)
	}
	for _, d := range req.DNSNames {
		if !dnsPattern.MatchString(d) {
			return nil, nil, fmt.Errorf("%w: dns name %q", ErrInvalid, d)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.Name, Organization: []string{"ucv"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(req.Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SubjectKeyId:          keyID(&key.PublicKey),
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	if req.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		names := []string{"localhost"}
		if dnsPattern.MatchString(req.Name) {
			names = append(names, req.Name)
		}
		for _, d := range append(names, req.DNSNames...) {
			if !slices.Contains(tmpl.DNSNames, d) {
				tmpl.DNSNames = append(tmpl.DNSNames, d)
			}
		}
		for _, ip := range append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, req.IPs...) {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		}
	}
	if req.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: sign certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// WriteCert writes certificate name's PEM files into dir (CertFiles):
// the certificate 0644, the key 0600, each replaced atomically (a node
// polling the files never reads half of one). Existing files are
// ErrExists unless overwrite.
func WriteCert(dir, name string, certPEM, keyPEM []byte, overwrite bool) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w: name %q", ErrInvalid, name)
	}
	// The key first: a node that reloads between the two renames finds a
	// key that does not match its old certificate, refuses the pair and
	// keeps serving; it reloads the matching pair at its next poll.
	return writeFiles(dir, overwrite, file{name + "-key.pem", keyPEM, 0o600}, file{name + ".pem", certPEM, 0o644})
}

type file struct {
	name string
	data []byte
	perm fs.FileMode
}

// writeFiles writes files into dir, all or (when one exists and
// overwrite is false) none.
func writeFiles(dir string, overwrite bool, files ...file) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	if !overwrite {
		for _, f := range files {
			p := filepath.Join(dir, f.name)
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%w: %s (overwrite it with --force)", ErrExists, p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("tlsconf: %w", err)
			}
		}
	}
	for _, f := range files {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic writes data to a temporary file beside path with perm,
// syncs it and renames it over path.
func writeAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	name := tmp.Name()
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("tlsconf: write %s: %w", path, err)
	}
	return nil
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("tlsconf: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// keyID is a subject key identifier: the SHA-256 of the public key's
// encoding, truncated to 20 bytes (RFC 7093 §2 method 1).
func keyID(pub *ecdsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(der)
	return sum[:20]
}

// parseCerts returns every CERTIFICATE block of b; other blocks are an
// error, and so is no certificate at all.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: a %s block where certificates were expected", ErrInvalid, blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no PEM certificate", ErrInvalid)
	}
	return out, nil
}
