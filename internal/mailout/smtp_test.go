package mailout

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

const testMsg = "From: a@example.org\nTo: b@example.net\nSubject: test\n\nline one\n.leading dot\n..two dots\n.\nbare\rcr\r\nlast"

const testMsgCRLF = "From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n.\r\nbare\r\ncr\r\nlast\r\n"

func send(t *testing.T, spec string, opt Options, from string, to ...string) error {
	t.Helper()
	if opt.Timeout == 0 {
		opt.Timeout = testTimeout
	}
	if opt.HeloName == "" {
		opt.HeloName = "mix.example.org"
	}
	s, err := New(spec, opt)
	if err != nil {
		t.Fatalf("New(%q): %v", spec, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*testTimeout)
	defer cancel()
	return s.Send(ctx, from, to, []byte(testMsg))
}

func TestSmarthostPlain(t *testing.T) {
	k := newSink(t, sinkConfig{})
	if err := send(t, "smtp://"+k.addr, Options{}, "a@example.org", "b@example.net", "c@example.com"); err != nil {
		t.Fatal(err)
	}
	got := k.received()
	if len(got) != 1 {
		t.Fatalf("received %d messages", len(got))
	}
	m := got[0]
	if m.from != "a@example.org" || strings.Join(m.to, ",") != "b@example.net,c@example.com" {
		t.Errorf("envelope %q -> %q", m.from, m.to)
	}
	if m.data != testMsgCRLF {
		t.Errorf("data\n%q\nwant\n%q", m.data, testMsgCRLF)
	}
	if m.tls {
		t.Error("TLS used though not offered")
	}
	if m.helo != "mix.example.org" {
		t.Errorf("helo %q", m.helo)
	}
}

func TestSmarthostNullSender(t *testing.T) {
	k := newSink(t, sinkConfig{})
	if err := send(t, "smtp://"+k.addr, Options{}, "", "b@example.net"); err != nil {
		t.Fatal(err)
	}
	if got := k.received(); len(got) != 1 || got[0].from != "" {
		t.Fatalf("received %+v", got)
	}
}

func TestSmarthostOpportunisticTLS(t *testing.T) {
	// Self-signed and not trusted: opportunistic mode does not verify.
	k := newSink(t, sinkConfig{tls: true})
	if err := send(t, "smtp://"+k.addr, Options{}, "a@example.org", "b@example.net"); err != nil {
		t.Fatal(err)
	}
	got := k.received()
	if len(got) != 1 || !got[0].tls {
		t.Fatalf("received %+v, want one message over TLS", got)
	}
	if got[0].data != testMsgCRLF || got[0].helo != "mix.example.org" {
		t.Errorf("received %+v", got[0])
	}
}

func TestSmarthostStartTLSOff(t *testing.T) {
	k := newSink(t, sinkConfig{tls: true})
	if err := send(t, "smtp://"+k.addr, Options{StartTLS: StartTLSOff}, "a@example.org", "b@example.net"); err != nil {
		t.Fatal(err)
	}
	if got := k.received(); len(got) != 1 || got[0].tls {
		t.Fatalf("received %+v, want one message in clear", got)
	}
}

func TestSmarthostRequiredTLS(t *testing.T) {
	c := newTestCert(t)
	t.Run("verified", func(t *testing.T) {
		k := newSink(t, sinkConfig{tls: true})
		opt := Options{StartTLS: StartTLSRequired, TLSConfig: &tls.Config{RootCAs: c.pool}}
		if err := send(t, "smtp://"+k.addr, opt, "a@example.org", "b@example.net"); err != nil {
			t.Fatal(err)
		}
		if got := k.received(); len(got) != 1 || !got[0].tls {
			t.Fatalf("received %+v", got)
		}
	})
	t.Run("unverified", func(t *testing.T) {
		k := newSink(t, sinkConfig{tls: true})
		err := send(t, "smtp://"+k.addr, Options{StartTLS: StartTLSRequired}, "a@example.org", "b@example.net")
		mustTemporary(t, err, true)
		var e *Error
		if !errors.As(err, &e) || e.Op != "tls" {
			t.Fatalf("err %v, want a tls *Error", err)
		}
		if len(k.received()) != 0 {
			t.Fatal("message sent over an unverified connection")
		}
	})
	t.Run("not offered", func(t *testing.T) {
		k := newSink(t, sinkConfig{})
		opt := Options{StartTLS: StartTLSRequired, TLSConfig: &tls.Config{RootCAs: c.pool}}
		err := send(t, "smtp://"+k.addr, opt, "a@example.org", "b@example.net")
		mustTemporary(t, err, true)
		if len(k.received()) != 0 {
			t.Fatal("message sent in clear")
		}
	})
}

func TestSmarthostImplicitTLS(t *testing.T) {
	c := newTestCert(t)
	k := newSink(t, sinkConfig{implicit: true})
	opt := Options{TLSConfig: &tls.Config{RootCAs: c.pool}}
	if err := send(t, "smtps://"+k.addr, opt, "a@example.org", "b@example.net"); err != nil {
		t.Fatal(err)
	}
	if got := k.received(); len(got) != 1 || !got[0].tls || got[0].data != testMsgCRLF {
		t.Fatalf("received %+v", got)
	}
	// smtps always verifies.
	err := send(t, "smtps://"+k.addr, Options{}, "a@example.org", "b@example.net")
	mustTemporary(t, err, true)
}

func TestSmarthostAuth(t *testing.T) {
	c := newTestCert(t)
	k := newSink(t, sinkConfig{tls: true, user: "alice", pass: "s3cret"})
	opt := Options{Username: "alice", Password: "s3cret", TLSConfig: &tls.Config{RootCAs: c.pool}}
	if err := send(t, "smtp://"+k.addr, opt, "a@example.org", "b@example.net"); err != nil {
		t.Fatal(err)
	}
	got := k.received()
	if len(got) != 1 || !got[0].tls || got[0].authed != "alice" {
		t.Fatalf("received %+v", got)
	}

	// Wrong password: temporary (a configuration problem must not drop mail).
	opt.Password = "wrong"
	err := send(t, "smtp://"+k.addr, opt, "a@example.org", "b@example.net")
	mustTemporary(t, err, true)
	if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), "alice") {
		t.Fatalf("error text leaks credentials: %v", err)
	}

	// Credentials force verification: an untrusted certificate gets none.
	before := k.authTries()
	err = send(t, "smtp://"+k.addr, Options{Username: "alice", Password: "s3cret"}, "a@example.org", "b@example.net")
	mustTemporary(t, err, true)
	if k.authTries() != before {
		t.Fatal("credentials sent over an unverified TLS session")
	}
}

