package mix

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Pattern files (header.blk, dest.blk, rab.blk, dest.alw, source.blk) use
// the syntax of spec §10.2, one pattern per line. What follows reproduces
// Mixmaster 3.0.2d's doblock() (pool.c), quirks included, because operators
// bring their files over unchanged.

// PatternKind is what a pattern does when it matches (§10.2).
type PatternKind int

const (
	// PatternSubstring is a plain line: a case-insensitive (ASCII)
	// substring match; a match removes the line.
	PatternSubstring PatternKind = iota
	// PatternRegexp is /regex/ (or /regex/text where text does not end in
	// q or /): a match removes the line.
	PatternRegexp
	// PatternReject is /regex/…q: a match rejects the whole message.
	PatternReject
	// PatternReplace is /regex/replacement/: the first match is replaced,
	// $1..$9 insert groups; the line stays.
	PatternReplace
)

func (k PatternKind) String() string {
	switch k {
	case PatternSubstring:
		return "substring"
	case PatternRegexp:
		return "regexp"
	case PatternReject:
		return "reject"
	case PatternReplace:
		return "replace"
	}
	return "PatternKind(" + strconv.Itoa(int(k)) + ")"
}

// Pattern is one usable line of a pattern file.
type Pattern struct {
	Line int    // 1-based line number in the text it was parsed from
	Text string // the line as written
	Kind PatternKind

	re   *regexp.Regexp // all kinds but PatternSubstring
	repl string         // PatternReplace: the text between the 2nd and the last '/'
}

// PatternList is a parsed pattern file. Lists of several files (dest.blk
// and rab.blk) are concatenated with append.
type PatternList []*Pattern

// ErrBadPattern is matched (errors.Is) by every *PatternError.
var ErrBadPattern = errors.New("mix: unusable pattern")

// PatternError reports a pattern line that is ignored: 3.0.2d logs "Bad
// regexp" for patterns PCRE cannot compile and goes on with the others; here
// also PCRE features that Go's RE2 engine lacks (backreferences,
// lookaround, atomic groups, possessive quantifiers) end up here.
type PatternError struct {
	Line int
	Text string
	Err  error
}

func (e *PatternError) Error() string {
	return fmt.Sprintf("mix: pattern on line %d %q: %v", e.Line, e.Text, e.Err)
}

func (e *PatternError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBadPattern) true.
func (e *PatternError) Is(target error) bool { return target == ErrBadPattern }

// ParsePatterns parses a pattern file. Lines end at LF, CR LF or NUL, as
// 3.0.2d reads them. Empty lines and lines starting with '#' are skipped;
// nothing is trimmed, so a line holding only blanks is a substring pattern
// (it removes every header line containing them, as in 3.0.2d). The
// returned list holds every usable pattern; each unusable one gives an
// error and is left out, so the rest still apply.
func ParsePatterns(text []byte) (PatternList, []error) {
	var list PatternList
	var errs []error
	n := 0
	for rest := text; len(rest) > 0; {
		var line []byte
		line, rest = finCutLine(rest)
		n++
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		p, err := finParsePattern(n, string(line))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list = append(list, p)
	}
	return list, errs
}

func finParsePattern(n int, s string) (*Pattern, error) {
	p := &Pattern{Line: n, Text: s, Kind: PatternSubstring}
	// 3.0.2d: a regex needs a second '/'; the first one after the opening
	// slash ends it, so a regex cannot contain '/' (not even as "\/").
	end := -1
	if s[0] == '/' {
		end = strings.IndexByte(s[1:], '/')
	}
	if end < 0 {
		return p, nil
	}
	end++
	tail := s[end+1:]
	switch {
	case strings.HasSuffix(tail, "q"):
		p.Kind = PatternReject
	case strings.HasSuffix(tail, "/"):
		p.Kind = PatternReplace
		p.repl = tail[:len(tail)-1]
	default:
		p.Kind = PatternRegexp // "/re/" and also "/re/junk"
	}
	expr, err := finPCREToRE2(s[1:end])
	if err == nil {
		// PCRE_CASELESS is the only option 3.0.2d passes.
		p.re, err = regexp.Compile("(?i)" + expr)
	}
	if err != nil {
		return nil, &PatternError{Line: n, Text: s, Err: err}
	}
	return p, nil
}

