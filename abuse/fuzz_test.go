package abuse

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func addVectorSeeds(f *testing.F) {
	files, _ := filepath.Glob(vec + "*.request.eml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("From: a@b.example\nReply-To: c@d.example(conf.1=2=ab)\nCc: abuse@remailer.test\nSubject: destination-block x\n\n> destination-block <y@z.example>\ndbc-abcdefghijklmnopqrstuvwxyz\n"))
	f.Add([]byte("From \nSubject:\n\t\n \n:\n\n"))
}

// FuzzClassify: any mail classifies without panicking, and what it
// returns as a reply or block address is always a plain address.
func FuzzClassify(f *testing.F) {
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := Classify(raw, alphaAddrs)
		if m.HasSender && (!ValidAddress(m.Sender.Addr) || strings.ContainsAny(m.Sender.Display, "\r\n")) {
			t.Fatalf("unusable sender %+v", m.Sender)
		}
		if m.Block != "" && !ValidAddress(m.Block) {
			t.Fatalf("block address %q", m.Block)
		}
		if m.Kind == Request && RequestName(m.Request) != m.Request {
			t.Fatalf("request %q", m.Request)
		}
		for _, tok := range m.Tokens {
			if len(tok) != 30 {
				t.Fatalf("token %q", tok)
			}
		}
	})
}

// FuzzParseDestBlock: the destination-block parser of spec §16.4.
func FuzzParseDestBlock(f *testing.F) {
	f.Add("destination-block", []byte("Please block me.\ndestination-block victim@example.test\n"), "victim@example.test")
	f.Add("Re: x", []byte("> DESTINATION-BLOCK <a@b.example>,\n"), "")
	f.Add("destination-block /.*@/", []byte{}, "x@y.example")
	f.Fuzz(func(t *testing.T, subject string, body []byte, from string) {
		addr, ok := ParseDestBlock(subject, body, from)
		if addr != "" && (!ok || !ValidAddress(addr)) {
			t.Fatalf("ParseDestBlock = %q, %v", addr, ok)
		}
	})
}

// FuzzParseMailbox: From:/Reply-To: values become a reply's To: line.
func FuzzParseMailbox(f *testing.F) {
	for _, s := range []string{"a@b.example", "Name <a@b.example>", "p@e.example(conf.1=2=ab)", "\"x\" <a@b.example>, c@d", "=?utf-8?q?x?= <a@b.example>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		a, ok := ParseMailbox(v)
		if ok && (!ValidAddress(a.Addr) || !strings.HasPrefix(a.Display, a.Addr) || strings.ContainsAny(a.Display, "\r\n\x00")) {
			t.Fatalf("ParseMailbox(%q) = %+v", v, a)
		}
	})
}

// FuzzSplitMessage: the header stays within its bounds, values are
// unfolded, and the body is the end of the mail.
func FuzzSplitMessage(f *testing.F) {
	addVectorSeeds(f)
	f.Add([]byte("From: a@b.example\nbad line\n cont\n\nbody"))
	f.Add([]byte(" lead\nSubject: =?koi8-r?B?6dfBziDwxdTSz9c=?=\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, body := SplitMessage(raw)
		if h.Len() > maxFields || !bytes.HasSuffix(raw, body) {
			t.Fatalf("%d fields, body %q", h.Len(), body)
		}
		for fs := h.Fields(); fs.Next(); {
			if strings.Contains(fs.Value(), "\n") {
				t.Fatalf("field %q not unfolded: %q", fs.Key(), fs.Value())
			}
		}
		h.Subject()
	})
}

// FuzzReply: whatever the names and texts, an answer has exactly its
// From, To and Subject, and its Subject reads back.
func FuzzReply(f *testing.F) {
	f.Add("Test Remailer alpha", "alpha@remailer.test", "user1@example.test", "Remailer key", "Auto-Submitted", "auto-replied")
	f.Add("Relais Zürich, \"Süd\"", "z@r.example", "p@e.example (conf.1=2=ab)", "Statistik\r\nBcc: x@y", "Subject", "injected")
	f.Add("", "a@b.example", "c@d.example", "", strings.Repeat("N", 80), "x y") // go-message's folding panics on such a name
	f.Fuzz(func(t *testing.T, name, from, to, subject, xname, xvalue string) {
		raw := Reply{FromName: name, From: from, To: to, Subject: subject, Extra: []Field{{xname, xvalue}}, Body: []byte("body\n")}.Bytes()
		h, body := SplitMessage(raw)
		if string(body) != "body\n" || len(h.Values("From")) != 1 || len(h.Values("To")) != 1 || len(h.Values("Subject")) != 1 {
			t.Fatalf("answer %q", raw)
		}
		got, err := h.Subject()
		want := strings.Join(strings.Fields(clean(subject)), " ")
		if len(subject) < 900 && !strings.Contains(subject, "=?") && utf8.ValidString(subject) && (err != nil || strings.Join(strings.Fields(got), " ") != want) {
			t.Fatalf("subject %q read back as %q (%v)", subject, got, err)
		}
	})
}
