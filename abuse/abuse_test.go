package abuse

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const vec = "../testdata/mixmaster/vectors/r-responders-alpha/"

var alphaAddrs = Addresses{Remailer: "alpha@remailer.test", Abuse: []string{"abuse@remailer.test", "postmaster@remailer.test"}}

// The requests the real program answered classify as it treated them.
func TestClassifyVectorRequests(t *testing.T) {
	cases := []struct {
		file    string
		kind    Kind
		request string
		block   string
		sender  string
	}{
		{"01-remailer-key.request.eml", Request, "remailer-key", "", "user1@example.test"},
		{"02-remailer-conf.request.eml", Request, "remailer-conf", "", "user1@example.test"},
		{"03-remailer-help.request.eml", Request, "remailer-help", "", "user1@example.test"},
		{"04-remailer-adminkey.request.eml", Request, "remailer-adminkey", "", "user1@example.test"},
		{"06-remailer-stats.request.eml", Request, "remailer-stats", "", "user1@example.test"},
		{"07-destination-block.request.eml", DestBlock, "", "victim@example.test", "victim@example.test"},
		{"08-non-remailer-mail.request.eml", Other, "", "", "someone@example.test"},
		{"09-abuse-complaint.request.eml", Complaint, "", "", "angry@example.test"},
		{"10-remailer-unknown-file.request.eml", Request, "remailer-help-xx", "", "user1@example.test"},
	}
	for _, c := range cases {
		raw, err := os.ReadFile(vec + c.file)
		if err != nil {
			t.Fatal(err)
		}
		m := Classify(raw, alphaAddrs)
		if m.Kind != c.kind || m.Request != c.request || m.Block != c.block || !m.HasSender || m.Sender.Addr != c.sender || m.Automatic {
			t.Errorf("%s: got %+v", c.file, m)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name, mail string
		kind       Kind
		check      func(Mail) bool
	}{
		{"help alias", "From: a@b.example\nSubject:  HELP \n\n", Request, func(m Mail) bool { return m.Request == "remailer-help" }},
		{"reply-to wins", "From: a@b.example\nReply-To: Someone <c@d.example>\nSubject: remailer-key\n\n", Request,
			func(m Mail) bool { return m.Sender.Addr == "c@d.example" && m.Sender.Display == "c@d.example" }},
		{"echolot comment token kept", "From: pinger@echo.example(conf.12=1700000000=ab12)\nSubject: remailer-conf\n\n", Request,
			func(m Mail) bool { return m.Sender.Display == "pinger@echo.example (conf.12=1700000000=ab12)" }},
		{"crlf and folding", "From: a@b.example\r\nSubject:\r\n remailer-stats\r\n\r\nbody\r\n", Request,
			func(m Mail) bool { return m.Request == "remailer-stats" }},
		{"mbox from line", "From x@y Thu Nov 26 2026\nFrom: a@b.example\nSubject: remailer-conf\n\n", Request, nil},
		{"bounce", "From: MAILER-DAEMON@mx.example\nSubject: remailer-key\n\n", Bounce, nil},
		{"bounce by report", "From: a@b.example\nContent-Type: multipart/report; report-type=delivery-status\n\n", Bounce, nil},
		{"abuse by cc", "From: a@b.example\nTo: alpha@remailer.test\nCc: Abuse <ABUSE@remailer.test>\nSubject: remailer-key\n\n", Complaint, nil},
		{"abuse by delivered-to", "Delivered-To: postmaster@remailer.test\nFrom: a@b.example\nTo: undisclosed-recipients:;\n\n", Complaint, nil},
		{"own address is no abuse address", "From: a@b.example\nTo: alpha@remailer.test\nSubject: hi\n\n", Other, nil},
		{"automatic", "From: a@b.example\nAuto-Submitted: auto-replied\nSubject: remailer-key\n\n", Request, func(m Mail) bool { return m.Automatic }},
		{"auto-submitted no", "From: a@b.example\nAuto-Submitted: no\nSubject: remailer-key\n\n", Request, func(m Mail) bool { return !m.Automatic }},
		{"list mail", "From: a@b.example\nList-Id: <x.example>\nSubject: remailer-key\n\n", Request, func(m Mail) bool { return m.Automatic }},
		{"confirmation in subject", "From: v@x.example\nSubject: Re: Confirm destination-block dbc-abcdefghijklmnopqrstuvwxyz\n\n> quoted\n", Confirm,
			func(m Mail) bool { return len(m.Tokens) == 1 && m.Tokens[0] == "dbc-abcdefghijklmnopqrstuvwxyz" }},
		{"confirmation quoted in body", "From: v@x.example\nSubject: ok\n\n> confirm DBC-ABCDEFGHIJKLMNOPQRSTUVWXYZ\n", Confirm, nil},
		{"block from sender", "From: V <v@x.example>\nSubject: destination-block\n\nplease\n", DestBlock, func(m Mail) bool { return m.Block == "v@x.example" }},
		{"block named in quoted line", "From: v@x.example\nSubject: Re: About your mail\n\n> destination-block <w@y.example>.\n", DestBlock,
			func(m Mail) bool { return m.Block == "w@y.example" }},
		{"8-bit byte before the keyword", "From: v@x.example\nSubject: x\n\n\xc7DESTINATION-BLOCK w@y.example\n", DestBlock,
			func(m Mail) bool { return m.Block == "w@y.example" }},
		{"block regex refused", "From: v@x.example\nSubject: destination-block /.*/\n\n", DestBlock, func(m Mail) bool { return m.Block == "" }},
		{"no sender", "Subject: remailer-key\n\n", Request, func(m Mail) bool { return !m.HasSender }},
		{"two senders", "From: a@b.example, c@d.example\nSubject: remailer-key\n\n", Request, func(m Mail) bool { return !m.HasSender }},
		{"quoted local part refused", "From: \"a b\"@c.example\nSubject: remailer-key\n\n", Request, func(m Mail) bool { return !m.HasSender }},
		{"not a request", "From: a@b.example\nSubject: remailer-key please\n\n", Other, nil},
		{"empty", "", Other, func(m Mail) bool { return !m.HasSender }},
	}
	for _, c := range cases {
		m := Classify([]byte(c.mail), alphaAddrs)
		if m.Kind != c.kind || (c.check != nil && !c.check(m)) {
			t.Errorf("%s: got %+v (%v)", c.name, m, m.Kind)
		}
	}
}

func TestValidAddress(t *testing.T) {
	for _, a := range []string{"a@b.example", "pinger+conf.1=170=ab@x.example", "A.B-c@sub.x-y.example"} {
		if !ValidAddress(a) {
			t.Errorf("%q refused", a)
		}
	}
	for _, a := range []string{"", "a", "a@b", "@b.example", "a@-b.example", "a@b..example", "a b@c.example", "a@b.example>", "a\n@b.example",
		"\"q\"@b.example", "a@b@c.example", "a,b@c.example", strings.Repeat("a", 65) + "@b.example"} {
		if ValidAddress(a) {
			t.Errorf("%q accepted", a)
		}
	}
}

func TestTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok] || len(tok) != 30 {
			t.Fatalf("token %q repeated or malformed", tok)
		}
		seen[tok] = true
		got := FindTokens("Re: Confirm destination-block " + strings.ToUpper(tok) + "\n> " + tok)
		if len(got) != 1 || got[0] != tok {
			t.Fatalf("FindTokens = %v, want [%s]", got, tok)
		}
		if TokenHash(tok) == TokenHash(tok+"x") || TokenHash(tok) != TokenHash(strings.ToUpper(tok)) {
			t.Fatal("TokenHash")
		}
	}
	if len(FindTokens("dbc-short xdbc-abcdefghijklmnopqrstuvwxyz")) != 0 {
		t.Error("found a token inside a word or a short one")
	}
}

