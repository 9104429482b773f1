package doctor

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mixgo/mixgo/internal/doctor/dnstest"
)

const (
	tHost   = "mx.example.test"
	tDomain = "example.test"
	tList   = "bl.test"
)

var tIP = netip.MustParseAddr("127.0.0.1")

var (
	keyOnce sync.Once
	tKey    *rsa.PrivateKey
)

// testDKIMKey is one RSA key for all tests (1024 bits: only its identity
// matters here).
func testDKIMKey(t *testing.T) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			panic(err)
		}
		tKey = k
	})
	return tKey
}

// goodZone is a correctly set-up mail domain.
func goodZone(t *testing.T) *dnstest.Zone {
	return dnstest.New(t,
		tHost+". 300 IN A 127.0.0.1",
		"1.0.0.127.in-addr.arpa. 300 IN PTR "+tHost+".",
		tDomain+". 300 IN MX 10 "+tHost+".",
		// a: and include: exercise the evaluator; 127.0.0.1 matches a:.
		dnstest.TXT(tDomain+".", "v=spf1 include:_spf."+tDomain+" a:"+tHost+" -all"),
		dnstest.TXT("_spf."+tDomain+".", "v=spf1 ip4:192.0.2.0/24 ~all"),
		dnstest.TXT(tDomain+".", "google-site-verification=abc"),
		dnstest.TXT("mixd._domainkey."+tDomain+".", dkimValue(testDKIMKey(t).Public())),
		dnstest.TXT("_dmarc."+tDomain+".", "v=DMARC1; p=quarantine; rua=mailto:postmaster@"+tDomain),
		tList+". 300 IN SOA ns."+tList+". h."+tList+". 1 7200 3600 86400 300",
	)
}

