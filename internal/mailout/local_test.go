package mailout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

const testMsgLF = "From: a@example.org\nTo: b@example.net\nSubject: test\n\nline one\n.leading dot\n..two dots\n.\nbare\ncr\nlast"

// fakeSendmail writes a script that records its arguments and standard
// input under dir, runs extra, then exits with status code.
func fakeSendmail(t *testing.T, extra string, code int) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "sendmail")
	script := fmt.Sprintf("#!/bin/sh\nfor a in \"$@\"; do printf '%%s\\n' \"$a\"; done > '%s/args'\ncat > '%s/stdin'\n%s\nexit %d\n", dir, dir, extra, code)
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

func TestSendmail(t *testing.T) {
	path, dir := fakeSendmail(t, "", 0)
	if err := send(t, "sendmail:"+path, Options{}, "a@example.org", "b@example.net", "-c@example.com"); err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if want := "-oi\n-f\na@example.org\n--\nb@example.net\n-c@example.com\n"; string(args) != want {
		t.Errorf("args %q, want %q", args, want)
	}
	stdin, _ := os.ReadFile(filepath.Join(dir, "stdin"))
	if string(stdin) != testMsgLF {
		t.Errorf("stdin %q, want %q", stdin, testMsgLF)
	}

	// The null sender.
	if err := send(t, "sendmail:"+path, Options{}, "", "b@example.net"); err != nil {
		t.Fatal(err)
	}
	args, _ = os.ReadFile(filepath.Join(dir, "args"))
	if want := "-oi\n-f\n<>\n--\nb@example.net\n"; string(args) != want {
		t.Errorf("args %q, want %q", args, want)
	}
}

func TestSendmailExitStatus(t *testing.T) {
	for _, c := range []struct {
		code int
		temp bool
	}{{75, true}, {71, true}, {67, false}, {1, false}} {
		path, _ := fakeSendmail(t, "echo 'b@example.net: no such user' >&2", c.code)
		err := send(t, "sendmail:"+path, Options{}, "a@example.org", "b@example.net")
		mustTemporary(t, err, c.temp)
		var e *Error
		if !errors.As(err, &e) || e.Op != "sendmail" || e.Code != c.code {
			t.Fatalf("err %v", err)
		}
		if strings.Contains(err.Error(), "@") {
			t.Fatalf("error text leaks the program's output: %v", err)
		}
		if !strings.Contains(e.Err.Error(), "no such user") {
			t.Fatalf("underlying error lacks the output: %v", e.Err)
		}
	}
}

