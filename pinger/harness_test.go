package pinger

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/packet"
)

// The harness runs the pinger's real code (store, token, packet building,
// egress into a dir: spool, receipt) with a clock the test sets, and plays
// the remailers itself: it decrypts each ping with the remailers' secret
// keys (packet.Process, hop by hop) and delivers the result back when and
// if the script says so.

const pingerAddr = "pinger@pinger.test"

type harness struct {
	t      testing.TB
	dir    string
	spool  string
	p      *Pinger
	mu     sync.Mutex
	clock  time.Time
	secret map[string]*keyring.Secring // address → the remailer's keys
	pub    map[string]*keyring.PublicKey
	// imported is when the seed keys were last imported.
	imported time.Time
}

// keyCache keeps generated test keys across tests: RSA generation is the
// slow part.
var (
	keyCacheMu sync.Mutex
	keyCache   = map[string]*keyring.SecretKey{}
)

func testKey(t testing.TB, name string, created time.Time) *keyring.SecretKey {
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	if k, ok := keyCache[name]; ok {
		return k
	}
	k, err := keyring.Generate(1024, created, 4000*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyCache[name] = k
	return k
}

// keyEpoch is the creation date of every test key: before any test clock.
var keyEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newHarness makes a pinger that knows the named remailers (seeded keys;
// "mid" in a name makes a middleman key).
func newHarness(t testing.TB, now time.Time, names ...string) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clock: now, secret: map[string]*keyring.Secring{}, pub: map[string]*keyring.PublicKey{}}
	h.spool = filepath.Join(h.dir, "spool")
	var seed []byte
	for _, n := range names {
		sk := testKey(t, n, keyEpoch)
		caps := keyring.Caps("C")
		if strings.Contains(n, "mid") {
			caps = "MC"
		}
		addr := n + "@remailer.test"
		pub := sk.Public(n, addr, "2:3.0.2d", caps)
		h.secret[addr] = keyring.NewSecring([]*keyring.SecretKey{sk})
		h.pub[addr] = pub
		seed = append(seed, pub.KeyTxt()...)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "seed.mix"), seed, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: h.dir, Name: "test pinger", Address: pingerAddr, Deliver: "dir:" + h.spool,
		SeedPubring: "seed.mix", RecipientDelimiter: "+", Garbage: 200, ClientTimeout: 2 * time.Second}
	p, err := Open(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	p.Clock = h.now
	t.Cleanup(func() { p.Close() })
	h.p = p
	p.importSeed(now)
	h.imported = now
	return h
}

func (h *harness) now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clock
}

func (h *harness) set(t time.Time) {
	h.mu.Lock()
	h.clock = t
	h.mu.Unlock()
}

// outgoing returns and removes every mail in the egress spool, without
// the dir: envelope lines.
func (h *harness) outgoing() [][]byte {
	h.t.Helper()
	files, _ := filepath.Glob(filepath.Join(h.spool, "*.eml"))
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			h.t.Fatal(err)
		}
		os.Remove(f)
		for bytes.HasPrefix(data, []byte("X-Envelope-")) {
			_, data, _ = bytes.Cut(data, []byte("\n"))
		}
		out = append(out, data)
	}
	return out
}

// ping sends a ping through addrs at the current clock and returns the mail
// the exit would deliver to the pinger.
func (h *harness) ping(addrs ...string) []byte {
	h.t.Helper()
	if n := h.now(); n.Sub(h.imported).Abs() >= day {
		h.p.importSeed(n) // as each daily discovery round does
		h.imported = n
	}
	if err := h.p.SendPing(context.Background(), addrs); err != nil {
		h.t.Fatal(err)
	}
	mails := h.outgoing()
	if len(mails) != 1 {
		h.t.Fatalf("%d mails for one ping", len(mails))
	}
	if to := headerValue(mails[0], "To"); to != addrs[0] {
		h.t.Fatalf("ping mailed to %q, want %q", to, addrs[0])
	}
	return h.carry(mails[0], addrs)
}

// carry decrypts a packet mail hop by hop as the remailers would and
// renders the exit's delivery (with a disclaimer above and below, as some
// remailers add).
func (h *harness) carry(mail []byte, addrs []string) []byte {
	h.t.Helper()
	pkts, err := packet.Dearmor(mail)
	if err != nil || len(pkts) != 1 {
		h.t.Fatalf("dearmor: %v (%d packets)", err, len(pkts))
	}
	pkt := pkts[0]
	for i, a := range addrs {
		res, err := packet.Process(h.secret[a], pkt, rand.Reader)
		if err != nil {
			h.t.Fatalf("hop %d: %v", i, err)
		}
		if i < len(addrs)-1 {
			if res.Type != packet.TypeIntermediate || res.NextHop != addrs[i+1] {
				h.t.Fatalf("hop %d: type %d next %q", i, res.Type, res.NextHop)
			}
			pkt = res.Packet
			continue
		}
		if res.Type != packet.TypeFinal {
			h.t.Fatalf("exit: type %d", res.Type)
		}
		data, err := packet.DecodePayload(res.Payload)
		if err != nil {
			h.t.Fatal(err)
		}
		msg, err := packet.ParseMessage(data)
		if err != nil {
			h.t.Fatal(err)
		}
		if len(msg.Destinations) != 1 || msg.Destinations[0] != pingerAddr {
			h.t.Fatalf("ping addressed to %v", msg.Destinations)
		}
		var b bytes.Buffer
		b.WriteString("From: Anonymous <" + a + ">\nTo: " + pingerAddr + "\n\n")
		b.WriteString("This message was sent by an anonymous remailer.\n\n")
		b.Write(msg.Body)
		b.WriteString("\n-- \nAbuse: abuse@remailer.test\n")
		return b.Bytes()
	}
	return nil
}

// deliver hands a returned mail to the pinger at at.
func (h *harness) deliver(mail []byte, at time.Time) {
	h.t.Helper()
	if err := h.p.Receive(mail, []string{pingerAddr}, at); err != nil {
		h.t.Fatal(err)
	}
}

func headerValue(mail []byte, name string) string {
	head, _, _ := bytes.Cut(mail, []byte("\n\n"))
	for _, l := range strings.Split(string(head), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
