package pinger

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Replies made by the real Mixmaster 3.0.2d (testdata/mixmaster, vector
// r-responders-alpha): 01 answers remailer-key, 02 remailer-conf.
func vectorReply(t *testing.T, n string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "mixmaster", "vectors", "r-responders-alpha", n+"-alpha-output.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseReplyMixmaster(t *testing.T) {
	key := ParseReply(vectorReply(t, "01"))
	if len(key.Capstrings) != 1 || key.Capstrings[0].String() != `$remailer{"alpha"} = "<alpha@remailer.test> mix remix inflt50 rhop5 post";` {
		t.Errorf("key reply capstring %v", key.Capstrings)
	}
	if len(key.Keys) != 1 || key.Keys[0].Name != "alpha" || key.Keys[0].Bits() != 1024 || string(key.Keys[0].Caps) != "CNm" {
		t.Fatalf("key reply keys %+v", key.Keys)
	}
	conf := ParseReply(vectorReply(t, "02"))
	if conf.RemailerType != "Mixmaster 3.0.2d" || len(conf.Capstrings) != 1 || len(conf.Keys) != 0 {
		t.Errorf("conf reply: %+v", conf)
	}
	if len(conf.FilteredHeaders) != 16 || conf.FilteredHeaders[0] != "/^From:/" || conf.FilteredHeaders[15] != "/^Newsgroups:.*,.*,.*,.*,.*,/ => delete message" {
		t.Errorf("filtered headers %q", conf.FilteredHeaders)
	}
	if len(conf.Supported) != 5 || !strings.HasPrefix(conf.Supported[4], "echo echo@remailer.test ") {
		t.Errorf("supported %q", conf.Supported)
	}
	// mixd's conf answer lists allowed_headers after the filters.
	allowed := ParseReply([]byte("Remailer-Type: Mixmaster 3.0.2d\nOnly these header lines are passed on:\n   To Cc Subject In-Reply-To\n  References\n\nx\n"))
	if strings.Join(allowed.AllowedHeaders, " ") != "To Cc Subject In-Reply-To References" {
		t.Errorf("allowed headers %q", allowed.AllowedHeaders)
	}

	// A clear-signed key answer (mixd's sign_replies): dash escapes go.
	var signed bytes.Buffer
	signed.WriteString("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n")
	_, text, _ := bytes.Cut(vectorReply(t, "01"), []byte("\n\n"))
	for _, l := range strings.SplitAfter(string(text), "\n") {
		if strings.HasPrefix(l, "-") {
			signed.WriteString("- ")
		}
		signed.WriteString(l)
	}
	signed.WriteString("-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCAAQ\n-----END PGP SIGNATURE-----\n")
	if r := ParseReply(signed.Bytes()); len(r.Keys) != 1 || len(r.Capstrings) != 1 || r.Keys[0].Name != "alpha" {
		t.Errorf("clear-signed answer: %+v", r)
	}
	if !ParseReply([]byte("\n  Not a remailer, sorry.\n")).NotARemailer {
		t.Error("'not a remailer' not seen")
	}
}

// request sends a request through the harness and returns its mail.
func (h *harness) request(addr, kind string) []byte {
	h.t.Helper()
	if err := h.p.SendRequest(context.Background(), addr, kind); err != nil {
		h.t.Fatal(err)
	}
	m := h.outgoing()
	if len(m) != 1 {
		h.t.Fatalf("%d mails for one request", len(m))
	}
	return m[0]
}

// answer makes the vector reply n an answer to req (as a remailer replies
// to the request's From).
func answer(t *testing.T, req []byte, n string) (reply []byte, to string) {
	to = headerValue(req, "From")
	return bytes.Replace(vectorReply(t, n), []byte("To: user1@example.test"), []byte("To: "+to), 1), to
}

func TestDiscovery(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	h := newHarness(t, at)
	const alpha = "alpha@remailer.test"

	keyReq := h.request(alpha, "key")
	if headerValue(keyReq, "Subject") != "remailer-key" || headerValue(keyReq, "To") != alpha {
		t.Fatalf("request:\n%s", keyReq)
	}
	from := headerValue(keyReq, "From")
	if !strings.HasPrefix(from, "pinger+r") || !strings.HasSuffix(from, "@pinger.test") || len(from) != len("pinger+r0123456789abcdef@pinger.test") {
		t.Fatalf("request From %q carries no request ID", from)
	}
	if !h.p.accepts(from) || h.p.accepts("other+r00@pinger.test") || h.p.accepts("pinger@elsewhere.test") {
		t.Error("SMTP recipient check")
	}

	// A reply to the plain address (no request ID) is not trusted.
	plain := bytes.Replace(vectorReply(t, "01"), []byte("user1@example.test"), []byte(pingerAddr), 1)
	if err := h.p.Receive(plain, []string{pingerAddr}, at); err != nil {
		t.Fatal(err)
	}
	if ts, _ := h.p.Targets(at); len(ts) != 0 {
		t.Fatalf("an unsolicited key reply was taken: %+v", ts)
	}

	// A key reply for another address than the one asked is ignored.
	bravoReq := h.request("bravo@remailer.test", "key")
	wrong, to := answer(t, bravoReq, "01")
	if err := h.p.Receive(wrong, []string{to}, at); err != nil {
		t.Fatal(err)
	}
	if ts, _ := h.p.Targets(at); len(ts) != 0 {
		t.Fatalf("a key for another address was taken: %+v", ts)
	}

	reply, to := answer(t, keyReq, "01")
	if err := h.p.Receive(reply, []string{to}, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	conf, to := answer(t, h.request(alpha, "conf"), "02")
	if err := h.p.Receive(conf, []string{to}, at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ts, err := h.p.Targets(at.Add(time.Hour))
	if err != nil || len(ts) != 1 {
		t.Fatalf("targets %+v, %v", ts, err)
	}
	r := ts[0].Rec
	if r.Name != "alpha" || r.RemailerType != "Mixmaster 3.0.2d" || len(r.FilteredHeaders) != 16 || r.Seeded ||
		!strings.Contains(r.Capstring, "inflt50") || ts[0].Key.Bits() != 1024 {
		t.Errorf("record %+v", r)
	}
	c := h.p.Counts()
	if c["reply-key"] != 1 || c["reply-conf"] != 1 || c["reply-unsolicited"] != 1 || c["reply-other-address"] != 1 {
		t.Errorf("counts %v", c)
	}

	// The published key ring and list carry it.
	v, err := h.p.View(at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(v.Type2Text()); got != "alpha alpha@remailer.test 45e104448ad3630f8c708b360415423d 2:3.0.2d CNm 2026-11-24 2046-11-19\n" {
		t.Errorf("type2.list %q", got)
	}
	if v.List.Rows[0].Options != " PR         IN " {
		t.Errorf("options %q", v.List.Rows[0].Options)
	}

	// Discovery plans a key and a conf request to every known remailer
	// and configured address.
	h.p.Cfg.Remailers = []string{"delta@remailer.test"}
	if n := h.p.PlanDiscovery(at, time.Hour); n != 4 {
		t.Errorf("%d requests planned, want 4", n)
	}
}
