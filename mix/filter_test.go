package mix

import (
	"errors"
	"regexp/syntax"
	"strconv"
	"strings"
	"testing"
)

func finPatterns(t *testing.T, text string) PatternList {
	t.Helper()
	l, errs := ParsePatterns([]byte(text))
	if errs != nil {
		t.Fatalf("ParsePatterns(%q): %v", text, errs)
	}
	return l
}

func TestParsePatternsKinds(t *testing.T) {
	text := "# comment\n\nmajordomo@\r\n/^From:/\n/^Control: rmgroup/q\n/(a)b/[$1]/\n/x/junk\n/nothing\n/\n  \n#/not/\x00/y/zq\n"
	l := finPatterns(t, text)
	want := []struct {
		line int
		text string
		kind PatternKind
	}{
		{3, "majordomo@", PatternSubstring},
		{4, "/^From:/", PatternRegexp},
		{5, "/^Control: rmgroup/q", PatternReject},
		{6, "/(a)b/[$1]/", PatternReplace},
		{7, "/x/junk", PatternRegexp},
		{8, "/nothing", PatternSubstring},
		{9, "/", PatternSubstring},
		{10, "  ", PatternSubstring},
		{12, "/y/zq", PatternReject},
	}
	if len(l) != len(want) {
		t.Fatalf("%d patterns, want %d: %v", len(l), len(want), l)
	}
	for i, w := range want {
		if p := l[i]; p.Line != w.line || p.Text != w.text || p.Kind != w.kind {
			t.Errorf("pattern %d = {%d %q %v}, want %v", i, p.Line, p.Text, p.Kind, w)
		}
	}
	if PatternReplace.String() != "replace" || PatternKind(9).String() != "PatternKind(9)" {
		t.Error("PatternKind.String")
	}
}

func TestPatternMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s      string
		matched, reject bool
	}{
		{"majordomo@", "To: MajorDomo@lists.test", true, false},
		{"majordomo@", "To: someone@example.test", false, false},
		{"/^to:.*@blocked\\.test$/", "To: x@BLOCKED.test", true, false},
		{"/^to:.*@blocked\\.test$/", "Cc: x@blocked.test", false, false},
		{"/^Control: rmgroup/q", "control: RMGROUP alt.x", true, true},
		{"/^Control: rmgroup/q", "Subject: Control: rmgroup", false, false},
		{"/^Newsgroups:.*,.*,.*,.*,.*,/q", "Newsgroups: a,b,c,d,e,f", true, true},
		{"/^Newsgroups:.*,.*,.*,.*,.*,/q", "Newsgroups: a,b,c,d,e", false, false},
		{"/\\h+x\\Z/", "a \tx", true, false},
		{"/\\e\\cA\\x41\\x{42}/", "\x1b\x01AB", true, false},
		{"/[\\h\\b]y/", "\by", true, false},
		{"/a(?#note)b/", "ab", true, false},
		{"/\\Q.*\\E$/", "x.*", true, false},
		{"/\\Q.*\\E$/", "xyz", false, false},
		{"/[]]\\y/", "]y", true, false},
		{"/[[:digit:]]{3}/", "x123", true, false},
		{"/\\Gab/", "abc", true, false},
		{"/\\Gab/", "cab", false, false},
		{"/[\\101]/", "A", true, false},
	} {
		l := finPatterns(t, tc.pattern)
		if m, r := l[0].Match(tc.s); m != tc.matched || r != tc.reject {
			t.Errorf("%q.Match(%q) = %v, %v; want %v, %v", tc.pattern, tc.s, m, r, tc.matched, tc.reject)
		}
	}
}

