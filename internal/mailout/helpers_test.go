package mailout

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

const testTimeout = 5 * time.Second

// testCert is a self-signed certificate for the test host names and
// 127.0.0.1, and a pool trusting it.
type testCert struct {
	cert tls.Certificate
	pool *x509.CertPool
}

var (
	certOnce sync.Once
	certVal  *testCert
)

func newTestCert(t *testing.T) *testCert {
	t.Helper()
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "mailout test"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			DNSNames:              []string{"localhost", "mx1.example.test", "mx2.example.test", "example.test"},
			IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(leaf)
		certVal = &testCert{
			cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
			pool: pool,
		}
	})
	return certVal
}

// received is one message a sink accepted.
type received struct {
	helo   string
	from   string
	to     []string
	data   string
	tls    bool
	authed string // user name, if AUTH succeeded
}

// sinkConfig sets a sink's behaviour.
type sinkConfig struct {
	tls       bool   // offer STARTTLS
	implicit  bool   // TLS from the first byte (smtps)
	insecure  bool   // offer AUTH without TLS
	user      string // accepted AUTH PLAIN user ("" = no AUTH)
	pass      string
	mailErr   error
	rcptErr   func(to string) error
	dataErr   error
	listenIP  string // default 127.0.0.1
	listenPrt int    // default any
}

// sink is a real go-smtp server on loopback recording what it receives.
type sink struct {
	cfg  sinkConfig
	addr string // host:port
	port int

	mu       sync.Mutex
	msgs     []received
	authTry  int // AUTH attempts
	sessions int // sessions (a new one after STARTTLS)
	conns    map[*smtp.Conn]bool
	logouts  int // sessions ended
	stop     func()
}

func newSink(t *testing.T, cfg sinkConfig) *sink {
	t.Helper()
	ip := cfg.listenIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(cfg.listenPrt)))
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return startSink(t, cfg, l)
}

func startSink(t *testing.T, cfg sinkConfig, l net.Listener) *sink {
	t.Helper()
	s := &sink{cfg: cfg, addr: l.Addr().String(), port: l.Addr().(*net.TCPAddr).Port}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		if s.conns == nil {
			s.conns = map[*smtp.Conn]bool{}
		}
		s.conns[c] = true
		s.mu.Unlock()
		return &sinkSession{s: s, c: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.ReadTimeout = testTimeout
	srv.WriteTimeout = testTimeout
	srv.AllowInsecureAuth = cfg.insecure
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if cfg.tls || cfg.implicit {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{newTestCert(t).cert}}
	}
	if cfg.implicit {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	s.stop = sync.OnceFunc(func() {
		srv.Close()
		l.Close() // Close may run before Serve has registered l
		<-done
	})
	t.Cleanup(s.stop)
	return s
}

// counts reports the connections made and the sessions not ended yet.
func (s *sink) counts() (conns, open int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns), s.sessions - s.logouts
}

func (s *sink) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *sink) authTries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authTry
}

type sinkSession struct {
	s      *sink
	c      *smtp.Conn
	from   string
	to     []string
	authed string
}

func (ss *sinkSession) AuthMechanisms() []string {
	if ss.s.cfg.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	ss.s.mu.Lock()
	ss.s.authTry++
	ss.s.mu.Unlock()
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.cfg.user || pass != ss.s.cfg.pass {
			return smtp.ErrAuthFailed
		}
		ss.authed = user
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.cfg.mailErr != nil {
		return ss.s.cfg.mailErr
	}
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := ss.s.cfg.rcptErr; f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.s.cfg.dataErr != nil {
		return ss.s.cfg.dataErr
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, received{
		helo: ss.c.Hostname(), from: ss.from, to: ss.to, data: string(b), tls: isTLS, authed: ss.authed,
	})
	ss.s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset() { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error {
	ss.s.mu.Lock()
	ss.s.logouts++
	ss.s.mu.Unlock()
	return nil
}

func smtpErr(code int, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: msg}
}

// closedAddr returns a loopback address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// zone is what the test DNS server answers. Names are FQDN, lower case.
type zone struct {
	mu       sync.Mutex
	rrs      map[string][]dns.RR // by owner name
	servfail map[string]bool
}

func (z *zone) add(t *testing.T, rr string) {
	t.Helper()
	r, err := dns.NewRR(rr)
	if err != nil {
		t.Fatalf("NewRR %q: %v", rr, err)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	name := dns.CanonicalName(r.Header().Name)
	z.rrs[name] = append(z.rrs[name], r)
}

// fail makes the server answer SERVFAIL for name (FQDN).
func (z *zone) fail(name string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.servfail[name] = true
}

func (z *zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	z.mu.Lock()
	if len(req.Question) == 1 {
		q := req.Question[0]
		name := dns.CanonicalName(q.Name)
		rrs, ok := z.rrs[name]
		switch {
		case z.servfail[name]:
			m.Rcode = dns.RcodeServerFailure
		case !ok:
			m.Rcode = dns.RcodeNameError
		default:
			for _, rr := range rrs {
				if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
					m.Answer = append(m.Answer, dns.Copy(rr))
				}
			}
		}
	}
	z.mu.Unlock()
	w.WriteMsg(m)
}

// newDNS starts a miekg/dns server on a random UDP port of 127.0.0.1.
func newDNS(t *testing.T) (*zone, string) {
	t.Helper()
	z := &zone{rrs: make(map[string][]dns.RR), servfail: make(map[string]bool)}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: z, NotifyStartedFunc: func() { close(started) }}
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("dns server: %v", err)
	case <-time.After(testTimeout):
		t.Fatal("dns server did not start")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
	})
	return z, pc.LocalAddr().String()
}

// listenSamePort listens on 127.0.0.1 and each of ips with one port number,
// as "mx" delivery uses one port for every host.
func listenSamePort(t *testing.T, ips ...string) (int, []net.Listener) {
	t.Helper()
	for range 20 {
		l0, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l0.Addr().(*net.TCPAddr).Port
		ls := []net.Listener{l0}
		ok := true
		for _, ip := range ips {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		if ok {
			return port, ls
		}
		for _, l := range ls {
			l.Close()
		}
	}
	t.Fatal("no common free port")
	return 0, nil
}

// freePortOn returns a port on which nothing listens on any of ips.
func freePortOn(t *testing.T, ips ...string) int {
	t.Helper()
	port, ls := listenSamePort(t, ips...)
	for _, l := range ls {
		l.Close()
	}
	return port
}

func mustTemporary(t *testing.T, err error, want bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error, got nil")
	}
	if got := IsTemporary(err); got != want {
		t.Fatalf("IsTemporary(%v) = %v, want %v (underlying: %v)", err, got, want, errors.Unwrap(err))
	}
}

func mustListen(t *testing.T, ip string, port int) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// silentUDPAddr returns a loopback UDP address that receives and never
// answers.
func silentUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}