// String returns the pattern line as written.
func (p *Pattern) String() string { return p.Text }

// Match reports whether p matches s, and whether that match rejects the
// whole message (a /regex/q pattern).
func (p *Pattern) Match(s string) (matched, reject bool) {
	if p.Kind == PatternSubstring {
		return finContainsFold(s, p.Text), false
	}
	matched = p.re.MatchString(s)
	return matched, matched && p.Kind == PatternReject
}

// Rewrite applies a /regex/replacement/ pattern to s: the first match is
// replaced, "$1".."$9" insert the groups (an unset group inserts nothing),
// '$' followed by anything else is dropped together with that character.
// It reports whether p is a replacement pattern that matched; otherwise s is
// returned unchanged.
func (p *Pattern) Rewrite(s string) (string, bool) {
	if p.Kind != PatternReplace {
		return s, false
	}
	m := p.re.FindStringSubmatchIndex(s)
	if m == nil {
		return s, false
	}
	var b strings.Builder
	b.WriteString(s[:m[0]])
	r := p.repl
	for {
		i := strings.IndexByte(r, '$')
		if i < 0 {
			break
		}
		b.WriteString(r[:i])
		r = r[i+1:]
		if r == "" {
			break
		}
		// 3.0.2d reads ovector slots past the groups PCRE filled (7..9
		// with more than 6 groups are workspace); here the real group or
		// nothing is inserted.
		if g := int(r[0] - '0'); r[0] >= '1' && r[0] <= '9' && 2*g+1 < len(m) && m[2*g] >= 0 {
			b.WriteString(s[m[2*g]:m[2*g+1]])
		}
		r = r[1:]
	}
	b.WriteString(r)
	b.WriteString(s[m[1]:])
	return b.String(), true
}

// Filter runs a header line (or, for the news gateway, an address) through
// the list as 3.0.2d does for header.blk and dest.blk: every pattern in
// order, replacements changing the line the later patterns see. A /regex/q
// match stops at once with reject set. Otherwise removed reports whether a
// removing pattern matched; then out is "".
func (l PatternList) Filter(line string) (out string, removed, reject bool) {
	for _, p := range l {
		if p.Kind == PatternReplace {
			line, _ = p.Rewrite(line)
			continue
		}
		m, rej := p.Match(line)
		if rej {
			return line, false, true
		}
		removed = removed || m
	}
	if removed {
		return "", true, false
	}
	return line, false, false
}

// Allows reports whether any pattern matches s, the test 3.0.2d applies to
// each destination address with dest.alw (§11 step 1). Here /regex/q
// patterns count as plain matches, and replacements still rewrite s for the
// patterns after them without counting as a match.
func (l PatternList) Allows(s string) bool {
	ok := false
	for _, p := range l {
		if p.Kind == PatternReplace {
			s, _ = p.Rewrite(s)
			continue
		}
		if m, _ := p.Match(s); m {
			ok = true
		}
	}
	return ok
}