func TestLimiterBurst(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	l := NewLimiter(3, 5, time.Hour)
	allowed := 0
	for range 10 {
		if l.Allow("A@x.example", now) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("one sender: %d answers of 10, want 3", allowed)
	}
	// Case does not make a new requester.
	if l.Allow("a@X.EXAMPLE", now) {
		t.Fatal("same address in other case got a fourth answer")
	}
	for _, s := range []string{"b@x.example", "c@x.example", "d@x.example"} {
		if l.Allow(s, now) {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("total %d, want the limit 5", allowed)
	}
	// A third of the window refills one answer of the sender's three and
	// 5/3 of the total.
	later := now.Add(20 * time.Minute)
	if !l.Allow("a@x.example", later) || l.Allow("a@x.example", later) {
		t.Fatal("refill after a third of the window is not one answer")
	}
	if !l.Allow("e@x.example", now.Add(2*time.Hour)) {
		t.Fatal("no answer after a full window")
	}
}

func TestLimiterManySenders(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	l := NewLimiter(1, 1<<30, time.Minute)
	for i := range 3 * maxSenders {
		if !l.Allow(strings.Repeat("x", i%7)+string(rune('a'+i%26))+"@"+time.Duration(i).String()+".example", now.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("sender %d refused", i)
		}
	}
	if len(l.senders) > maxSenders {
		t.Fatalf("%d senders kept, bound %d", len(l.senders), maxSenders)
	}
}

func TestStateOncePerPeriod(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var s State
	secret := []byte("secret")
	k := SenderKey(secret, "Angry@x.example")
	if k != SenderKey(secret, "angry@x.example") || k == SenderKey([]byte("other"), "angry@x.example") || strings.Contains(k, "angry") {
		t.Fatal("SenderKey")
	}
	if !s.ReplyDue(k, now, time.Hour) {
		t.Fatal("first reply not due")
	}
	s.MarkReplied(k, now)
	for _, d := range []time.Duration{0, time.Minute, 59 * time.Minute} {
		if s.ReplyDue(k, now.Add(d), time.Hour) {
			t.Fatalf("second reply due after %v", d)
		}
	}
	if !s.ReplyDue(k, now.Add(time.Hour), time.Hour) {
		t.Fatal("reply not due after the period")
	}
	s.Prune(now.Add(time.Hour), time.Hour)
	if len(s.Replied) != 0 {
		t.Fatal("prune kept an old answer")
	}
}

func TestStatePending(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var s State
	if !s.AddPending(TokenHash("dbc-1"), "v@x.example", now.Add(time.Hour)) {
		t.Fatal("AddPending")
	}
	if !s.PendingFor("V@X.example", now) || s.PendingFor("w@x.example", now) || s.PendingFor("v@x.example", now.Add(time.Hour)) {
		t.Fatal("PendingFor")
	}
	if _, ok := s.TakePending(TokenHash("dbc-2"), now); ok {
		t.Fatal("unknown token taken")
	}
	if a, ok := s.TakePending(TokenHash("dbc-1"), now); !ok || a != "v@x.example" {
		t.Fatal("token not taken")
	}
	if _, ok := s.TakePending(TokenHash("dbc-1"), now); ok {
		t.Fatal("token confirmed twice")
	}
	s.AddPending(TokenHash("dbc-3"), "v@x.example", now.Add(time.Hour))
	if _, ok := s.TakePending(TokenHash("dbc-3"), now.Add(time.Hour)); ok {
		t.Fatal("expired token taken")
	}
	for i := range MaxPending + 5 {
		s.AddPending(TokenHash(time.Duration(i).String()), "v@x.example", now.Add(time.Hour))
	}
	if len(s.Pending) != MaxPending {
		t.Fatalf("%d pending, bound %d", len(s.Pending), MaxPending)
	}
}

func TestDeliverMaildir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "abuse")
	now := time.Now()
	p1, err := Deliver(dir, []byte("From: a@b.example\r\n\r\ncomplaint\r\n"), rand.Reader, now)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Deliver(dir, []byte("second"), rand.Reader, now)
	if err != nil || p1 == p2 {
		t.Fatal(err, p1, p2)
	}
	got, _ := os.ReadFile(p1)
	if string(got) != "From: a@b.example\n\ncomplaint\n" || filepath.Dir(p1) != filepath.Join(dir, "new") {
		t.Fatalf("%s: %q", p1, got)
	}
	if fi, _ := os.Stat(p1); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Error("left files in tmp")
	}
	if _, err := os.Stat(filepath.Join(dir, "cur")); err != nil {
		t.Error("no cur folder")
	}
}