func TestPatternRewrite(t *testing.T) {
	for _, tc := range []struct {
		pattern, s, want string
		ok               bool
	}{
		{"/(a+)(b)/<$2$1>/", "xaabz", "x<baa>z", true},
		{"/(a)|(b)/[$2]/", "a", "[]", true}, // unset group: nothing
		{"/a/$x$0$/", "bab", "bb", true},    // '$' and the next byte dropped
		{"/a/1\\/2/", "a", "1\\/2", true},   // the text runs to the last '/'
		{"/^To: (.*)@old\\.test/To: $1@new.test/", "TO: me@OLD.test", "To: me@new.test", true},
		{"/x/y/", "abc", "abc", false},
		{"/x/", "x", "x", false}, // not a replacement pattern
		{"/(((((((((a)))))))))/$9/", "a", "a", true},
	} {
		l := finPatterns(t, tc.pattern)
		if got, ok := l[0].Rewrite(tc.s); got != tc.want || ok != tc.ok {
			t.Errorf("%q.Rewrite(%q) = %q, %v; want %q, %v", tc.pattern, tc.s, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPatternListFilter(t *testing.T) {
	l := finPatterns(t, "/@old\\.test/@new.test/\n@new.test\n/^Cc:/x/\n/^X-Kill:/q\n")
	for _, tc := range []struct {
		in, out         string
		removed, reject bool
	}{
		{"To: a@old.test", "", true, false}, // rewritten, then removed by the next pattern
		{"Cc: a@b.test", "x a@b.test", false, false},
		{"X-Kill: now", "X-Kill: now", false, true},
		{"Subject: hi", "Subject: hi", false, false},
	} {
		out, removed, reject := l.Filter(tc.in)
		if out != tc.out || removed != tc.removed || reject != tc.reject {
			t.Errorf("Filter(%q) = %q, %v, %v; want %q, %v, %v", tc.in, out, removed, reject, tc.out, tc.removed, tc.reject)
		}
	}
	// A q rule after a removing one still rejects.
	l = finPatterns(t, "kill\n/kill/q\n")
	if _, removed, reject := l.Filter("kill"); removed || !reject {
		t.Errorf("removed %v reject %v", removed, reject)
	}
	var none PatternList
	if out, removed, reject := none.Filter("To: x"); out != "To: x" || removed || reject {
		t.Error("empty list changed the line")
	}
}

func TestPatternListAllows(t *testing.T) {
	l := finPatterns(t, "/@nym\\.test$/\n/^pinger\\+/q\n/^x(.*)/y$1/\n/^yz$/\n")
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"a@nym.test", true},
		{"a@nym.test.evil", false},
		{"pinger+1@p.test", true}, // q counts as a plain match here
		{"xz", true},              // rewritten to "yz", which matches
		{"yzz", false},
	} {
		if got := l.Allows(tc.addr); got != tc.want {
			t.Errorf("Allows(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestParsePatternsErrors(t *testing.T) {
	text := "good\n/a(?=b)/\n/(a)\\1/\n/a*+/\n/(?>a)/\n/x{1001}/\n/[/\n/\\c/\n/also good/\n/\\u0041/\n"
	l, errs := ParsePatterns([]byte(text))
	if len(l) != 2 || l[0].Text != "good" || l[1].Text != "/also good/" {
		t.Errorf("usable patterns %v", l)
	}
	wantLines := []int{2, 3, 4, 5, 6, 7, 8, 10}
	if len(errs) != len(wantLines) {
		t.Fatalf("%d errors, want %d: %v", len(errs), len(wantLines), errs)
	}
	for i, err := range errs {
		var pe *PatternError
		if !errors.As(err, &pe) || pe.Line != wantLines[i] || !errors.Is(err, ErrBadPattern) {
			t.Errorf("error %d: %v", i, err)
		}
		if !strings.Contains(err.Error(), strconv.Quote(pe.Text)) {
			t.Errorf("error %q does not name the pattern", err)
		}
	}
	var se *syntax.Error
	if !errors.As(errs[0], &se) {
		t.Errorf("lookahead error does not wrap the regexp error: %v", errs[0])
	}
}

func TestDefaultPatternFiles(t *testing.T) {
	for _, text := range []string{DefaultHeaderBlock, DefaultDestBlock, DefaultDestAllow} {
		if _, errs := ParsePatterns([]byte(text)); errs != nil {
			t.Error(errs)
		}
	}
	hb := finPatterns(t, DefaultHeaderBlock)
	for line, want := range map[string]bool{
		"From: x":           true,
		"Message-ID: <x@y>": true,
		"Subject: x":        false,
		"X-Custom: From: x": false,
	} {
		if _, removed, _ := hb.Filter(line); removed != want {
			t.Errorf("stock header.blk removes %q: %v", line, removed)
		}
	}
	if len(finPatterns(t, DefaultHeaderBlock)) != 16 {
		t.Error("stock header.blk: want 16 rules")
	}
}

func FuzzParsePatterns(f *testing.F) {
	f.Add([]byte(DefaultHeaderBlock), "Newsgroups: a,b,c,d,e,f")
	f.Add([]byte(DefaultDestAllow), "pinger+x@y")
	f.Add([]byte("/(a)(b)?/$1$2$3$/\n/\\Qx\\E[\\Q]\\E]/\n/[\\h\\v\\e\\cz\\b\\7]/\n"), "ab")
	f.Add([]byte("/\\x/\n/\\x{zz}/\n/(?#/\n/[[:x/\n/\\"), "")
	f.Fuzz(func(t *testing.T, text []byte, s string) {
		l, errs := ParsePatterns(text)
		for _, err := range errs {
			if !errors.Is(err, ErrBadPattern) {
				t.Fatalf("error %v is not ErrBadPattern", err)
			}
		}
		for _, p := range l {
			p.Match(s)
			p.Rewrite(s)
		}
		l.Filter(s)
		l.Allows(s)
	})
}