func TestSendmailTimeout(t *testing.T) {
	path, _ := fakeSendmail(t, "exec sleep 10", 0)
	s, err := New("sendmail:"+path, Options{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Send(context.Background(), "a@example.org", []string{"b@example.net"}, []byte(testMsg))
	mustTemporary(t, err, true)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestDir(t *testing.T) {
	d := filepath.Join(t.TempDir(), "out")
	s, err := New("dir:"+d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory: %v %v", fi, err)
	}
	const n = 5
	for range n { // the same message each time: names must still differ
		if err := s.Send(context.Background(), "a@example.org", []string{"b@example.net", "c@example.com"}, []byte(testMsg)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Send(context.Background(), "", []string{"x@example.net"}, []byte("Subject: y\r\n\r\nz\r\n")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n+1 {
		t.Fatalf("%d files, want %d", len(entries), n+1)
	}
	name := regexp.MustCompile(`^[0-9a-f]{32}\.eml$`)
	want := "X-Envelope-From: <a@example.org>\nX-Envelope-To: <b@example.net>\nX-Envelope-To: <c@example.com>\n" + testMsgLF
	other := "X-Envelope-From: <>\nX-Envelope-To: <x@example.net>\nSubject: y\n\nz\n"
	seen := map[string]bool{}
	var nWant, nOther int
	for _, e := range entries {
		if !name.MatchString(e.Name()) {
			t.Errorf("file name %q", e.Name())
		}
		seen[e.Name()] = true
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 || !info.Mode().IsRegular() {
			t.Errorf("%s: mode %v", e.Name(), info.Mode())
		}
		b, err := os.ReadFile(filepath.Join(d, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		switch string(b) {
		case want:
			nWant++
		case other:
			nOther++
		default:
			t.Errorf("%s: content %q", e.Name(), b)
		}
	}
	if nWant != n || nOther != 1 || len(seen) != n+1 {
		t.Fatalf("contents: %d + %d", nWant, nOther)
	}

	// Invalid envelope: permanent, nothing written.
	err = s.Send(context.Background(), "a@example.org", []string{"bad"}, []byte(testMsg))
	mustTemporary(t, err, false)
	// Unwritable directory: temporary, nothing left behind.
	if os.Getuid() != 0 {
		if err := os.Chmod(d, 0o500); err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), "a@example.org", []string{"b@example.net"}, []byte(testMsg))
		mustTemporary(t, err, true)
		os.Chmod(d, 0o700)
	}
	gone := filepath.Join(t.TempDir(), "gone")
	s2, err := New("dir:"+gone, Options{})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(gone)
	err = s2.Send(context.Background(), "a@example.org", []string{"b@example.net"}, []byte(testMsg))
	mustTemporary(t, err, true)
	entries, _ = os.ReadDir(d)
	if len(entries) != n+1 {
		t.Fatalf("%d files after failures", len(entries))
	}
}

// TestDirBatch: SendBatch writes every good mail as Send would, reports
// each bad one alone, and fails everything temporarily when the directory
// is gone.
func TestDirBatch(t *testing.T) {
	d := filepath.Join(t.TempDir(), "out")
	s, err := New("dir:"+d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	bs, ok := s.(BatchSender)
	if !ok {
		t.Fatal("dir: is not a BatchSender")
	}
	const n = 40
	mails := make([]Mail, n)
	for i := range mails {
		mails[i] = Mail{To: []string{fmt.Sprintf("r%d@example.net", i)}, Msg: []byte(testMsg)}
	}
	mails[7].To = []string{"not an address"}
	errs := bs.SendBatch(context.Background(), "a@example.org", mails)
	if len(errs) != n {
		t.Fatalf("%d results for %d mails", len(errs), n)
	}
	for i, err := range errs {
		if i == 7 {
			mustTemporary(t, err, false)
		} else if err != nil {
			t.Fatalf("mail %d: %v", i, err)
		}
	}
	entries, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n-1 {
		t.Fatalf("%d files, want %d", len(entries), n-1)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(d, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		head, body, _ := strings.Cut(string(b), "X-Envelope-To: <")
		to, rest, _ := strings.Cut(body, ">\n")
		if head != "X-Envelope-From: <a@example.org>\n" || rest != testMsgLF || seen[to] {
			t.Fatalf("%s: content %q", e.Name(), b)
		}
		seen[to] = true
	}
	if seen["not an address"] {
		t.Fatal("the bad mail was written")
	}

	os.RemoveAll(d)
	for _, err := range bs.SendBatch(context.Background(), "a@example.org", mails[:3]) {
		mustTemporary(t, err, true)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, err := range bs.SendBatch(ctx, "a@example.org", mails[:3]) {
		mustTemporary(t, err, true)
	}
	if entries, _ := os.ReadDir(d); len(entries) != 0 {
		t.Fatalf("%d files written after cancellation", len(entries))
	}
}

// TestWriteAtomicBothWays: the unnamed-file way (Linux) and the
// temporary-name way each leave one complete file and nothing else, and
// never replace an existing file.
func TestWriteAtomicBothWays(t *testing.T) {
	d := t.TempDir()
	if err := writeAtomic(d, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if err := writeRenamed(filepath.Join(d, ".tmp-two"), filepath.Join(d, "two.eml"), []byte("two\n")); err != nil {
		t.Fatal(err)
	}
	want := []string{"one\n", "two\n"}
	done, err := writeUnnamed(d, filepath.Join(d, "three.eml"), []byte("three\n"))
	switch {
	case done && err != nil:
		t.Fatal(err)
	case done:
		want = append(want, "three\n")
		if done, err := writeUnnamed(d, filepath.Join(d, "three.eml"), []byte("other")); !done || err == nil {
			t.Fatal("linked over an existing file")
		}
	case runtime.GOOS == "linux":
		t.Fatal("O_TMPFILE not used on Linux")
	}
	entries, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	var contents []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left", e.Name())
		}
		b, _ := os.ReadFile(filepath.Join(d, e.Name()))
		contents = append(contents, string(b))
	}
	slices.Sort(contents)
	slices.Sort(want)
	if !slices.Equal(contents, want) {
		t.Fatalf("files %q, want %q", contents, want)
	}
}

// eolByByte is the line-end conversion written the plain way, to check
// appendEOL's against.
func eolByByte(msg []byte, eol string) string {
	var out []byte
	for i := 0; i < len(msg); i++ {
		switch c := msg[i]; c {
		case '\r':
			if i+1 < len(msg) && msg[i+1] == '\n' {
				i++
			}
			out = append(out, eol...)
		case '\n':
			out = append(out, eol...)
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

func FuzzNormaliseEOL(f *testing.F) {
	for _, s := range []string{"", "a\nb", "a\r\nb\rc\n", "\r\r\n\n", ".\n..\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, eol := range []string{"\n", "\r\n"} {
			if got, want := string(normaliseEOL(in, eol)), eolByByte(in, eol); got != want {
				t.Fatalf("normaliseEOL(%q, %q) = %q, want %q", in, eol, got, want)
			}
		}
	})
}

func TestNormaliseEOL(t *testing.T) {
	for in, want := range map[string]string{
		"":               "",
		"a":              "a",
		"a\n":            "a\r\n",
		"a\r\nb\nc\rd\r": "a\r\nb\r\nc\r\nd\r\n",
		"\r\r\n\n":       "\r\n\r\n\r\n",
		"a\nb\n\nc":      "a\r\nb\r\n\r\nc",
		"\n":             "\r\n",
	} {
		if got := string(toCRLF([]byte(in))); got != want {
			t.Errorf("toCRLF(%q) = %q, want %q", in, got, want)
		}
		if got, w := string(toLF([]byte(in))), strings.ReplaceAll(want, "\r\n", "\n"); got != w {
			t.Errorf("toLF(%q) = %q, want %q", in, got, w)
		}
	}
}

func TestSplitAddr(t *testing.T) {
	good := map[string]string{
		"a@example.org":         "example.org",
		"a.b+c@Sub.Example.ORG": "Sub.Example.ORG",
		"x@[127.0.0.1]":         "[127.0.0.1]",
		"x@[IPv6:::1]":          "[IPv6:::1]",
		"jörg@bücher.example":   "bücher.example",
	}
	for a, d := range good {
		if got, err := splitAddr(a); err != nil || got != d {
			t.Errorf("splitAddr(%q) = %q, %v", a, got, err)
		}
	}
	for _, a := range []string{"", "a", "@example.org", "a@", "a b@example.org", "a@exa mple.org", "<a@example.org>",
		"a@example.org.", "a@-x.org", "a@[1.2.3.4", "a@[::1]", "a@[IPv6:1.2.3.4]", "a\x00@example.org", "a@@example.org",
		strings.Repeat("x", 65) + "@example.org", "a@" + strings.Repeat("x.", 130) + "org", "a\xff@example.org"} {
		if _, err := splitAddr(a); err == nil {
			t.Errorf("splitAddr(%q) accepted", a)
		}
	}
}

func TestIsTemporary(t *testing.T) {
	if IsTemporary(nil) {
		t.Error("nil is temporary")
	}
	if !IsTemporary(errors.New("something")) {
		t.Error("unknown errors must be temporary")
	}
	if IsTemporary(fmt.Errorf("wrapped: %w", ErrInvalidAddress)) {
		t.Error("invalid address is temporary")
	}
	if !IsTemporary(smtpErr(421, "x")) || IsTemporary(smtpErr(554, "x")) {
		t.Error("SMTP codes misclassified")
	}
	if IsTemporary(fmt.Errorf("ctx: %w", permanent("dns", "no such domain", nil))) {
		t.Error("wrapped permanent *Error is temporary")
	}
	e := &Error{Op: "rcpt", Code: 550, reason: "server replied with a permanent failure", Err: smtpErr(550, "b@example.net unknown")}
	e.enhanced[0], e.enhanced[1], e.enhanced[2] = 5, 1, 1
	if s := e.Error(); s != "mailout: rcpt: server replied with a permanent failure (550 5.1.1), permanent" {
		t.Errorf("Error() = %q", s)
	}
}