func TestInfoAndReply(t *testing.T) {
	help := ParseInfo([]byte("Subject: Help for the alpha test remailer\n\nThis is the help file.\n"))
	if help.Subject != "Help for the alpha test remailer" || string(help.Body) != "This is the help file.\n" {
		t.Fatalf("%+v", help)
	}
	// 3.0.2d's stock abuse text has no header: all of it is text.
	stock := []byte("We received your complaint (this first line deliberately has no blank line before it, like the stock file).\n\nSend a mail containing DESTINATION-BLOCK to block yourself.\n")
	if i := ParseInfo(stock); i.Subject != "" || !bytes.Equal(i.Body, stock) {
		t.Fatalf("%+v", i)
	}
	if i := ParseInfo([]byte("Subject: x\nno blank line follows")); i.Subject != "" {
		t.Fatalf("%+v", i)
	}
	got := Expand([]byte("a\nDESTINATION-BLOCK\nDESTINATION-BLOCK x\n"), "v@x.example")
	if string(got) != "a\ndestination-block v@x.example\nDESTINATION-BLOCK x\n" {
		t.Fatalf("%q", got)
	}
	r := Reply{FromName: "Test Remailer alpha", From: "alpha@remailer.test", To: "user1@example.test",
		Subject: "Remailer key\nX-Injected: yes", Body: []byte("body\n")}
	want := "From: Test Remailer alpha <alpha@remailer.test>\nTo: user1@example.test\nSubject: Remailer key X-Injected: yes\n\nbody\n"
	if string(r.Bytes()) != want {
		t.Fatalf("%q", r.Bytes())
	}
	for _, text := range [][]byte{DefaultAbuseText("alpha", "alpha@remailer.test", 168*time.Hour), DefaultHelpText("alpha", "alpha@remailer.test", "abuse@remailer.test"),
		DefaultBlockedText("alpha")} {
		if i := ParseInfo(text); i.Subject == "" || len(i.Body) == 0 {
			t.Errorf("default text without subject: %q", text)
		}
	}
	abuse := ParseInfo(DefaultAbuseText("alpha", "alpha@remailer.test", 168*time.Hour))
	if !strings.Contains(string(Expand(abuse.Body, "angry@x.example")), "\ndestination-block angry@x.example\n") || !strings.Contains(string(abuse.Body), "7 days") {
		t.Error("default abuse text lacks the block line or the period")
	}
}

