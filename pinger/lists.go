package pinger

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The published statistics lists (§7). Rendering is byte-exact to Echolot
// 2.1.9; parsing reads what real pingers publish: CRLF line ends, extra
// blank lines, unknown sections and HTML wrappers are skipped, and every
// line that belongs to a known part but cannot be read is reported.

// Errors wrapped by the parsers; test with errors.Is.
var (
	// ErrSyntax means a line of a known part of a list cannot be read.
	ErrSyntax = errors.New("pinger: malformed line")
	// ErrNoTable means a list has no table header (no remailer rows).
	ErrNoTable = errors.New("pinger: no remailer table found")
)

// LineError reports one malformed line of a list.
type LineError struct {
	Line int    // 1-based line number
	Text string // the line, without its line end
	Err  error  // wraps ErrSyntax
}

func (e *LineError) Error() string {
	return fmt.Sprintf("line %d: %v: %q", e.Line, e.Err, e.Text)
}

func (e *LineError) Unwrap() error { return e.Err }

func syntaxError(n int, text, format string, args ...any) error {
	return &LineError{Line: n, Text: text, Err: fmt.Errorf("%w: "+format, append([]any{ErrSyntax}, args...)...)}
}

// Row is one remailer line of a list, as rendered or as parsed. A v2 list
// (mlist2.txt) uses LatentHist, UptimeHist and Options; a v1 list
// (mlist.txt) uses History. Both use Name, Latency and Uptime.
type Row struct {
	Name       string
	LatentHist string        // v2 Latent-Hist, 12 characters, today rightmost
	History    string        // v1 history, 12 characters, today rightmost
	Latency    time.Duration // median; NoLatency when unknown
	UptimeHist string        // v2 Uptime-Hist, 12 characters
	Uptime     float64       // reliability in percent, 0–100
	Options    string        // v2 options column, 15 characters
}

// NewRow builds the row of a remailer from its statistics and capability
// words (those after the address in its $remailer line).
func NewRow(name string, caps []string, s Stats) Row {
	return Row{
		Name:       name,
		LatentHist: s.LatentHist(),
		History:    s.History(),
		Latency:    s.RowLatency(),
		UptimeHist: s.UptimeHist(),
		Uptime:     s.Reliability * 100,
		Options:    OptionsColumn(caps),
	}
}

