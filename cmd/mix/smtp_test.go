package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mailServer is a real SMTP server on loopback offering STARTTLS (with a
// self-signed certificate) and requiring AUTH PLAIN.
type mailServer struct {
	addr, user, pass string

	mu   sync.Mutex
	got  []mailReceived
	helo []string
}

type mailReceived struct {
	from, to, authed string
	tls              bool
	data             []byte
}

func newMailServer(t *testing.T, user, pass string) *mailServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.test"},
		DNSNames: []string{"mail.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &mailServer{addr: l.Addr().String(), user: user, pass: pass}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{m: m, c: c}, nil }))
	srv.Domain = "mail.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.AllowInsecureAuth = true // the client must choose TLS itself
	srv.ReadTimeout, srv.WriteTimeout = 20*time.Second, 20*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); l.Close(); <-done })
	return m
}

type mailSession struct {
	m      *mailServer
	c      *smtp.Conn
	from   string
	to     []string
	authed string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.m.user || pass != s.m.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.authed == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	s.m.mu.Lock()
	s.m.helo = append(s.m.helo, s.c.Hostname())
	s.m.mu.Unlock()
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.c.TLSConnectionState()
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	for _, to := range s.to {
		s.m.got = append(s.m.got, mailReceived{from: s.from, to: to, authed: s.authed, tls: isTLS, data: data})
	}
	return nil
}

func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }

func (m *mailServer) received() []mailReceived {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mailReceived(nil), m.got...)
}

// mix send hands the packets to a mail server over STARTTLS with AUTH, and
// tells it nothing about the machine it runs on.
func TestSendSMTPStartTLSAuth(t *testing.T) {
	srv := newMailServer(t, "alice", "s3cret")
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pubring := filepath.Join(vectors, "pubring.mix")
	body := bytes3000()
	r := mix(t, body, "send", "--pubring", pubring, "--chain", "alpha,bravo", "--to", "rcpt@example.test",
		"--smtp", srv.addr, "--smtp-user", "alice", "--smtp-password-file", pass)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("send: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("%d mails received", len(got))
	}
	g := got[0]
	if !g.tls || g.authed != "alice" || g.to != "alpha@remailer.test" || g.from != "nobody@localhost" {
		t.Errorf("received tls=%v authed=%q from %q to %q", g.tls, g.authed, g.from, g.to)
	}
	srv.mu.Lock()
	h := append([]string(nil), srv.helo...)
	srv.mu.Unlock()
	if len(h) != 1 || h[0] != "localhost" {
		t.Errorf("EHLO %v, want localhost", h)
	}
	// The mail is the packet: alpha decrypts it, bravo delivers the body.
	next := filepath.Join(t.TempDir(), "next")
	if m := decode(t, g.data, "alpha", "--next", next); m["next_hop"] != "bravo@remailer.test" {
		t.Fatalf("alpha: %v", m)
	}
	if m := decode(t, readFile(t, next), "bravo"); m["body"] != string(body) {
		t.Fatalf("bravo: %v", m)
	}

	// A wrong password: nothing accepted, exit 1, one line.
	os.WriteFile(pass, []byte("wrong\n"), 0o600)
	r = mix(t, body, "send", "--pubring", pubring, "--chain", "alpha,bravo", "--to", "rcpt@example.test",
		"--smtp", srv.addr, "--smtp-user", "alice", "--smtp-password-file", pass)
	t.Logf("wrong password: %s", r.stderr)
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "sending packet 1 of 1") || len(srv.received()) != 1 {
		t.Errorf("wrong password: exit %d stderr %q", r.code, r.stderr)
	}
	// STARTTLS required: the self-signed certificate does not verify.
	os.WriteFile(pass, []byte("s3cret\n"), 0o600)
	r = mix(t, body, "send", "--pubring", pubring, "--chain", "alpha,bravo", "--to", "rcpt@example.test",
		"--smtp", srv.addr, "--starttls", "required", "--smtp-user", "alice", "--smtp-password-file", pass)
	t.Logf("unverified certificate: %s", r.stderr)
	if r.code != 1 || len(srv.received()) != 1 {
		t.Errorf("required STARTTLS with an unverifiable certificate: exit %d stderr %q", r.code, r.stderr)
	}
}

func bytes3000() []byte { return []byte(strings.Repeat("through the mail server\n", 125)) }