func TestAuthRefusedWithoutTLS(t *testing.T) {
	// The server would take AUTH in clear; the client must not offer it.
	k := newSink(t, sinkConfig{insecure: true, user: "alice", pass: "s3cret"})
	for _, mode := range []string{"", StartTLSOff} {
		err := send(t, "smtp://"+k.addr, Options{Username: "alice", Password: "s3cret", StartTLS: mode}, "a@example.org", "b@example.net")
		mustTemporary(t, err, true)
	}
	if n := k.authTries(); n != 0 {
		t.Fatalf("%d AUTH attempts in clear", n)
	}
	if len(k.received()) != 0 {
		t.Fatal("message sent")
	}
	// Unless explicitly allowed.
	opt := Options{Username: "alice", Password: "s3cret", AllowInsecureAuth: true}
	if err := send(t, "smtp://"+k.addr, opt, "a@example.org", "b@example.net"); err != nil {
		t.Fatal(err)
	}
	if got := k.received(); len(got) != 1 || got[0].authed != "alice" {
		t.Fatalf("received %+v", got)
	}
}

func TestSMTPReplyClassification(t *testing.T) {
	cases := []struct {
		name string
		cfg  sinkConfig
		temp bool
		op   string
	}{
		{"mail 451", sinkConfig{mailErr: smtpErr(451, "try later")}, true, "mail"},
		{"mail 550", sinkConfig{mailErr: smtpErr(550, "go away")}, false, "mail"},
		{"rcpt 450", sinkConfig{rcptErr: func(string) error { return smtpErr(450, "greylisted b@example.net") }}, true, "rcpt"},
		{"rcpt 550", sinkConfig{rcptErr: func(string) error { return smtpErr(550, "no such user b@example.net") }}, false, "rcpt"},
		{"data 452", sinkConfig{dataErr: smtpErr(452, "full")}, true, "data"},
		{"data 554", sinkConfig{dataErr: smtpErr(554, "spam")}, false, "data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := newSink(t, c.cfg)
			err := send(t, "smtp://"+k.addr, Options{}, "a@example.org", "b@example.net")
			mustTemporary(t, err, c.temp)
			var e *Error
			if !errors.As(err, &e) || e.Op != c.op {
				t.Fatalf("err %v, want op %s", err, c.op)
			}
			if s := err.Error(); strings.Contains(s, "@") || strings.Contains(s, "127.0.0.1") {
				t.Fatalf("error text leaks data: %q", s)
			}
		})
	}
}