// SortRows puts rows in Echolot's order: uptime descending, then (if
// byLatency, Echolot's stats_sort_by_latency) latency ascending, then name.
// As in Echolot an unknown latency sorts as 9999 s.
func SortRows(rows []Row, byLatency bool) {
	sortLat := func(r Row) time.Duration {
		if r.Latency == NoLatency {
			return 9999 * time.Second
		}
		return r.Latency
	}
	slices.SortStableFunc(rows, func(a, b Row) int {
		switch {
		case a.Uptime > b.Uptime:
			return -1
		case a.Uptime < b.Uptime:
			return 1
		}
		if byLatency {
			if la, lb := sortLat(a), sortLat(b); la != lb {
				if la < lb {
					return -1
				}
				return 1
			}
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// Capstring is a remailer's capability line (§16.2 of mixmaster-type2.md):
//
//	$remailer{"name"} = "<address> caps...";
type Capstring struct {
	Name    string
	Address string
	Caps    []string // the words after the address, in order
}

// String renders the line in Mixmaster's spacing.
func (c Capstring) String() string {
	var b strings.Builder
	b.WriteString(`$remailer{"`)
	b.WriteString(c.Name)
	b.WriteString(`"} = "<`)
	b.WriteString(c.Address)
	b.WriteString(">")
	for _, w := range c.Caps {
		b.WriteString(" ")
		b.WriteString(w)
	}
	b.WriteString(`";`)
	return b.String()
}

// Has reports whether the capabilities contain word (case-insensitive).
func (c Capstring) Has(word string) bool {
	return slices.ContainsFunc(c.Caps, func(w string) bool { return strings.EqualFold(w, word) })
}

var capstringRE = regexp.MustCompile(`^\s*\$remailer\{\s*"([^"]*)"\s*\}\s*=\s*"\s*<([^>]*)>([^"]*)"\s*;?\s*$`)

// ParseCapstring reads a $remailer line. Only the words after the '>' are
// capabilities: Echolot's search of the whole line would find "test" in an
// address such as test@example.net.
func ParseCapstring(line string) (Capstring, error) {
	m := capstringRE.FindStringSubmatch(line)
	if m == nil || m[1] == "" || strings.ContainsAny(m[1], " \t") {
		return Capstring{}, fmt.Errorf("%w: not a $remailer{\"name\"} = \"<address> caps\"; line", ErrSyntax)
	}
	return Capstring{Name: m[1], Address: strings.TrimSpace(m[2]), Caps: strings.Fields(m[3])}, nil
}

// OptionsColumn is the 15-character v2 options column of a remailer's
// capability words (§7.1): D middle, P post, 2/R/M remix2/remix/mix,
// H hybrid, 2/G repgp2/repgp, O pgponly, X ext, A max, T test, L latent,
// E/e ekx/ek, U esub, I inflt, N rhop, and the klen digit (hundreds of kB).
func OptionsColumn(caps []string) string {
	has := make(map[string]bool)
	klen := -1
	for _, w := range caps {
		w = strings.ToLower(w)
		switch {
		case numbered(w, "inflt") >= 0: // Echolot wants digits: inflt\d+; no word has a space
			has["inflt N"] = true
		case numbered(w, "rhop") >= 0:
			has["rhop N"] = true
		case numbered(w, "klen") >= 0:
			if klen < 0 {
				klen = numbered(w, "klen")
			}
		default:
			has[w] = true
		}
	}
	pick := func(opts ...string) byte {
		for i := 0; i+1 < len(opts); i += 2 {
			if has[opts[i]] {
				return opts[i+1][0]
			}
		}
		return ' '
	}
	col := []byte{
		pick("middle", "D"),
		pick("post", "P", "anon-post-to", "P"),
		pick("remix2", "2", "remix", "R", "mix", "M"),
		pick("hybrid", "H"),
		pick("repgp2", "2", "repgp", "G"),
		pick("pgponly", "O"),
		pick("ext", "X"),
		pick("max", "A"),
		pick("test", "T"),
		pick("latent", "L"),
		pick("ekx", "E", "ek", "e"),
		pick("esub", "U"),
		pick("inflt N", "I"),
		pick("rhop N", "N"),
		' ',
	}
	if klen >= 0 {
		col[14] = byte('0' + min(klen/100, 9))
	}
	return string(col)
}

// numbered returns n for a word "<prefix><n>" (decimal digits, saturating
// at a large value), else -1.
func numbered(w, prefix string) int {
	digits, ok := strings.CutPrefix(w, prefix)
	if !ok || digits == "" {
		return -1
	}
	n := 0
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return -1
		}
		n = min(n*10+int(c-'0'), 1<<30)
	}
	return n
}

// List is the content of a statistics list.
type List struct {
	// Generated is the "Generated:" (v2) or "Last update:" (v1) time; zero
	// if missing or unreadable.
	Generated time.Time
	// Title is the first word of the v2 table header: "Mixmaster" or
	// "Cypherpunk". Rendering ignores it.
	Title string
	Rows  []Row
	// SameOp are the lines of the "Groups of remailers sharing a machine or
	// operator:" block, printed verbatim; none means no block.
	SameOp []string
	// Broken1 and Broken2 are the broken type-I and type-II chains.
	Broken1, Broken2 []Pair
	// Caps are the Remailer-Capabilities lines; rendering sorts them.
	Caps []Capstring
}

// Section titles and table headers, exactly as Echolot writes them.
const (
	sameOpTitle     = "Groups of remailers sharing a machine or operator:"
	broken1Title    = "Broken type-I remailer chains:"
	broken2Title    = "Broken type-II remailer chains:"
	capsTitle       = "Remailer-Capabilities:"
	statsVersion    = "Stats-Version: 2.0"
	generatedPrefix = "Generated: "
	lastUpdate      = "Last update: "
	v1Header        = "mixmaster           history  latency  uptime"
	v1Rule          = "--------------------------------------------"                             // 44
	v2Rule          = "------------------------------------------------------------------------" // 72
	// dateLayout is Echolot's make_date: "Tue 24 Nov 2026 13:58:02 GMT".
	dateLayout = "Mon 02 Jan 2006 15:04:05 GMT"
)

// RenderMlist2 renders mlist2.txt (§7.1) for the rows in their given order.
func RenderMlist2(l *List) []byte { return renderList2(l, "Mixmaster") }

// RenderRlist2 renders rlist2.txt: mlist2.txt with the Type I title.
func RenderRlist2(l *List) []byte { return renderList2(l, "Cypherpunk") }

func renderList2(l *List, title string) []byte {
	var b bytes.Buffer
	b.WriteString(statsVersion + "\n")
	b.WriteString(generatedPrefix + l.Generated.UTC().Format(dateLayout) + "\n")
	fmt.Fprintf(&b, "%s Latent-Hist   Latent  Uptime-Hist   Uptime  Options\n", pad(title, 12))
	b.WriteString(v2Rule + "\n")
	for _, r := range l.Rows {
		// %-12s %-12s %6s   %-12s  %5.1f%%  %s
		fmt.Fprintf(&b, "%s %s %6s   %s  %5.1f%%  %s\n",
			pad(r.Name, 12), pad(r.LatentHist, 12), latency2(r.Latency),
			pad(r.UptimeHist, 12), r.Uptime, r.Options)
	}
	writeSections(&b, l)
	b.WriteString("\n\n\n" + capsTitle + "\n\n")
	for _, line := range sortedCaps(l.Caps) {
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}

// RenderMlist renders mlist.txt (§7.2), the v1 list Mixmaster clients read
// by column: every row is exactly 44 characters.
func RenderMlist(l *List) []byte {
	var b bytes.Buffer
	writeSections(&b, l)
	b.WriteString(lastUpdate + l.Generated.UTC().Format(dateLayout) + "\n")
	b.WriteString(v1Header + "\n" + v1Rule + "\n")
	for _, r := range l.Rows {
		// %-14s %-12s %8s %6.2f%%
		fmt.Fprintf(&b, "%s %s %8s %6.2f%%\n", pad(r.Name, 14), pad(r.History, 12), latency1(r.Latency), r.Uptime)
	}
	return b.Bytes()
}

// writeSections writes the optional operator block and both broken-chain
// blocks, each preceded by a blank line.
func writeSections(b *bytes.Buffer, l *List) {
	if len(l.SameOp) > 0 {
		b.WriteString("\n" + sameOpTitle + "\n" + strings.Join(l.SameOp, "\n") + "\n")
	}
	for _, sec := range []struct {
		title string
		pairs []Pair
	}{{broken1Title, l.Broken1}, {broken2Title, l.Broken2}} {
		b.WriteString("\n" + sec.title + "\n")
		for i, p := range sec.pairs {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(p.String())
		}
		b.WriteString("\n")
	}
}

func sortedCaps(cs []Capstring) []string {
	lines := make([]string, 0, len(cs))
	for _, c := range cs {
		lines = append(lines, c.String())
	}
	slices.Sort(lines)
	return lines
}

// pad cuts s to n bytes or pads it with spaces, as Perl's substr and %-ns
// do with byte strings (fmt pads by runes).
func pad(s string, n int) string {
	if len(s) >= n {
		return s[:n]
	}
	return s + strings.Repeat(" ", n-len(s))
}

// hms splits a latency as Echolot's make_min_hr does: whole seconds,
// truncated; unknown, negative or over 99 hours is 99:59:59.
func hms(lat time.Duration) (h, m, s int64) {
	secs := int64(lat / time.Second)
	if lat < 0 || secs/3600 > 99 {
		return 99, 59, 59
	}
	return secs / 3600, secs / 60 % 60, secs % 60
}

// latency2 is the v2 Latent column before right-alignment: "h:mm" or "  :mm".
func latency2(lat time.Duration) string {
	h, m, _ := hms(lat)
	if h > 0 {
		return fmt.Sprintf("%2d:%02d", h, m)
	}
	return fmt.Sprintf("  :%02d", m)
}

// latency1 is the v1 latency column: "h:mm:ss", "   mm:ss" or "      ss".
func latency1(lat time.Duration) string {
	h, m, s := hms(lat)
	switch {
	case h > 0:
		return fmt.Sprintf("%2d:%02d:%02d", h, m, s)
	case m > 0:
		return fmt.Sprintf("   %2d:%02d", m, s)
	}
	return fmt.Sprintf("      %2d", s)
}

// lines splits data into lines without their CR LF or LF ends.
func lines(data []byte) []string {
	s := strings.Split(string(data), "\n")
	if len(s) > 0 && s[len(s)-1] == "" {
		s = s[:len(s)-1]
	}
	for i, l := range s {
		s[i] = strings.TrimSuffix(l, "\r")
	}
	return s
}

// parseDate reads Echolot's date, also without the weekday or with a
// numeric zone, which other pingers write.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{dateLayout, "02 Jan 2006 15:04:05 GMT", time.RFC1123, time.RFC1123Z,
		"Mon 02 Jan 2006 15:04:05 -0700", "Mon 2 Jan 2006 15:04:05 MST", "Mon 02 Jan 2006 15:04 MST", time.UnixDate} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: unreadable date", ErrSyntax)
}

var pairRE = regexp.MustCompile(`^\(\s*([^\s()]+)\s+([^\s()]+)\s*\)\s*$`)

func parsePair(line string) (Pair, bool) {
	m := pairRE.FindStringSubmatch(line)
	if m == nil {
		return Pair{}, false
	}
	return Pair{m[1], m[2]}, true
}

// listParser holds the state shared by both list formats: sections of
// "(a b)" lines introduced by a title, and $remailer lines anywhere.
type listParser struct {
	l       *List
	errs    []error
	section *[]Pair // the pair block being read, if any
	sameOp  bool    // reading the operator block
}

// common handles a line outside the table. It reports whether the line
// belonged to a known part (title, pair, capability line).
func (p *listParser) common(n int, line string) bool {
	t := strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(t, "Broken type-I remailer chains"):
		p.section, p.sameOp = &p.l.Broken1, false
		return true
	case strings.HasPrefix(t, "Broken type-II remailer chains"):
		p.section, p.sameOp = &p.l.Broken2, false
		return true
	case strings.HasPrefix(t, "Groups of remailers sharing"):
		p.section, p.sameOp = nil, true
		return true
	case strings.HasPrefix(t, "$remailer"):
		p.section, p.sameOp = nil, false
		c, err := ParseCapstring(t)
		if err != nil {
			p.errs = append(p.errs, &LineError{Line: n, Text: line, Err: err})
		} else {
			p.l.Caps = append(p.l.Caps, c)
		}
		return true
	case p.sameOp:
		if t == "" {
			p.sameOp = false
		} else {
			p.l.SameOp = append(p.l.SameOp, t)
		}
		return true
	case p.section != nil && strings.HasPrefix(t, "("):
		// As Mixmaster: a block is its "(" lines; anything else ends it.
		if pr, ok := parsePair(t); ok {
			*p.section = append(*p.section, pr)
		} else {
			p.errs = append(p.errs, syntaxError(n, line, "not a (name name) pair"))
		}
		return true
	}
	p.section = nil
	return false
}

