package pinger

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// What arrives at the pinger's listeners is untrusted: returning mail
// (tokens, replies) and finger queries. None of it may panic; a token that
// opens must be one we sealed.

func FuzzOpenToken(f *testing.F) {
	secret := bytes.Repeat([]byte{1}, 32)
	tok := Token{Remailers: []string{"a@x"}, KeyIDs: []string{"00"}, Sent: time.Unix(1, 2)}
	sealed, _ := SealToken(secret, tok, 20, zeroReader{})
	f.Add(sealed)
	f.Add([]byte(tokenBegin + "\n" + tokenEnd + "\n"))
	f.Add([]byte(tokenBegin + "\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n" + tokenEnd))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := OpenToken(secret, data)
		if err != nil {
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("error %v does not wrap ErrBadToken", err)
			}
			return
		}
		// Only the sealed token verifies (a forgery would need the key).
		if !got.Sent.Equal(tok.Sent) || got.Nonce != tok.Nonce || len(got.Remailers) != 1 {
			t.Fatalf("a different token verified: %+v", got)
		}
	})
}

func FuzzParseReply(f *testing.F) {
	f.Add([]byte("Remailer-Type: Mixmaster 3.0.2d\nThe following header lines will be filtered:\n   /^From:/\n\n" +
		`$remailer{"alpha"} = "<alpha@remailer.test> mix remix";` + "\n\nSUPPORTED MIXMASTER (TYPE II) REMAILERS\nalpha a@b 00 2:3 C\n"))
	f.Add([]byte("alpha alpha@remailer.test 45e104448ad3630f8c708b360415423d 2:3.0.2d CNm 2026-11-24 2046-11-19\n\n-----Begin Mix Key-----\n45e104448ad3630f8c708b360415423d\n258\nAAAA\n-----End Mix Key-----\n"))
	f.Add([]byte("Allowed headers: To, Cc:\n\tSubject\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := ParseReply(data)
		for _, c := range r.Capstrings {
			if c.Name == "" {
				t.Fatalf("capstring without a name: %+v", c)
			}
		}
		for _, h := range r.AllowedHeaders {
			if h == "" || strings.ContainsAny(h, " ,\t") {
				t.Fatalf("bad header name %q", h)
			}
		}
	})
}

func FuzzFingerQuery(f *testing.F) {
	h := newHarness(f, now, "xrem")
	for _, s := range []string{"\r\n", "help\r\n", "/W xrem\r\n", "a@b@c\r\n", "\x00\xff\r\n", "keys"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := readQuery(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(q) > maxFingerQuery {
			t.Fatalf("query of %d bytes accepted", len(q))
		}
		out := h.p.FingerAnswer(q, now)
		if len(out) == 0 {
			t.Fatal("empty answer")
		}
		for _, c := range string(out) {
			if c < 0x20 && c != '\n' && c != '\t' {
				t.Fatalf("control character %q in the answer to %q", c, q)
			}
		}
	})
}