// makeCert returns a self-signed certificate for name.
func makeCert(t *testing.T, name string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

type refuseAll struct{}

func (refuseAll) NewSession(*smtp.Conn) (smtp.Session, error) { return refuseSession{}, nil }

type refuseSession struct{}

func (refuseSession) Mail(string, *smtp.MailOptions) error { return errors.New("no") }
func (refuseSession) Rcpt(string, *smtp.RcptOptions) error { return errors.New("no") }
func (refuseSession) Data(io.Reader) error                 { return errors.New("no") }
func (refuseSession) Reset()                               {}
func (refuseSession) Logout() error                        { return nil }

// startSMTP runs a go-smtp server on 127.0.0.1 greeting as name, with
// STARTTLS when cert is not nil.
func startSMTP(t *testing.T, name string, cert *tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(refuseAll{})
	srv.Domain = name
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type setup struct {
	zone     *dnstest.Zone
	cfg      Config
	banner   string
	cert     *tls.Certificate // nil = no STARTTLS
	noSMTP   bool
	fileCert *tls.Certificate
}

var now = time.Now()

func goodSetup(t *testing.T) *setup {
	cert := makeCert(t, tHost, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	return &setup{
		zone:   goodZone(t),
		banner: tHost,
		cert:   &cert,
		cfg: Config{
			Host: tHost, Domain: tDomain, Sender: "remailer@" + tDomain,
			IPs:          []netip.Addr{tIP},
			DKIMSelector: "mixd", DKIMKey: testDKIMKey(t).Public(),
			DNSBLs:  []string{tList},
			Timeout: 2 * time.Second,
		},
	}
}

func (s *setup) run(t *testing.T) []Result {
	t.Helper()
	cfg := s.cfg
	cfg.Resolver = s.zone.Serve(t)
	if s.noSMTP {
		cfg.SMTPAddr = closedPort(t)
	} else {
		cfg.SMTPAddr = startSMTP(t, s.banner, s.cert)
	}
	if s.fileCert != nil {
		cfg.Certificates = []*x509.Certificate{s.fileCert.Leaf}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestGoodZonePasses(t *testing.T) {
	s := goodSetup(t)
	roots := x509.NewCertPool()
	roots.AddCert(s.cert.Leaf)
	s.cfg.RootCAs = roots
	rs := s.run(t)
	var out bytes.Buffer
	if failed := Write(&out, rs); failed != 0 {
		t.Fatalf("%d checks failed on the good zone:\n%s", failed, out.String())
	}
	if len(rs) != 9 {
		t.Fatalf("%d results, want 9", len(rs))
	}
	text := out.String()
	for _, want := range []string{"✓ A/AAAA", "✓ reverse DNS", "✓ MX", "✓ SPF", "✓ DKIM", "✓ DMARC", "✓ block lists", "✓ TLS certificate", "✓ SMTP banner", "publicly trusted", "policy quarantine"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// Without the root the same certificate passes, explained as self-signed.
	s = goodSetup(t)
	rs = s.run(t)
	if !rs[7].OK || !strings.Contains(rs[7].Detail, "not signed by a public CA") {
		t.Errorf("self-signed certificate: %+v", rs[7])
	}
	// Without public_ip the host's addresses are checked.
	s = goodSetup(t)
	s.cfg.IPs = nil
	for _, r := range s.run(t) {
		if !r.OK {
			t.Errorf("without public_ip: %+v", r)
		}
	}
}

// TestBreakages breaks one thing at a time and expects exactly the checks
// it affects to fail, each with a fix naming what to do.
func TestBreakages(t *testing.T) {
	cases := []struct {
		name   string
		breakf func(t *testing.T, s *setup)
		failed map[string]string // check → text its fix must contain
	}{
		{"host not public", func(t *testing.T, s *setup) { s.cfg.Host = "localhost"; s.banner = "localhost" },
			map[string]string{"A/AAAA": "set hostname", "reverse DNS": "set its reverse DNS to localhost", "TLS certificate": "get one for localhost"}},
		{"no A record", func(t *testing.T, s *setup) { s.zone.Remove(tHost, dns.TypeA) },
			map[string]string{"A/AAAA": tHost + ". IN A 127.0.0.1", "reverse DNS": tHost + ". IN A 127.0.0.1",
				"MX": "publish an A record for " + tHost, "SPF": "ip4:127.0.0.1 include:"}},
		{"A record elsewhere", func(t *testing.T, s *setup) {
			s.zone.Remove(tHost, dns.TypeA)
			s.zone.Add(t, tHost+". 300 IN A 192.0.2.99")
		}, map[string]string{"A/AAAA": tHost + ". IN A 127.0.0.1", "reverse DNS": tHost + ". IN A 127.0.0.1", "SPF": "ip4:127.0.0.1"}},
		{"no PTR", func(t *testing.T, s *setup) { s.zone.Remove("1.0.0.127.in-addr.arpa.", dns.TypePTR) },
			map[string]string{"reverse DNS": "set its reverse DNS to " + tHost}},
		{"wrong PTR", func(t *testing.T, s *setup) {
			s.zone.Remove("1.0.0.127.in-addr.arpa.", dns.TypePTR)
			s.zone.Add(t, "1.0.0.127.in-addr.arpa. 300 IN PTR host-1.isp.test.")
		}, map[string]string{"reverse DNS": "set hostname = host-1.isp.test"}},
		{"no MX", func(t *testing.T, s *setup) { s.zone.Remove(tDomain, dns.TypeMX) },
			map[string]string{"MX": tDomain + ". IN MX 10 " + tHost + "."}},
		{"null MX", func(t *testing.T, s *setup) {
			s.zone.Remove(tDomain, dns.TypeMX)
			s.zone.Add(t, tDomain+". 300 IN MX 0 .")
		}, map[string]string{"MX": "replace it"}},
		{"no SPF", func(t *testing.T, s *setup) { s.zone.Remove(tDomain, dns.TypeTXT) },
			map[string]string{"SPF": `example.test. IN TXT "v=spf1 ip4:127.0.0.1 -all"`}},
		{"SPF excludes the IP", func(t *testing.T, s *setup) {
			s.zone.Remove(tDomain, dns.TypeTXT)
			s.zone.Add(t, dnstest.TXT(tDomain+".", "v=spf1 ip4:192.0.2.1 ~all"))
		}, map[string]string{"SPF": `"v=spf1 ip4:127.0.0.1 ip4:192.0.2.1 ~all"`}},
		{"two SPF records", func(t *testing.T, s *setup) { s.zone.Add(t, dnstest.TXT(tDomain+".", "v=spf1 -all")) },
			map[string]string{"SPF": "a valid one"}},
		{"SPF include loop", func(t *testing.T, s *setup) {
			s.zone.Remove(tDomain, dns.TypeTXT)
			s.zone.Add(t, dnstest.TXT(tDomain+".", "v=spf1 include:"+tDomain+" -all"))
		}, map[string]string{"SPF": "a valid one"}},
		{"SPF include of a missing record", func(t *testing.T, s *setup) { s.zone.Remove("_spf."+tDomain, dns.TypeTXT) },
			map[string]string{"SPF": "a valid one"}},
		{"DKIM signing off", func(t *testing.T, s *setup) { s.cfg.DKIMKey = nil },
			map[string]string{"DKIM": "set dkim_key"}},
		{"DKIM key unreadable", func(t *testing.T, s *setup) { s.cfg.DKIMKeyError = errors.New("dkim_key: permission denied") },
			map[string]string{"DKIM": "readable PEM private key"}},
		{"no DKIM record", func(t *testing.T, s *setup) { s.zone.Remove("mixd._domainkey."+tDomain, dns.TypeTXT) },
			map[string]string{"DKIM": "mixd._domainkey.example.test. IN TXT \"v=DKIM1; k=rsa; p="}},
		{"DKIM record of another key", func(t *testing.T, s *setup) {
			other, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				t.Fatal(err)
			}
			s.zone.Remove("mixd._domainkey."+tDomain, dns.TypeTXT)
			s.zone.Add(t, dnstest.TXT("mixd._domainkey."+tDomain+".", dkimValue(other.Public())))
		}, map[string]string{"DKIM": "new dkim_selector"}},
		{"DKIM record revoked", func(t *testing.T, s *setup) {
			s.zone.Remove("mixd._domainkey."+tDomain, dns.TypeTXT)
			s.zone.Add(t, dnstest.TXT("mixd._domainkey."+tDomain+".", "v=DKIM1; k=rsa; p="))
		}, map[string]string{"DKIM": "v=DKIM1; k=rsa; p=M"}},
		{"DKIM record malformed", func(t *testing.T, s *setup) {
			s.zone.Remove("mixd._domainkey."+tDomain, dns.TypeTXT)
			s.zone.Add(t, dnstest.TXT("mixd._domainkey."+tDomain+".", "v=DKIM1; k=rsa; p=%%%"))
		}, map[string]string{"DKIM": "mixd dkim-record"}},
		{"no DMARC", func(t *testing.T, s *setup) { s.zone.Remove("_dmarc."+tDomain, dns.TypeTXT) },
			map[string]string{"DMARC": `_dmarc.example.test. IN TXT "v=DMARC1; p=none`}},
		{"DMARC invalid", func(t *testing.T, s *setup) {
			s.zone.Remove("_dmarc."+tDomain, dns.TypeTXT)
			s.zone.Add(t, dnstest.TXT("_dmarc."+tDomain+".", "v=DMARC1; p=maybe"))
		}, map[string]string{"DMARC": "v=DMARC1; p=none"}},
		{"two DMARC records", func(t *testing.T, s *setup) { s.zone.Add(t, dnstest.TXT("_dmarc."+tDomain+".", "v=DMARC1; p=none")) },
			map[string]string{"DMARC": "keep one"}},
		{"listed", func(t *testing.T, s *setup) {
			s.zone.Add(t, "1.0.0.127."+tList+". 300 IN A 127.0.0.2")
			s.zone.Add(t, dnstest.TXT("1.0.0.127."+tList+".", "listed: spam trap hits"))
		}, map[string]string{"block lists": "request removal on the web site of " + tList}},
		{"block list refuses", func(t *testing.T, s *setup) { s.zone.Add(t, "1.0.0.127."+tList+". 300 IN A 127.255.255.254") },
			map[string]string{"block lists": "doctor_resolver"}},
		{"no STARTTLS", func(t *testing.T, s *setup) { s.cert = nil },
			map[string]string{"TLS certificate": "set tls_cert and tls_key"}},
		{"certificate for another name", func(t *testing.T, s *setup) {
			c := makeCert(t, "other.test", now.Add(-time.Hour), now.Add(90*24*time.Hour))
			s.cert = &c
		}, map[string]string{"TLS certificate": "subjectAltName=DNS:" + tHost}},
		{"certificate near expiry", func(t *testing.T, s *setup) {
			c := makeCert(t, tHost, now.Add(-80*24*time.Hour), now.Add(5*24*time.Hour))
			s.cert = &c
		}, map[string]string{"TLS certificate": "certbot renew"}},
		{"certificate expired", func(t *testing.T, s *setup) {
			c := makeCert(t, tHost, now.Add(-80*24*time.Hour), now.Add(-24*time.Hour))
			s.cert = &c
		}, map[string]string{"TLS certificate": "certbot renew"}},
		{"wrong banner", func(t *testing.T, s *setup) { s.banner = "localhost" },
			map[string]string{"SMTP banner": "set hostname = " + tHost}},
		{"SMTP port closed, certificate file fine", func(t *testing.T, s *setup) { s.noSMTP, s.fileCert = true, s.cert },
			map[string]string{"SMTP banner": "let port 25 through the firewall"}},
		{"SMTP port closed, no certificate", func(t *testing.T, s *setup) { s.noSMTP = true },
			map[string]string{"SMTP banner": "let port 25 through the firewall", "TLS certificate": "set tls_cert"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := goodSetup(t)
			c.breakf(t, s)
			rs := s.run(t)
			var out bytes.Buffer
			Write(&out, rs)
			for _, r := range rs {
				fix, want := c.failed[r.Check]
				switch {
				case r.OK && want:
					t.Errorf("%s passed, want it to fail", r.Check)
				case !r.OK && !want:
					t.Errorf("%s failed, want it to pass: %s", r.Check, r.Detail)
				case !r.OK && !strings.Contains(r.Fix, fix):
					t.Errorf("%s fix %q does not contain %q", r.Check, r.Fix, fix)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out.String())
			}
		})
	}
}

// TestResolverDown: every DNS check fails and says to fix the resolver.
func TestResolverDown(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	s := goodSetup(t)
	cfg := s.cfg
	cfg.Resolver = addr
	cfg.SMTPAddr = startSMTP(t, tHost, s.cert)
	rs, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs[:7] {
		if r.OK || !strings.Contains(r.Fix+r.Detail, addr) && !strings.Contains(r.Fix, "resolver") {
			t.Errorf("%s with the resolver down: %+v", r.Check, r)
		}
	}
	if !rs[7].OK || !rs[8].OK {
		t.Errorf("TLS and banner need no DNS: %+v %+v", rs[7], rs[8])
	}
}

// TestDMARCInherited: a subdomain without its own record inherits the
// parent's.
func TestDMARCInherited(t *testing.T) {
	z := dnstest.New(t, dnstest.TXT("_dmarc.example.test.", "v=DMARC1; p=reject; sp=quarantine"))
	r := &run{cfg: Config{Domain: "mail.example.test", Resolver: z.Serve(t)}, ctx: context.Background()}
	r.dns = &resolver{addr: r.cfg.Resolver, timeout: 2 * time.Second}
	res := r.checkDMARC()
	if !res.OK || !strings.Contains(res.Detail, "subdomain policy quarantine") {
		t.Fatalf("%+v", res)
	}
}

func TestRunNeedsHostAndDomain(t *testing.T) {
	if _, err := Run(context.Background(), Config{Domain: "x.test", Resolver: "127.0.0.1:53"}); err == nil {
		t.Fatal("no error without a host")
	}
	if _, err := Run(context.Background(), Config{Host: "a.x.test", Domain: "x.test", Resolver: "nonsense"}); err == nil {
		t.Fatal("no error with a bad resolver")
	}
}