func (p *listParser) date(n int, line, value string) {
	p.section, p.sameOp = nil, false
	t, err := parseDate(value)
	if err != nil {
		p.errs = append(p.errs, &LineError{Line: n, Text: line, Err: err})
		return
	}
	p.l.Generated = t
}

// v2HeaderRE matches the v2 table header; its first word is the title.
var v2HeaderRE = regexp.MustCompile(`^(\S+(?: \d+)?)\s+Latent-Hist\s+Latent\s+Uptime-Hist\s+Uptime\s+Options\b`)

// ParseMlist2 reads a v2 list (mlist2.txt, rlist2.txt). It reads the rows
// by whitespace-separated fields, as YAMN does: five fields before the
// '%', then the options column. The list is returned even with an error;
// the error joins a *LineError for every malformed line, and ErrNoTable if
// no table header was found.
func ParseMlist2(data []byte) (*List, error) {
	p := &listParser{l: &List{}}
	const (
		before = iota // before the table header
		rule          // header seen, expecting the dashes
		table
		after
	)
	state := before
	for i, line := range lines(data) {
		n := i + 1
		t := strings.TrimSpace(line)
		switch state {
		case before:
			if m := v2HeaderRE.FindStringSubmatch(t); m != nil {
				p.l.Title = m[1]
				state = rule
			} else if v, ok := strings.CutPrefix(t, strings.TrimSpace(generatedPrefix)); ok {
				p.date(n, line, v)
			} else {
				p.common(n, line)
			}
			continue
		case rule:
			state = table
			if strings.HasPrefix(t, "----") {
				continue
			}
			// tolerate a missing rule: read this line as a row
		}
		if state == table {
			switch {
			case t == "":
				if len(p.l.Rows) > 0 {
					state = after
				}
			case p.common(n, line):
				state = after
			default:
				r, err := parseRow2(line)
				if err != nil {
					p.errs = append(p.errs, &LineError{Line: n, Text: line, Err: err})
				} else {
					p.l.Rows = append(p.l.Rows, r)
				}
			}
			continue
		}
		p.common(n, line)
	}
	if state == before {
		p.errs = append(p.errs, ErrNoTable)
	}
	return p.l, errors.Join(p.errs...)
}