func TestConnectionRefusedIsTemporary(t *testing.T) {
	err := send(t, "smtp://"+closedAddr(t), Options{}, "a@example.org", "b@example.net")
	mustTemporary(t, err, true)
	var e *Error
	if !errors.As(err, &e) || e.Op != "connect" {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("error text names the address: %v", err)
	}
}

func TestPartialRecipients(t *testing.T) {
	k := newSink(t, sinkConfig{rcptErr: func(to string) error {
		switch to {
		case "gone@example.net":
			return smtpErr(550, "no such user")
		case "later@example.net":
			return smtpErr(451, "later")
		}
		return nil
	}})
	err := send(t, "smtp://"+k.addr, Options{}, "a@example.org", "ok@example.net", "gone@example.net", "later@example.net")
	var re *RecipientsError
	if !errors.As(err, &re) {
		t.Fatalf("err %v, want *RecipientsError", err)
	}
	if strings.Join(re.Delivered, ",") != "ok@example.net" || len(re.Failed) != 2 {
		t.Fatalf("delivered %v failed %v", re.Delivered, re.Failed)
	}
	if IsTemporary(re.Failed["gone@example.net"]) || !IsTemporary(re.Failed["later@example.net"]) {
		t.Fatalf("failed %v", re.Failed)
	}
	if tmp := re.Temporary(); len(tmp) != 1 || tmp[0] != "later@example.net" {
		t.Fatalf("Temporary() = %v", tmp)
	}
	mustTemporary(t, err, true)
	if strings.Contains(err.Error(), "@") {
		t.Fatalf("error text leaks addresses: %v", err)
	}
	if got := k.received(); len(got) != 1 || strings.Join(got[0].to, ",") != "ok@example.net" {
		t.Fatalf("received %+v", got)
	}
}

// scripted runs a fake SMTP server on loopback for one connection, handled
// by serve with a deadline of testTimeout.
func scripted(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testTimeout))
		serve(c, bufio.NewReader(c))
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}

func TestStartTLSHandshakeFailureNoFallback(t *testing.T) {
	var sawMail atomic.Bool
	addr := scripted(t, func(c net.Conn, r *bufio.Reader) {
		c.Write([]byte("220 fake\r\n"))
		r.ReadString('\n') // EHLO
		c.Write([]byte("250-fake\r\n250 STARTTLS\r\n"))
		r.ReadString('\n') // STARTTLS
		c.Write([]byte("220 go ahead\r\n"))
		c.Write([]byte("this is not TLS\r\n"))
		for range 20 {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(strings.ToUpper(l), "MAIL") {
				sawMail.Store(true)
			}
		}
	})
	err := send(t, "smtp://"+addr, Options{}, "a@example.org", "b@example.net")
	mustTemporary(t, err, true)
	var e *Error
	if !errors.As(err, &e) || e.Op != "tls" {
		t.Fatalf("err %v, want tls", err)
	}
	if sawMail.Load() {
		t.Fatal("fell back to plain text after a failed handshake")
	}
}

func TestStartTLSRefusedIsTemporary(t *testing.T) {
	addr := scripted(t, func(c net.Conn, r *bufio.Reader) {
		c.Write([]byte("220 fake\r\n"))
		r.ReadString('\n')
		c.Write([]byte("250-fake\r\n250 STARTTLS\r\n"))
		r.ReadString('\n')
		c.Write([]byte("554 no TLS for you\r\n"))
		r.ReadString('\n')
	})
	err := send(t, "smtp://"+addr, Options{}, "a@example.org", "b@example.net")
	mustTemporary(t, err, true)
}

