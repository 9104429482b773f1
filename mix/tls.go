package mix

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// Files `mixd init` writes for the listener's STARTTLS.
const (
	TLSCertFile = "tls.crt"
	TLSKeyFile  = "tls.key"
)

// selfSignedLifetime is the validity of the certificate made at init. MTAs
// do not verify each other's certificates in opportunistic mode, so a long
// life spares the operator a renewal they gain nothing from.
const selfSignedLifetime = 10 * 365 * 24 * time.Hour

// SelfSignedCert makes a certificate for host (a DNS name or an IP
// address) and its ECDSA P-256 key, both PEM encoded.
func SelfSignedCert(host string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// fileStamp identifies one version of a file cheaply.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path) // follows symlinks: certbot's live/ links move on renewal
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// certReloader serves the certificate in certFile/keyFile and re-reads the
// files when either changes, so a renewed certificate is used without a
// restart. A pair that fails to load (say, the certificate was replaced
// but the key not yet) leaves the previous one in service.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu     sync.Mutex
	stamp  [2]fileStamp // of the loaded pair
	failed [2]fileStamp // of the last pair that failed, logged once
	cert   *tls.Certificate
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// reload loads the pair if its files changed since the last load.
func (r *certReloader) reload() error {
	cs, err := stampOf(r.certFile)
	if err != nil {
		return err
	}
	ks, err := stampOf(r.keyFile)
	if err != nil {
		return err
	}
	now := [2]fileStamp{cs, ks}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert != nil && now == r.stamp {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if now != r.failed && r.log != nil {
			r.log.Error("loading the TLS certificate; the previous one stays in use", "err", err)
		}
		r.failed = now
		return fmt.Errorf("loading the TLS certificate: %w", err)
	}
	if r.cert != nil && r.log != nil {
		r.log.Info("TLS certificate reloaded")
	}
	r.cert, r.stamp = &cert, now
	return nil
}

// getCertificate is tls.Config.GetCertificate: two stat calls per
// handshake find a renewal.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.reload() // on failure the previous certificate serves
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert, nil
}

// listenerTLS is the SMTP listener's STARTTLS configuration, nil (no
// STARTTLS) when tls_cert is not set or cannot be loaded at start.
func (n *Node) listenerTLS() *tls.Config {
	if n.Cfg.TLSCert == "" {
		return nil
	}
	r, err := newCertReloader(n.path(n.Cfg.TLSCert), n.path(n.Cfg.TLSKey), n.Log)
	if err != nil {
		n.Log.Error("STARTTLS disabled: tls_cert/tls_key unusable", "err", err)
		return nil
	}
	return &tls.Config{GetCertificate: r.getCertificate}
}

// LoadCertificateChain reads the configured certificate file (tls_cert)
// for `mixd doctor`; nil when none is configured.
func LoadCertificateChain(dir string, cfg *Config) ([]*x509.Certificate, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	n := &Node{Dir: dir}
	data, err := os.ReadFile(n.path(cfg.TLSCert))
	if err != nil {
		return nil, fmt.Errorf("tls_cert: %w", err)
	}
	var chain []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tls_cert: %w", err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("tls_cert: no PEM certificate in %s", cfg.TLSCert)
	}
	return chain, nil
}

// validateDeliverability checks the TLS, DKIM and doctor options.
func (c *Config) validateDeliverability() error {
	if c.DKIMKey != "" && !validDNSName(c.DKIMSelector) {
		return fmt.Errorf("dkim_selector %q: give a DNS label such as mixd or m2026", c.DKIMSelector)
	}
	if c.DKIMDomainName != "" && !validDNSName(c.DKIMDomainName) {
		return fmt.Errorf("dkim_domain %q is not a domain name", c.DKIMDomainName)
	}
	for _, ip := range strings.Fields(c.PublicIP) {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("public_ip %q is not an IP address", ip)
		}
	}
	for _, d := range strings.Fields(c.TLSVerifiedDomains + " " + c.DNSBL) {
		if !validDNSName(strings.TrimSuffix(d, ".")) {
			return fmt.Errorf("tls_verified_domains/dnsbl: %q is not a domain name", d)
		}
	}
	for name, v := range map[string]string{"doctor_resolver": c.DoctorResolver, "doctor_smtp": c.DoctorSMTP} {
		if _, _, err := net.SplitHostPort(v); v != "" && err != nil {
			return fmt.Errorf("%s %q: give host:port", name, v)
		}
	}
	return nil
}

// validDNSName accepts dot-separated labels of letters, digits, '-' and
// '_', each 1–63 bytes.
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
