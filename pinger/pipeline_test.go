package pinger

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mixgo/mixgo/packet"
)

// The worked example of §4 (xrem) and a second hand-computed remailer
// (yrem), played through the real pipeline with a scripted clock: every
// ping is built, spooled, decrypted by the "remailer", and delivered back
// (or not) at the scripted time; then the published lists must be exactly
// the hand-computed ones.
//
// yrem: the same 144 ping times, every returned ping back after 10 min; the
// newest two outstanding as for xrem; on days 5–11 every other ping lost.
//
//	sent weight      = 12 × Σweights = 12 × 7.5 = 90
//	received weight  = today 11 × 0.5 = 5.5
//	                 + days 1–4: 12 × 4 × 1.0 = 48
//	                 + days 5–11: 6 × (0.9+0.8+0.5+0.3+0.2+0.2+0.1) = 18
//	                 = 71.5  → 71.5/90 = 79.44 %
//	Uptime-Hist      = days 11…5 "5" (6/12), days 4…1 "+", today 11/12 → "9"
//
// Chain pings, 2–5 days old: xrem→yrem four sent, none back (broken: done 0
// with out ≥ 3); yrem→xrem four sent, all back (1 > 0.3 × rel × rel). With
// two remailers the compression threshold is 2 × 0.5 = 1 pair, so the lone
// broken pair becomes (* yrem) and (xrem *).
const pipelineMlist2 = `Stats-Version: 2.0
Generated: Tue 24 Nov 2026 13:58:02 GMT
Mixmaster    Latent-Hist   Latent  Uptime-Hist   Uptime  Options
------------------------------------------------------------------------
xrem         111111111111    :30   +++++++++++9   99.4%    M            
yrem         000000000000    :10   5555555++++9   79.4%    M            

Broken type-I remailer chains:


Broken type-II remailer chains:
(* yrem)
(xrem *)



Remailer-Capabilities:

$remailer{"xrem"} = "<xrem@remailer.test> mix";
$remailer{"yrem"} = "<yrem@remailer.test> mix";
`

const pipelineMlist = `
Broken type-I remailer chains:


Broken type-II remailer chains:
(* yrem)
(xrem *)
Last update: Tue 24 Nov 2026 13:58:02 GMT
mixmaster           history  latency  uptime
--------------------------------------------
xrem           ************    30:00  99.44%
yrem           ************    10:00  79.44%
`

const (
	xrem = "xrem@remailer.test"
	yrem = "yrem@remailer.test"
)

func TestPipelineWorkedExample(t *testing.T) {
	h := newHarness(t, now.Add(-13*day), "xrem", "yrem")
	type delivery struct {
		mail []byte
		at   time.Time
	}
	var pending []delivery
	for k := 143; k >= 0; k-- {
		sent := now.Add(-20*time.Minute - time.Duration(k)*2*time.Hour)
		h.set(sent)
		mx := h.ping(xrem)
		my := h.ping(yrem)
		if k >= 2 {
			pending = append(pending, delivery{mx, h.now().Add(30 * time.Minute)})
		}
		if k >= 2 && !(k >= 60 && k%2 == 1) {
			pending = append(pending, delivery{my, h.now().Add(10 * time.Minute)})
		}
	}
	for d := 2; d <= 5; d++ {
		h.set(now.Add(-time.Duration(d) * day))
		h.ping(xrem, yrem) // lost
		back := h.ping(yrem, xrem)
		pending = append(pending, delivery{back, h.now().Add(40 * time.Minute)})
	}
	for _, d := range pending {
		h.set(d.at)
		h.deliver(d.mail, d.at)
	}
	h.set(now)

	v, err := h.p.View(now)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(RenderMlist2(v.List)); got != pipelineMlist2 {
		t.Errorf("mlist2.txt:\n%s\nwant:\n%s", got, pipelineMlist2)
	}
	if got := string(RenderMlist(v.List)); got != pipelineMlist {
		t.Errorf("mlist.txt:\n%s\nwant:\n%s", got, pipelineMlist)
	}
	x := v.Remailers[0].Stats
	if x.Sent != 144 || x.Returned != 142 || !near(x.SentWeight, 90) || !near(x.ReceivedWeight, 89.5) || x.Latency != 30*time.Minute {
		t.Errorf("xrem: %d/%d weights %v/%v latency %v", x.Returned, x.Sent, x.ReceivedWeight, x.SentWeight, x.Latency)
	}
	y := v.Remailers[1].Stats
	if y.Sent != 144 || y.Returned != 142-42 || !near(y.ReceivedWeight, 71.5) || y.Latency != 10*time.Minute {
		t.Errorf("yrem: %d/%d weights %v/%v latency %v", y.Returned, y.Sent, y.ReceivedWeight, y.SentWeight, y.Latency)
	}
	if v.ChainPings != 8 || v.ChainReturned != 4 {
		t.Errorf("chain pings %d, back %d; want 8, 4", v.ChainPings, v.ChainReturned)
	}

	// The lists published over HTTP parse with our own reader.
	for _, name := range []string{"mlist2.txt", "median/mlist2.txt"} {
		data, _, err := h.p.Render(name, now)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ParseMlist2(data)
		if err != nil || len(l.Rows) != 2 || l.Rows[1].Name != "yrem" || l.Rows[1].Uptime != 79.4 || l.Rows[0].Latency != 30*time.Minute {
			t.Errorf("%s reads back as %+v, %v", name, l, err)
		}
	}

	// Restarting keeps every measurement.
	path := h.p.Cfg.path(h.p.Cfg.StorePath)
	h.p.Close()
	st, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	h.p.Store = st
	h.p.changed()
	v2, err := h.p.View(now)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(RenderMlist2(v2.List)); got != pipelineMlist2 {
		t.Errorf("after reopening the store:\n%s", got)
	}
}

