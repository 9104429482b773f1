package mix

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/mixgo/mixgo/pool"
)

// sink is a receiving MTA on 127.0.0.1 offering STARTTLS; it records each
// mail and whether its session was encrypted.
type sink struct {
	mu    sync.Mutex
	mails []sunk
}

type sunk struct {
	to   []string
	data []byte
	tls  bool
}

type sinkSession struct {
	s    *sink
	conn *smtp.Conn
	to   []string
}

func (s *sink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &sinkSession{s: s, conn: c}, nil
}

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, encrypted := ss.conn.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, sunk{ss.to, data, encrypted})
	ss.s.mu.Unlock()
	return nil
}
func (ss *sinkSession) Reset()        { ss.to = nil }
func (ss *sinkSession) Logout() error { return nil }

func (s *sink) received() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.mails...)
}

func startSink(t *testing.T) (*sink, string) {
	t.Helper()
	certPEM, keyPEM, err := SelfSignedCert("sink.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s, ln.Addr().String()
}

// exitNode makes an exit node delivering to addr.
func exitNode(t *testing.T, addr string) *Node {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "exit")
	if _, err := Init(dir, InitOptions{Name: "exit", Address: "exit@example.test", KeyBits: 1024,
		Deliver: "smtp://" + addr, Hostname: "mx.example.test"}); err != nil {
		t.Fatal(err)
	}
	n, err := Open(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// lookupTXT answers the verifier's DNS query for the node's key record.
func lookupTXT(t *testing.T, n *Node) func(string) ([]string, error) {
	key, err := LoadDKIMKey(n.Dir, n.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := DKIMRecord(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return func(name string) ([]string, error) {
		if name+"." == n.Cfg.DKIMRecordName() {
			return []string{rec}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
}

func verifyDKIM(data []byte, lookup func(string) ([]string, error)) error {
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		return err
	}
	if len(vs) != 1 {
		return errors.New("want exactly one signature")
	}
	return vs[0].Err
}

// finalMail is a final message as BuildFinal makes it, LF line ends.
const finalMail = "From: Anonymous <exit@example.test>\nTo: alice@example.org\nSubject: hello\n" +
	"Message-ID: <abc@example.test>\n\nThe body, with a trailing space \n.\n..leading dots\n"

// TestDeliverySignedOverTLS: a final message leaves the exit DKIM-signed
// over a STARTTLS session, and the receiver's verifier accepts it; a packet
// for the next remailer is not signed.
func TestDeliverySignedOverTLS(t *testing.T) {
	sk, addr := startSink(t)
	n := exitNode(t, addr)
	now := time.Now()
	packet := bytes.Repeat([]byte{0x5a}, 20480)
	if err := n.Store.AddPool(now,
		pool.Item{Kind: pool.KindMail, Dest: "alice@example.org", Data: []byte(finalMail)},
		pool.Item{Kind: pool.KindPacket, Dest: "next@remailer.test", Data: packet},
	); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Store.DrainAll(now); err != nil {
		t.Fatal(err)
	}
	s, err := n.NewSender()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sent, failed, err := n.SendDue(ctx, s)
	if err != nil || sent != 2 || failed != 0 {
		t.Fatalf("SendDue: sent %d failed %d: %v", sent, failed, err)
	}
	got := sk.received()
	if len(got) != 2 {
		t.Fatalf("sink received %d mails, want 2", len(got))
	}
	lookup := lookupTXT(t, n)
	var final, pkt *sunk
	for i := range got {
		if !got[i].tls {
			t.Errorf("mail to %v went in clear", got[i].to)
		}
		if got[i].to[0] == "alice@example.org" {
			final = &got[i]
		} else {
			pkt = &got[i]
		}
	}
	if final == nil || pkt == nil {
		t.Fatalf("recipients: %+v", got)
	}
	if err := verifyDKIM(final.data, lookup); err != nil {
		t.Fatalf("DKIM verification of the delivered mail: %v\n%s", err, final.data)
	}
	if !bytes.Contains(final.data, []byte("d=example.test")) || !bytes.Contains(final.data, []byte("s=mixd")) {
		t.Errorf("signature names the wrong domain or selector:\n%s", final.data)
	}
	if bytes.Contains(pkt.data, []byte("DKIM-Signature")) {
		t.Error("a packet for the next remailer was signed")
	}
	// The verifier really checks: a changed body fails.
	tampered := bytes.Replace(final.data, []byte("The body"), []byte("A body"), 1)
	if err := verifyDKIM(tampered, lookup); err == nil {
		t.Fatal("a tampered mail verified")
	}
	// So does a From: added after signing (From is oversigned).
	if err := verifyDKIM(append([]byte("From: mallory@evil.test\r\n"), final.data...), lookup); err == nil {
		t.Fatal("a mail with an added From: verified")
	}
}

// TestDKIMKeyMissingDefers: a configured but unreadable key keeps final
// mail in the queue (temporary failure) instead of sending it unsigned.
func TestDKIMKeyMissingDefers(t *testing.T) {
	sk, addr := startSink(t)
	n := exitNode(t, addr)
	n.Cfg.DKIMKey = "gone.key"
	now := time.Now()
	if err := n.Store.AddPool(now, pool.Item{Kind: pool.KindMail, Dest: "alice@example.org", Data: []byte(finalMail)}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Store.DrainAll(now); err != nil {
		t.Fatal(err)
	}
	s, err := n.NewSender()
	if err != nil {
		t.Fatal(err)
	}
	sent, failed, _ := n.SendDue(context.Background(), s)
	if sent != 0 || failed != 1 || len(sk.received()) != 0 {
		t.Fatalf("sent %d failed %d received %d; want the mail deferred", sent, failed, len(sk.received()))
	}
	st, err := n.Store.Stats(now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outgoing != 1 {
		t.Fatalf("outgoing queue holds %d, want the deferred mail", st.Outgoing)
	}
}

func TestSignDKIMLineEnds(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	rec, err := DKIMRecord(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(string) ([]string, error) { return []string{rec}, nil }
	for _, in := range []string{
		finalMail,
		strings.ReplaceAll(finalMail, "\n", "\r\n"),
		strings.ReplaceAll(finalMail, "\n", "\r"),
		"From: a@b.test\nSubject: no body",
	} {
		out, err := SignDKIM([]byte(in), "example.test", "sel", priv)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\n")) {
			t.Errorf("%q: bare LF left in the signed mail", in)
		}
		if err := verifyDKIM(out, lookup); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// FuzzSignDKIM: final messages carry text from anonymous senders. Signing
// must never panic, and whatever it signs must verify.
func FuzzSignDKIM(f *testing.F) {
	f.Add([]byte(finalMail))
	f.Add([]byte("From: x\r\n\r\n"))
	f.Add([]byte("Subject: =?utf-8?q?x?=\n\tfolded\nTo: a\n\nbody\r\rmore"))
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	rec, _ := DKIMRecord(priv.Public())
	lookup := func(string) ([]string, error) { return []string{rec}, nil }
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, err := SignDKIM(msg, "example.test", "sel", priv)
		if err != nil {
			return
		}
		if err := verifyDKIM(out, lookup); err != nil {
			t.Fatalf("signed %q does not verify: %v", msg, err)
		}
	})
}