func TestGreetingErrors(t *testing.T) {
	for _, c := range []struct {
		greeting string
		temp     bool
	}{{"421 busy\r\n", true}, {"554 no service\r\n", false}} {
		addr := scripted(t, func(conn net.Conn, r *bufio.Reader) {
			conn.Write([]byte(c.greeting))
			r.ReadString('\n')
		})
		err := send(t, "smtp://"+addr, Options{}, "a@example.org", "b@example.net")
		mustTemporary(t, err, c.temp)
		var e *Error
		if !errors.As(err, &e) || e.Op != "greeting" {
			t.Fatalf("err %v", err)
		}
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	silent := func(c net.Conn, r *bufio.Reader) { r.ReadString('\n') } // never greets
	t.Run("timeout", func(t *testing.T) {
		addr := scripted(t, silent)
		s, err := New("smtp://"+addr, Options{Timeout: 200 * time.Millisecond, HeloName: "x.test"})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = s.Send(context.Background(), "a@example.org", []string{"b@example.net"}, []byte(testMsg))
		mustTemporary(t, err, true)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("took %v", d)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		addr := scripted(t, silent)
		s, err := New("smtp://"+addr, Options{HeloName: "x.test"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = s.Send(ctx, "a@example.org", []string{"b@example.net"}, []byte(testMsg))
		mustTemporary(t, err, true)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v does not wrap the context's error", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("took %v", d)
		}
	})
}

func TestInvalidAddressesArePermanent(t *testing.T) {
	k := newSink(t, sinkConfig{})
	for _, c := range []struct {
		from string
		to   []string
	}{
		{"a@example.org", nil},
		{"a@example.org", []string{"no-at-sign"}},
		{"a@example.org", []string{"x@example.net\r\nRCPT TO:<y@example.net>"}},
		{"a@example.org", []string{"<x@example.net>"}},
		{"a@example.org", []string{"x y@example.net"}},
		{"a@example.org", []string{"x@-bad-.net"}},
		{"bad from@example.org", []string{"x@example.net"}},
	} {
		err := send(t, "smtp://"+k.addr, Options{}, c.from, c.to...)
		mustTemporary(t, err, false)
		if !errors.Is(err, ErrInvalidAddress) {
			t.Fatalf("%q: err %v", c.to, err)
		}
	}
	if len(k.received()) != 0 {
		t.Fatal("something was sent")
	}
}

func TestNewSpecs(t *testing.T) {
	for _, bad := range []string{"", "smtp", "smtp://", "smtp://user:pw@host:25", "smtp://host:99999", "smtp://host/path", "sendmail:relative/path", "sendmail:/nonexistent/sendmail", "dir:", "bogus:x", "MX"} {
		if _, err := New(bad, Options{}); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
	for _, bad := range []Options{{StartTLS: "maybe"}, {HeloName: "a b"}, {Resolver: "nohost"}, {Port: 70000}, {RequireVerifiedTLS: []string{"bad domain"}}, {Timeout: -1}} {
		if _, err := New("mx", bad); err == nil {
			t.Errorf("New(mx, %+v) succeeded", bad)
		}
	}
	for _, good := range []string{"smtp://127.0.0.1:2525", "smtp://localhost", "smtps://[::1]:465", "mx"} {
		if _, err := New(good, Options{}); err != nil {
			t.Errorf("New(%q): %v", good, err)
		}
	}
}

// TestSmarthostReusesConnections: consecutive mails share one connection
// (with its TLS session), concurrent ones get their own, an unused
// connection is closed after idleTimeout, and a cached connection the
// relay has dropped is replaced without losing the mail.
func TestSmarthostReusesConnections(t *testing.T) {
	k := newSink(t, sinkConfig{tls: true})
	s, err := New("smtp://"+k.addr, Options{HeloName: "mix.example.org", TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 5 {
		if err := s.Send(ctx, "a@example.org", []string{fmt.Sprintf("r%d@example.net", i)}, []byte(testMsg)); err != nil {
			t.Fatal(err)
		}
	}
	if conns, _ := k.counts(); conns != 1 || len(k.received()) != 5 {
		t.Fatalf("5 mails in a row: %d connections, %d received; want 1 and 5", conns, len(k.received()))
	}
	for _, m := range k.received() {
		if !m.tls || m.data != testMsgCRLF {
			t.Fatalf("received %+v", m)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Send(ctx, "a@example.org", []string{fmt.Sprintf("c%d@example.net", i)}, []byte(testMsg))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if conns, _ := k.counts(); conns > 4 || len(k.received()) != 9 {
		t.Fatalf("4 concurrent mails: %d connections in all, %d received", conns, len(k.received()))
	}
	deadline := time.Now().Add(idleTimeout + 5*time.Second)
	for {
		conns, open := k.counts()
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions of %d connections still open %v after the last mail", open, conns, idleTimeout+5*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A cached connection, then the relay restarts on the same port.
	k2 := newSink(t, sinkConfig{})
	s2, err := New("smtp://"+k2.addr, Options{HeloName: "mix.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Send(ctx, "a@example.org", []string{"one@example.net"}, []byte(testMsg)); err != nil {
		t.Fatal(err)
	}
	k2.stop()
	k3 := newSink(t, sinkConfig{listenPrt: k2.port})
	if err := s2.Send(ctx, "a@example.org", []string{"two@example.net"}, []byte(testMsg)); err != nil {
		t.Fatalf("after the relay restarted: %v", err)
	}
	if got := k3.received(); len(got) != 1 || got[0].to[0] != "two@example.net" {
		t.Fatalf("the new relay received %+v", got)
	}
}

// chunkingServer answers one transaction; offer lists the EHLO keywords
// and reply is its answer to the message (BDAT or the final dot). It
// returns what arrived after RCPT: the command line and the message.
func chunkingServer(t *testing.T, offer, reply string) (addr string, got func() (cmd, msg string)) {
	var mu sync.Mutex
	var cmd, msg string
	addr = scripted(t, func(c net.Conn, r *bufio.Reader) {
		c.Write([]byte("220 fake\r\n"))
		r.ReadString('\n') // EHLO
		c.Write([]byte("250-fake\r\n" + offer + "250 8BITMIME\r\n"))
		r.ReadString('\n') // MAIL
		c.Write([]byte("250 ok\r\n"))
		r.ReadString('\n') // RCPT
		c.Write([]byte("250 ok\r\n"))
		line, _ := r.ReadString('\n')
		var body []byte
		if f := strings.Fields(line); len(f) == 3 && f[0] == "BDAT" && f[2] == "LAST" {
			n, _ := strconv.Atoi(f[1])
			body = make([]byte, n)
			io.ReadFull(r, body)
		} else {
			c.Write([]byte("354 go on\r\n"))
			for {
				l, err := r.ReadString('\n')
				if err != nil || l == ".\r\n" {
					break
				}
				body = append(body, l...)
			}
		}
		mu.Lock()
		cmd, msg = line, string(body)
		mu.Unlock()
		if reply == "" {
			return // hang up
		}
		c.Write([]byte(reply))
		r.ReadString('\n') // QUIT, or nothing while cached
	})
	return addr, func() (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return cmd, msg
	}
}

// TestChunking: with CHUNKING offered the message goes as one BDAT LAST
// chunk, as it is (no dot-stuffing); without it, as DATA, dot-stuffed.
func TestChunking(t *testing.T) {
	addr, got := chunkingServer(t, "250-CHUNKING\r\n", "250 2.0.0 ok\r\n")
	if err := send(t, "smtp://"+addr, Options{StartTLS: StartTLSOff}, "a@example.org", "b@example.net"); err != nil {
		t.Fatal(err)
	}
	cmd, msg := got()
	if cmd != fmt.Sprintf("BDAT %d LAST\r\n", len(testMsgCRLF)) || msg != testMsgCRLF {
		t.Fatalf("with CHUNKING: %q then %q", cmd, msg)
	}
	addr, got = chunkingServer(t, "", "250 ok\r\n")
	if err := send(t, "smtp://"+addr, Options{StartTLS: StartTLSOff}, "a@example.org", "b@example.net"); err != nil {
		t.Fatal(err)
	}
	cmd, msg = got()
	stuffed := strings.ReplaceAll(testMsgCRLF, "\r\n.", "\r\n..")
	if cmd != "DATA\r\n" || msg != stuffed {
		t.Fatalf("without CHUNKING: %q then %q, want DATA then %q", cmd, msg, stuffed)
	}
}

// TestBDATReplies: the reply to BDAT is classified as DATA's is.
func TestBDATReplies(t *testing.T) {
	cases := []struct {
		reply string
		temp  bool
		code  int
	}{
		{"452-4.3.1 mailbox\r\n452 4.3.1 full\r\n", true, 452},
		{"554 5.7.1 refused\r\n", false, 554},
		{"550 no enhanced code\r\n", false, 550},
		{"garbage\r\n", true, 0},
		{"", true, 0}, // connection closed
	}
	for _, c := range cases {
		addr, _ := chunkingServer(t, "250-CHUNKING\r\n", c.reply)
		err := send(t, "smtp://"+addr, Options{StartTLS: StartTLSOff}, "a@example.org", "b@example.net")
		mustTemporary(t, err, c.temp)
		var e *Error
		if !errors.As(err, &e) || e.Op != "data" || e.Code != c.code {
			t.Fatalf("reply %q: %v (%+v), want op data code %d", c.reply, err, e, c.code)
		}
	}
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"250 ok\r\n", "452-4.3.1 a\r\n452 4.3.1 b\r\n", "5", "250-\n", "999 x\r\n", "250-a\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		err := readReply(r)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			if in[0] != '2' {
				t.Fatalf("%q accepted", in)
			}
		case errors.As(err, &se):
			if se.Code < 400 || se.Code > 599 {
				t.Fatalf("%q: code %d", in, se.Code)
			}
		}
	})
}