// finContainsFold is 3.0.2d's strifind: substring match with ASCII-only
// case folding (the C locale), byte by byte. An empty needle never matches.
func finContainsFold(s, sub string) bool {
	if sub == "" {
		return false
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && finLower(s[i+j]) == finLower(sub[j]) {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

func finLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// finHasPrefixFold is 3.0.2d's strileft (ASCII case folding).
func finHasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if finLower(s[i]) != finLower(prefix[i]) {
			return false
		}
	}
	return true
}

// finPCREToRE2 rewrites the PCRE syntax that RE2 spells differently or lacks
// but can express: \e \cX \h \H \v \V \R \Z \G, \xh, [\b], octal escapes in
// classes, \Q…\E, (?#comments) and escaped letters PCRE takes literally.
// Everything RE2 cannot do is left for regexp.Compile to reject. Subjects
// are single lines, so \Z and $ both mean the end of the line.
func finPCREToRE2(p string) (string, error) {
	var b strings.Builder
	class := false // inside [...]
	classFirst := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		first := classFirst
		classFirst = false
		switch {
		case c == '\\':
			if i+1 == len(p) {
				return "", errors.New(`\ at end of pattern`)
			}
			i++
			e := p[i]
			switch {
			case e == 'Q':
				lit := p[i+1:]
				if j := strings.Index(lit, `\E`); j >= 0 {
					lit = lit[:j]
					i += 2
				}
				i += len(lit)
				b.WriteString(finQuote(lit, class))
				classFirst = first && lit == ""
			case e == 'E': // a lone \E is ignored
				classFirst = first
			case e == 'e':
				b.WriteString(`\x1b`)
			case e == 'c':
				if i+1 == len(p) {
					return "", errors.New(`\c at end of pattern`)
				}
				i++
				x := p[i]
				if 'a' <= x && x <= 'z' {
					x -= 'a' - 'A'
				}
				fmt.Fprintf(&b, `\x{%x}`, x^0x40)
			case e == 'x':
				if i+1 < len(p) && p[i+1] == '{' {
					b.WriteString(`\x`)
					break
				}
				j := i + 1
				for j < len(p) && j < i+3 && finIsHex(p[j]) {
					j++
				}
				v := p[i+1 : j]
				if v == "" {
					v = "0"
				}
				fmt.Fprintf(&b, `\x{%s}`, v)
				i = j - 1
			case e == 'h' && class:
				b.WriteString(`\t `)
			case e == 'h':
				b.WriteString(`[\t ]`)
			case e == 'H' && !class:
				b.WriteString(`[^\t ]`)
			case e == 'v' && class:
				b.WriteString(`\n\v\f\r`)
			case e == 'v':
				b.WriteString(`[\n\v\f\r]`)
			case e == 'V' && !class:
				b.WriteString(`[^\n\v\f\r]`)
			case e == 'R' && !class:
				b.WriteString(`(?:\r\n|[\n\v\f\r])`)
			case e == 'Z' && !class:
				b.WriteString(`\z`)
			case e == 'G' && !class: // matching always starts at offset 0
				b.WriteString(`\A`)
			case e == 'b' && class:
				b.WriteString(`\x08`)
			case e >= '1' && e <= '7' && class: // octal; no backreferences in a class
				j := i
				for j < len(p) && j < i+3 && p[j] >= '0' && p[j] <= '7' {
					j++
				}
				v, _ := strconv.ParseUint(p[i:j], 8, 16)
				fmt.Fprintf(&b, `\x{%x}`, v)
				i = j - 1
			case strings.IndexByte("ijlmoqy", e) >= 0, e >= 0x80:
				// PCRE without PCRE_EXTRA takes these escapes literally.
				b.WriteByte(e)
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		case class:
			switch {
			case c == ']' && !first:
				class = false
			case c == '[' && i+1 < len(p) && p[i+1] == ':':
				// POSIX class [:name:]: its ']' does not close the set.
				if j := strings.Index(p[i+2:], ":]"); j >= 0 {
					b.WriteString(p[i : i+2+j+2])
					i += 2 + j + 1
					continue
				}
			}
			b.WriteByte(c)
		case c == '[':
			class, classFirst = true, true
			b.WriteByte(c)
			if i+1 < len(p) && p[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
		case c == '(' && strings.HasPrefix(p[i:], "(?#"):
			j := strings.IndexByte(p[i:], ')')
			if j < 0 {
				return "", errors.New("missing ) after comment")
			}
			i += j
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func finIsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// finQuote quotes literal text of a \Q…\E sequence, inside or outside a
// character class.
func finQuote(s string, class bool) string {
	if !class {
		return regexp.QuoteMeta(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}