// parseRow2 reads "name lathist latency uphist uptime%  options".
func parseRow2(line string) (Row, error) {
	pct := strings.IndexByte(line, '%')
	if pct < 0 {
		return Row{}, fmt.Errorf("%w: no uptime %%", ErrSyntax)
	}
	f := strings.Fields(line[:pct])
	if len(f) != 5 {
		return Row{}, fmt.Errorf("%w: %d fields before the %%, want 5", ErrSyntax, len(f))
	}
	lat, err := parseLatency2(f[2])
	if err != nil {
		return Row{}, err
	}
	up, err := parseUptime(f[4])
	if err != nil {
		return Row{}, err
	}
	opts := line[pct+1:]
	if o, ok := strings.CutPrefix(opts, "  "); ok {
		opts = o
	} else {
		opts = strings.TrimLeft(opts, " \t")
	}
	if len(opts) < 15 {
		opts += strings.Repeat(" ", 15-len(opts)) // trailing blanks are often stripped
	}
	return Row{Name: f[0], LatentHist: f[1], Latency: lat, UptimeHist: f[3], Uptime: up, Options: opts}, nil
}

// parseLatency2 reads "h:mm" or ":mm".
func parseLatency2(s string) (time.Duration, error) {
	hs, ms, ok := strings.Cut(s, ":")
	if !ok || len(ms) != 2 || len(hs) > 2 {
		return 0, fmt.Errorf("%w: latency %q is not h:mm", ErrSyntax, s)
	}
	h, m := 0, 0
	var err error
	if hs != "" {
		if h, err = digits(hs); err != nil {
			return 0, err
		}
	}
	if m, err = digits(ms); err != nil || m > 59 {
		return 0, fmt.Errorf("%w: latency %q is not h:mm", ErrSyntax, s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

func digits(s string) (int, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%w: %q is not a number", ErrSyntax, s)
	}
	return strconv.Atoi(s)
}

func parseUptime(s string) (float64, error) {
	if s == "" || strings.Trim(s, "0123456789.") != "" {
		return 0, fmt.Errorf("%w: uptime %q is not a number", ErrSyntax, s)
	}
	u, err := strconv.ParseFloat(s, 64)
	if err != nil || u > 100 {
		return 0, fmt.Errorf("%w: uptime %q is not a percentage", ErrSyntax, s)
	}
	return u, nil
}

// ParseMlist reads a v1 list (mlist.txt) by Mixmaster's column rules
// (§15.2 of mixmaster-type2.md): rows follow the line of 44 dashes; only
// lines of 44 to 46 bytes with their line end are rows; the name is
// everything before the first space, the history is at 15–26, and the
// latency and uptime are read digit by digit at 28,29 31,32 34,35 and
// 37,38,39 41,42 (a blank is 0); "</PRE>" ends the table. Unlike
// Mixmaster, a row with something other than a digit or blank in those
// places is reported and skipped. The list is returned even with an error;
// the error joins a *LineError for every malformed line, and ErrNoTable if
// there is no rule line.
func ParseMlist(data []byte) (*List, error) {
	p := &listParser{l: &List{}}
	inTable, seenRule := false, false
	for i, raw := range lines(data) {
		n := i + 1
		t := strings.TrimSpace(raw)
		if !inTable {
			switch {
			case strings.HasPrefix(raw, v1Rule) && !seenRule:
				inTable, seenRule = true, true
			case strings.HasPrefix(t, strings.TrimSpace(lastUpdate)):
				p.date(n, raw, strings.TrimPrefix(t, strings.TrimSpace(lastUpdate)))
			default:
				p.common(n, raw)
			}
			continue
		}
		if strings.HasPrefix(strings.ToUpper(t), "</PRE>") {
			inTable = false
			continue
		}
		// Mixmaster measures the line with its LF, which lines() removed;
		// a CR is not counted, so CRLF files read like LF files.
		if l := len(raw) + 1; l < 44 || l > 46 {
			if t != "" {
				p.errs = append(p.errs, syntaxError(n, raw, "row is %d bytes with its line end, want 44–46", l))
			}
			continue
		}
		r, err := parseRow1(raw)
		if err != nil {
			p.errs = append(p.errs, &LineError{Line: n, Text: raw, Err: err})
			continue
		}
		p.l.Rows = append(p.l.Rows, r)
	}
	if !seenRule {
		p.errs = append(p.errs, ErrNoTable)
	}
	return p.l, errors.Join(p.errs...)
}

// parseRow1 reads a v1 row of 43–45 bytes by position.
func parseRow1(line string) (Row, error) {
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 {
		return Row{}, fmt.Errorf("%w: row does not start with a name and a space", ErrSyntax)
	}
	num := func(positions ...int) (int, error) {
		v := 0
		for _, i := range positions {
			c := line[i]
			switch {
			case c >= '0' && c <= '9':
				v = v*10 + int(c-'0')
			case c == ' ':
				v *= 10
			default:
				return 0, fmt.Errorf("%w: %q at column %d is not a digit", ErrSyntax, c, i)
			}
		}
		return v, nil
	}
	hh, err := num(28, 29)
	if err != nil {
		return Row{}, err
	}
	mm, err := num(31, 32)
	if err != nil {
		return Row{}, err
	}
	ss, err := num(34, 35)
	if err != nil {
		return Row{}, err
	}
	up, err := num(37, 38, 39, 41, 42)
	if err != nil {
		return Row{}, err
	}
	return Row{
		Name:    line[:sp],
		History: line[15:27],
		Latency: time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(ss)*time.Second,
		Uptime:  float64(up) / 100,
	}, nil
}