func TestSplitMessage(t *testing.T) {
	cases := []struct {
		name, mail    string
		fields        int
		from, subject string
		body          string
	}{
		{"crlf and folding", "From: a@b.example\r\nSubject: two\r\n\t words \r\n\r\nbody\r\n", 2, "a@b.example", "two words", "body\r\n"},
		{"mbox from line", "From x@y Thu Nov 26 2026\nFrom: a@b.example\n\nbody\n", 1, "a@b.example", "", "body\n"},
		{"bad line starts the body", "From: a@b.example\nSubject: x\nplease block me\n destination-block v@x.example\n", 2, "a@b.example", "x",
			"please block me\n destination-block v@x.example\n"},
		{"no field at all", "destination-block v@x.example\n\nthanks\n", 0, "", "", "destination-block v@x.example\n\nthanks\n"},
		{"leading blank is no field", " From: a@b.example\n\nbody\n", 0, "", "", " From: a@b.example\n\nbody\n"},
		{"blank before the colon", "Subject : x\n\n", 1, "", "x", ""},
		{"no body", "From: a@b.example\nSubject: x", 2, "a@b.example", "x", ""},
		{"empty header", "\nbody", 0, "", "", "body"},
	}
	for _, c := range cases {
		h, body := SplitMessage([]byte(c.mail))
		if h.Len() != c.fields || h.Get("From") != c.from || h.Get("Subject") != c.subject || string(body) != c.body {
			t.Errorf("%s: %d fields, From %q, Subject %q, body %q", c.name, h.Len(), h.Get("From"), h.Get("Subject"), body)
		}
	}
}

// A hostile header costs at most maxHeaderBytes and maxFields; what lies
// beyond is not read, the field the limit cuts is dropped, and the body
// is still found after the empty line.
func TestSplitMessageLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@b.example\n")
	for i := 0; i < 600; i++ {
		fmt.Fprintf(&b, "X-N: %d\n", i)
	}
	h, body := SplitMessage([]byte(b.String() + "Subject: remailer-key\n\nbody\n"))
	if h.Len() != maxFields || h.Get("From") != "a@b.example" || len(h.Values("X-N")) != maxFields-1 || h.Has("Subject") || string(body) != "body\n" {
		t.Errorf("600 fields: %d read, From %q, body %q", h.Len(), h.Get("From"), body)
	}

	head := "From: a@b.example\n"
	for len(head) < maxHeaderBytes-1000 { // fewer than maxFields lines
		head += "X-Pad: " + strings.Repeat("p", 900) + "\n"
	}
	// The limit falls after "Subject: remailer-key" of a longer subject.
	head += "X-Pad: " + strings.Repeat("p", maxHeaderBytes-len(head)-len("Subject: remailer-key")-len("X-Pad: \n")) + "\n"
	raw := head + "Subject: remailer-key please\nX-Late: 1\n\nconfirm dbc-abcdefghijklmnopqrstuvwxyz\n"
	h, body = SplitMessage([]byte(raw))
	if h.Get("From") != "a@b.example" || h.Has("Subject") || h.Has("X-Late") || string(body) != "confirm dbc-abcdefghijklmnopqrstuvwxyz\n" {
		t.Errorf("oversized header: Subject %q, X-Late %v, body %q", h.Get("Subject"), h.Has("X-Late"), body)
	}
	if m := Classify([]byte(raw), alphaAddrs); m.Kind != Confirm || !m.HasSender {
		t.Errorf("oversized header classified %+v", m)
	}
	// A field ending exactly at the limit is kept unless a continuation
	// line follows.
	head = head[:len(head)-2] + "\n" // one pad byte less
	for _, c := range []struct{ next, subject string }{{"X-Late: 1\n", "remailer-key"}, {" please\n", ""}} {
		if h, body := SplitMessage([]byte(head + "Subject: remailer-key\n" + c.next + "\nbody")); h.Get("Subject") != c.subject || string(body) != "body" {
			t.Errorf("header ending at the limit before %q: Subject %q, body %q", c.next, h.Get("Subject"), body)
		}
	}
	// A nameless field (go-message skips it) cut by the limit.
	if h, body := SplitMessage([]byte(": " + strings.Repeat("x", maxHeaderBytes) + "\n\nbody")); h.Len() != 0 || string(body) != "body" {
		t.Errorf("nameless field: %d fields, body %q", h.Len(), body)
	}
	// An oversized header without an empty line has no body.
	if _, body := SplitMessage([]byte(head + strings.Repeat("X-More: x\n", 100))); body != nil {
		t.Errorf("body %q", body)
	}
}