func TestReplayAndForgery(t *testing.T) {
	h := newHarness(t, now, "xrem")
	mail := h.ping(xrem)
	h.deliver(mail, now.Add(time.Minute))
	h.deliver(mail, now.Add(2*time.Minute)) // replay
	c := h.p.Counts()
	if c["ping-received"] != 1 || c["ping-duplicate"] != 1 {
		t.Errorf("counts %v", c)
	}
	v, _ := h.p.View(now.Add(3 * time.Minute))
	if s := v.Remailers[0].Stats; s.Sent != 1 || s.Returned != 1 || s.Latency != time.Minute {
		t.Errorf("stats after a replay: %+v", s)
	}

	// A token with a changed character, or made with another secret, or
	// not naming an outstanding ping, counts nothing.
	i := bytes.Index(mail, []byte(tokenBegin)) + len(tokenBegin) + 10
	bad := bytes.Clone(mail)
	if bad[i] == 'A' {
		bad[i] = 'B'
	} else {
		bad[i] = 'A'
	}
	h.deliver(bad, now.Add(4*time.Minute))
	other := newHarness(t, now, "xrem")
	h.deliver(other.ping(xrem), now.Add(5*time.Minute))
	tok, err := OpenToken(h.p.secret, mail)
	if err != nil {
		t.Fatal(err)
	}
	tok.Nonce[0] ^= 1
	forged, err := SealToken(h.p.secret, tok, 0, strings.NewReader(strings.Repeat("x", 64)))
	if err != nil {
		t.Fatal(err)
	}
	h.deliver(forged, now.Add(6*time.Minute))
	c = h.p.Counts()
	if c["ping-forged"] != 2 || c["ping-unknown"] != 1 || c["ping-received"] != 1 {
		t.Errorf("counts %v", c)
	}
}

func TestTokenRoundTrip(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	tok := Token{Remailers: []string{"a@x", "b@y"}, KeyIDs: []string{"00ff", "ff00"}, Sent: time.Unix(1764000000, 123456789)}
	tok.Nonce[3] = 9
	sealed, err := SealToken(secret, tok, 100, zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	// Line ends changed in transit and text around it do not matter.
	mail := append([]byte("Subject: x\r\n\r\nabove\r\n"), bytes.ReplaceAll(sealed, []byte("\n"), []byte("\r\n"))...)
	got, err := OpenToken(secret, append(mail, "below\n"...))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Sent.Equal(tok.Sent) || got.Nonce != tok.Nonce || strings.Join(got.Remailers, " ") != "a@x b@y" || strings.Join(got.KeyIDs, " ") != "00ff ff00" {
		t.Errorf("got %+v", got)
	}
	if _, err := OpenToken(bytes.Repeat([]byte{8}, 32), sealed); !errors.Is(err, ErrBadToken) {
		t.Errorf("another secret: %v", err)
	}
	if bytes.Contains(sealed, []byte("a@x")) {
		t.Error("the token shows the remailers in clear")
	}
	// mixd's largest padding (2048 bytes) still fits one packet, even
	// uncompressed, for a chain ping with two 32-hex key IDs.
	tok.KeyIDs = []string{strings.Repeat("a", 32), strings.Repeat("b", 32)}
	tok.Remailers = []string{strings.Repeat("r", 60) + "@x", strings.Repeat("s", 60) + "@y"}
	big, err := SealToken(secret, tok, 2048, zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	msg := &packet.Message{Destinations: []string{strings.Repeat("p", 60) + "@pinger.test"}, Body: big}
	if data, err := msg.Encode(false); err != nil || len(data) > packet.MaxChunkData {
		t.Errorf("a ping with 2048 bytes of garbage is %d bytes, more than one packet (%d): %v", len(data), packet.MaxChunkData, err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
