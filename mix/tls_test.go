package mix

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func writeCertPair(t *testing.T, dir, host string, when time.Time) *x509.Certificate {
	t.Helper()
	certPEM, keyPEM, err := SelfSignedCert(host, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{TLSCertFile: certPEM, TLSKeyFile: keyPEM} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		// A distinct modification time, whatever the file system's
		// timestamp granularity.
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startListener serves the node's SMTP server on 127.0.0.1.
func startListener(t *testing.T, n *Node) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := n.newSMTPServer()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// upgrade connects and does STARTTLS trusting only want; it returns the
// certificate the server presented.
func upgrade(t *testing.T, addr, host string, want *x509.Certificate) *x509.Certificate {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(want)
	// Greeting, EHLO, STARTTLS (an error if not offered), verified handshake.
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{ServerName: host, RootCAs: roots})
	if err != nil {
		conn.Close()
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	// The handshake happens with the first command after STARTTLS.
	if err := c.Hello("client.test"); err != nil {
		t.Fatalf("EHLO over TLS: %v", err)
	}
	st, ok := c.TLSConnectionState()
	if !ok || !st.HandshakeComplete {
		t.Fatal("no TLS after STARTTLS")
	}
	return st.PeerCertificates[0]
}

func TestListenerSTARTTLSReload(t *testing.T) {
	dir := t.TempDir()
	const host = "mx.example.test"
	cfg := DefaultConfig()
	cfg.Hostname, cfg.TLSCert, cfg.TLSKey = host, TLSCertFile, TLSKeyFile
	n := &Node{Dir: dir, Cfg: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	t0 := time.Now().Add(-time.Hour)
	first := writeCertPair(t, dir, host, t0)
	addr := startListener(t, n)
	if got := upgrade(t, addr, host, first); !got.Equal(first) {
		t.Fatal("served another certificate than the files hold")
	}

	// Renewal: new files, picked up at the next handshake.
	second := writeCertPair(t, dir, host, t0.Add(time.Minute))
	if got := upgrade(t, addr, host, second); !got.Equal(second) {
		t.Fatal("the renewed certificate was not picked up")
	}

	// A half-written renewal (bad certificate file) keeps the last good one.
	p := filepath.Join(dir, TLSCertFile)
	if err := os.WriteFile(p, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, t0.Add(2*time.Minute), t0.Add(2*time.Minute))
	if got := upgrade(t, addr, host, second); !got.Equal(second) {
		t.Fatal("a broken renewal replaced the good certificate")
	}
}

func TestListenerWithoutCertificate(t *testing.T) {
	cfg := DefaultConfig()
	n := &Node{Dir: t.TempDir(), Cfg: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	addr := startListener(t, n)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS offered without a certificate")
	}
	// Configured but missing files: the listener still takes mail, in clear.
	cfg = DefaultConfig()
	cfg.TLSCert, cfg.TLSKey = "missing.crt", "missing.key"
	n = &Node{Dir: t.TempDir(), Cfg: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if n.listenerTLS() != nil {
		t.Fatal("STARTTLS configured from missing files")
	}
}

func TestSelfSignedCert(t *testing.T) {
	for _, host := range []string{"mx.example.test", "192.0.2.7"} {
		certPEM, keyPEM, err := SelfSignedCert(host, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		if err := pair.Leaf.VerifyHostname(host); err != nil {
			t.Errorf("%s: %v", host, err)
		}
		if time.Until(pair.Leaf.NotAfter) < 9*365*24*time.Hour {
			t.Errorf("%s: expires %v", host, pair.Leaf.NotAfter)
		}
	}
}

func TestInitWritesTLSAndDKIM(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	if _, err := Init(dir, InitOptions{Name: "exit", Address: "exit@example.test", KeyBits: 1024, Hostname: "mx.example.test"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSCert != TLSCertFile || cfg.TLSKey != TLSKeyFile || cfg.DKIMKey != DKIMKeyFile || cfg.Hostname != "mx.example.test" {
		t.Fatalf("configuration: %+v", cfg)
	}
	for _, f := range []string{TLSKeyFile, DKIMKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode().Perm())
		}
	}
	chain, err := LoadCertificateChain(dir, cfg)
	if err != nil || chain[0].VerifyHostname("mx.example.test") != nil {
		t.Fatalf("certificate: %v", err)
	}
	key, err := LoadDKIMKey(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := DKIMRecord(key.Public())
	if err != nil || len(rec) < 300 {
		t.Fatalf("record %q: %v", rec, err)
	}
	if cfg.DKIMRecordName() != "mixd._domainkey.example.test." {
		t.Errorf("record name %s", cfg.DKIMRecordName())
	}
}

func TestDeliverabilityOptionsValidate(t *testing.T) {
	base := "name = x\naddress = x@example.test\n"
	for _, bad := range []string{
		"tls_cert = a.crt\n",
		"public_ip = 192.0.2.300\n",
		"dkim_key = k\ndkim_selector = a b\n",
		"tls_verified_domains = gmail.com bad..domain\n",
		"doctor_resolver = 127.0.0.1\n",
		"dnsbl = zen.spamhaus.org x/y\n",
	} {
		if _, err := ParseConfig([]byte(base + bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	c, err := ParseConfig([]byte(base + "tls_cert = a\ntls_key = b\npublic_ip = 192.0.2.1 2001:db8::1\ntls_verified_domains = gmail.com\ndoctor_smtp = mx.example.test:25\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DKIMSelector != "mixd" || c.DKIMDomain() != "example.test" {
		t.Errorf("defaults: %q %q", c.DKIMSelector, c.DKIMDomain())
	}
}