// Subject and From may be RFC 2047 words in any common charset.
func TestEncodedWords(t *testing.T) {
	m := Classify([]byte("From: =?koi8-r?B?6dfBziDwxdTSz9c=?= <a@b.example>\nSubject: =?utf-8?q?remailer-key?=\n\n"), alphaAddrs)
	if m.Kind != Request || m.Request != "remailer-key" || !m.HasSender || m.Sender.Display != "a@b.example" {
		t.Errorf("encoded request: %+v", m)
	}
	m = Classify([]byte("From: =?windows-1251?B?xuDr7uHg?= <a@b.example>\nTo: =?x-unknown?q?x?= <abuse@remailer.test>\nSubject: =?windows-1251?B?xuDr7uHg?=\n\n"), alphaAddrs)
	if m.Kind != Complaint || !m.HasSender {
		t.Errorf("encoded complaint: %+v", m)
	}
	if i := ParseInfo([]byte("Subject: =?utf-8?q?Hilfe_f=C3=BCr_alpha?=\n\ntext\n")); i.Subject != "Hilfe für alpha" || string(i.Body) != "text\n" {
		t.Errorf("%+v", i)
	}
}

func TestReplyHeader(t *testing.T) {
	long := strings.Repeat("Statistik für den Remailer ", 6)
	r := Reply{FromName: "Remailer, Inc.", From: "alpha@remailer.test", To: "p@e.example (conf.1=2=ab)", Subject: long,
		Extra: []Field{{"Auto-Submitted", "auto-replied"}, {"Subject", "injected"}, {"Bad Name", "x"}, {strings.Repeat("N", 80), "x y"}, {"X-Note", "a\r\nBcc: v@x.example"}}, Body: []byte("body\n")}
	raw := r.Bytes()
	if bytes.Contains(raw, []byte("\r")) || !bytes.HasSuffix(raw, []byte("\n\nbody\n")) {
		t.Fatalf("%q", raw)
	}
	// go-message folds at blanks: a long line only when its first word
	// (here an RFC 2047 word) does not fit in 78 characters.
	for _, l := range strings.Split(string(raw), "\n") {
		if len(l) > 998 {
			t.Errorf("line of %d characters: %q", len(l), l)
		}
	}
	h, body := SplitMessage(raw)
	subject, err := h.Subject()
	if err != nil || subject != long || string(body) != "body\n" {
		t.Fatalf("subject %q (%v), body %q", subject, err, body)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Remailer, Inc." || from[0].Address != "alpha@remailer.test" {
		t.Errorf("From %q: %v", h.Get("From"), err)
	}
	if h.Len() != 5 || h.Get("To") != "p@e.example (conf.1=2=ab)" || h.Get("Auto-Submitted") != "auto-replied" || h.Get("X-Note") != "a  Bcc: v@x.example" || h.Has("Bcc") {
		t.Errorf("header %q", raw)
	}
	r = Reply{FromName: "Relais Zürich", From: "z@remailer.test", To: "a@b.example", Subject: strings.Repeat("Statistics for the remailer ", 6)}
	raw = r.Bytes()
	if h, _ := SplitMessage(raw); h.Get("From") != "=?utf-8?q?Relais_Z=C3=BCrich?= <z@remailer.test>" || h.Get("Subject") != strings.TrimSpace(r.Subject) {
		t.Errorf("From %q, Subject %q", h.Get("From"), h.Get("Subject"))
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if len(l) > 78 {
			t.Errorf("plain words not folded: %q", l)
		}
	}
}
