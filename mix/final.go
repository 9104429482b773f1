package mix

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/mixgo/mixgo/packet"
)

// Final delivery at the exit (spec §8.6, §10, §11 step 1), byte for byte
// as Mixmaster 3.0.2d writes it (pool.c filtermsg, mail.c sendmail,
// rem2.c v2body). Pure code: the operator files arrive as bytes in
// FinalConfig and the result is the mail to hand to the transport.

// DefaultHeaderBlock is header.blk as Mixmaster 3.0.2d ships it. The vectors
// ran with it (d-user-headers-alpha: From: and Message-ID: removed; the
// remailer-conf reply of r-responders-alpha lists exactly these rules).
const DefaultHeaderBlock = `# Header lines to be filtered out.

/^From:/
/^Sender:/
/^X-Sender:/
/^Resent-/
/^Approved:/
/^Errors-To:/
/^Message-ID:/
/^Comments: Authenticated sender is/
/^Path:/
/^Received:/

/^Control: rmgroup/q
/^Control: newgroup/q
/^Control: sendsys/q
/^Control: checkgroups/q
/^Control: version/q

# Don't allow excessive crossposting:
/^Newsgroups:.*,.*,.*,.*,.*,/q
`

// DefaultDestBlock is dest.blk as Mixmaster 3.0.2d ships it (its rab.blk is
// empty). The vectors' remailers ran with a test dest.blk instead (see the
// tests).
const DefaultDestBlock = `president@whitehouse.gov
majordomo@
`

// DefaultDestAllow is dest.alw as Mixmaster 3.0.2d ships it: nym servers
// and pingers a middleman delivers to directly.
const DefaultDestAllow = `## List of addresses to which Mixmaster will deliver, even in middleman mode
## Beware: substring matches

##
## allowed destinations
##

## Allows mail to *@example.com
#/@example\.com$/

## Matches *myaddress@example.net*
#myaddress@example.net

## Allows direct posts to alt.test and alt.anonymous.messages
## (only mix posts unless mail2news@ is whitelisted, too)
#/^Newsgroups: +(alt\.test|alt\.anonymous\.messages)$/


##
## nymservers
##
/@nym\.mixmin\.net$/
/@mixnym\.net$/
/@is-not-my\.name$/
/@dizum\.nl$/

##
## Some (not all) pingers
##
/^echolot\+/
/^pinger\+/
/^estragon\+.+@frell\.theremailer\.net$/
`

// finBuiltinDisclaimer is 3.0.2d's DISCLAIMER (config.h), used when there is no
// disclaim.txt; %s is the complaints address.
const finBuiltinDisclaimer = "Comments: This message did not originate from the Sender address above.\n" +
	"\tIt was remailed automatically by anonymizing remailer software.\n" +
	"\tPlease report problems or inappropriate use to the\n" +
	"\tremailer administrator at <%s>.\n"

// finBinDisclaimer replaces a cut binary attachment (BINFILTER y).
const finBinDisclaimer = "[...]"

// finLineLen is 3.0.2d's LINELEN: its fixed buffers keep at most 127 bytes.
const finLineLen = 128

// Why BuildFinal drops a message. Test with errors.Is.
var (
	ErrDummy             = errors.New("mix: dummy message (null: destination)")
	ErrTooLarge          = errors.New("mix: final message larger than the size limit")
	ErrRejected          = errors.New("mix: final message rejected by a /regex/q rule")
	ErrNoDestination     = errors.New("mix: no To/Cc/Bcc/Newsgroups line left after dest.blk")
	ErrBinary            = errors.New("mix: final message with a binary attachment rejected")
	ErrPostRefused       = errors.New("mix: Usenet post refused: no mail-to-news gateway configured")
	ErrNoRecipients      = errors.New("mix: final message has no recipients")
	ErrTooManyRecipients = errors.New("mix: final message has too many recipients")
	ErrSeveralRemailers  = errors.New("mix: final message addressed to more than one remailer")
)

// FinalConfig holds what final delivery needs from the configuration and the
// operator's files (3.0.2d's names in capitals).
type FinalConfig struct {
	Address    string // REMAILERADDR, e.g. alpha@remailer.test
	AnonName   string // ANONNAME; "" = "Anonymous"; " <Address>" is appended when it has no '@'
	Complaints string // COMPLAINTS, named in the built-in disclaimer; "" = Address (3.0.2d's default)

	Disclaimer     []byte // DISCLAIMFILE (disclaim.txt) contents; nil = the built-in Comments: block
	FromDisclaimer []byte // FROMDSCLFILE (fromdscl.txt), put before the body when the user's From: survives; nil = none
	Footer         []byte // MSGFOOTERFILE (footer.txt), appended to the body; nil = none

	HeaderBlock PatternList // HDRFILTER (header.blk); nil = no filtering (use DefaultHeaderBlock for the stock file)
	DestBlock   PatternList // DESTBLOCK (dest.blk, rab.blk); nil = nothing blocked

	SizeLimit     int    // SIZELIMIT in bytes (3.0.2d: kB × 1024); the §8.6 text must not be longer; 0 = none
	MaxRecipients int    // MAXRECIPIENTS; 0 = 5
	BinFilter     int    // BINFILTER: 0 off, 1 cut binary attachments, 2 drop such messages
	MessageID     bool   // MID: add Message-ID: <hex(MD5(body))@domain>
	MIDDomain     string // MID @domain: the Message-ID domain; "" = the domain of Address, else of Complaints

	// News is NEWS: the mail-to-news gateway address(es), comma-separated
	// ("mail-to-news" already replaced by the MAILtoNEWS list). "" refuses
	// posts; a value without '@' or with a space (3.0.2d: an inews
	// program) is not supported and refuses them too.
	News       string
	Precedence string // PRECEDENCE: adds Precedence: when set

	// KnownRemailers reports whether an address is a remailer's (from the
	// keyrings); a message to several recipients of which more than one is
	// a remailer is dropped. nil = no address is.
	KnownRemailers func(addr string) bool
}

// Delivery is the mail the exit hands to its transport.
type Delivery struct {
	// Recipients are the envelope recipients: the addresses of the To, Cc
	// and Bcc lines (Bcc ones are no longer in Text), in order, duplicates
	// kept; for a post the news gateway comes first.
	Recipients []string
	// Text is the whole mail, LF line ends, exactly as 3.0.2d writes it,
	// except that Bcc: lines are removed.
	Text []byte
	// Post says the message was a Usenet post sent to the news gateway.
	Post bool
	// Loop says the only recipient is Address itself: 3.0.2d puts Text
	// into its own pool instead of sending it (§10 step 7).
	Loop bool
}

// FinalText returns the exit's intermediate RFC 822 message (§8.6): To: with
// the mail destinations joined by ',', Newsgroups: with the post: groups,
// the header lines, Subject: (no subject) for a post without one, an empty
// line, the body. It returns nil for a dummy.
func FinalText(msg *packet.Message) []byte {
	var to, groups []byte
	post := false
	for _, d := range msg.Destinations {
		switch {
		case finHasPrefixFold(d, "null:"):
			return nil
		case finHasPrefixFold(d, "post:"):
			post = true
			if len(d) > 5 {
				j := 5
				for j < len(d) && finIsSpace(d[j]) {
					j++
				}
				// As 3.0.2d: a comma even when this field adds nothing.
				if len(groups) > 0 {
					groups = append(groups, ',')
				}
				groups = append(groups, d[j:]...)
			}
		default:
			if len(to) > 0 {
				to = append(to, ',')
			}
			to = append(to, d...)
		}
	}
	var b bytes.Buffer
	if len(to) > 0 {
		b.WriteString("To: ")
		b.Write(to)
		b.WriteByte('\n')
	}
	if len(groups) > 0 {
		b.WriteString("Newsgroups: ")
		b.Write(groups)
		b.WriteByte('\n')
	}
	subject := false
	for _, h := range msg.Headers {
		subject = subject || finHasPrefixFold(h, "subject:")
		b.WriteString(h)
		b.WriteByte('\n')
	}
	if post && !subject {
		b.WriteString("Subject: (no subject)\n")
	}
	b.WriteByte('\n')
	b.Write(msg.Body)
	return b.Bytes()
}

// finIsPost reports whether the message is a Usenet post (any post: field).
func finIsPost(msg *packet.Message) bool {
	for _, d := range msg.Destinations {
		if finHasPrefixFold(d, "post:") {
			return true
		}
	}
	return false
}

// AllowedDirect is the middleman test of §11 step 1: whether every address
// on every To, Cc, Bcc and Newsgroups line of the §8.6 message matches allow
// (dest.alw plus dest.alw.nonpublished). Addresses are extracted with
// 3.0.2d's RFC 822 parser, so "Newsgroups: alt.test,misc.test" yields just
// "alt". A message without such lines is allowed (and then dropped by
// BuildFinal); a dummy is not.
func AllowedDirect(allow PatternList, msg *packet.Message) bool {
	text := FinalText(msg)
	if text == nil {
		return false
	}
	r := &finReader{b: text}
	for {
		line, ok := r.header()
		if !ok {
			return true
		}
		if !finIsDestLine(line) {
			continue
		}
		// 3.0.2d skips the ':' and one more character (the space).
		v := line[strings.IndexByte(line, ':')+1:]
		if v != "" {
			v = v[1:]
		}
		for _, a := range finAddrList(v) {
			if !allow.Allows(a) {
				return false
			}
		}
	}
}

func finIsDestLine(line string) bool {
	return finHasPrefixFold(line, "to:") || finHasPrefixFold(line, "cc:") ||
		finHasPrefixFold(line, "bcc:") || finHasPrefixFold(line, "newsgroups:")
}

// BuildFinal turns a decoded final message into the mail the exit sends
// (§8.6, §10 steps 2–7). A non-nil error means the message is dropped;
// it matches one of ErrDummy, ErrTooLarge, ErrRejected, ErrNoDestination,
// ErrBinary, ErrPostRefused, ErrNoRecipients, ErrTooManyRecipients or
// ErrSeveralRemailers. The middleman decision (AllowedDirect) comes
// before.
func BuildFinal(cfg *FinalConfig, msg *packet.Message) (*Delivery, error) {
	if msg.IsDummy() {
		return nil, ErrDummy
	}
	in := FinalText(msg)
	if cfg.SizeLimit > 0 && len(in) > cfg.SizeLimit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(in), cfg.SizeLimit)
	}
	m, userFrom, err := cfg.filterMessage(in)
	if err != nil {
		return nil, err
	}
	if !finIsPost(msg) {
		return cfg.sendmail(m, !userFrom, nil)
	}
	if cfg.News == "" || !strings.Contains(cfg.News, "@") || strings.Contains(cfg.News, " ") {
		return nil, ErrPostRefused
	}
	d, err := cfg.sendmail(m, !userFrom, &cfg.News)
	if d != nil {
		d.Post = true
	}
	return d, err
}

func (cfg *FinalConfig) anonName() string {
	a := cfg.AnonName
	if a == "" {
		a = "Anonymous"
	}
	if !strings.Contains(a, "@") {
		a = finTrunc(a + " <" + cfg.Address + ">")
	}
	return a
}

func (cfg *FinalConfig) complaints() string {
	if cfg.Complaints != "" {
		return cfg.Complaints
	}
	return cfg.Address
}

// midDomain is what follows the MD5 in the Message-ID.
func (cfg *FinalConfig) midDomain() string {
	if cfg.MIDDomain != "" {
		return "@" + strings.TrimPrefix(cfg.MIDDomain, "@")
	}
	for _, a := range []string{cfg.Address, cfg.complaints()} {
		if i := strings.IndexByte(a, '@'); i >= 0 {
			return a[i:]
		}
	}
	return ""
}

// filterMessage is 3.0.2d's filtermsg: disclaimer, filtered header lines,
// Message-ID, empty line, body. userFrom reports a surviving From: line.
func (cfg *FinalConfig) filterMessage(in []byte) (out []byte, userFrom bool, err error) {
	var b bytes.Buffer
	if cfg.Disclaimer != nil {
		b.Write(cfg.Disclaimer)
	} else {
		fmt.Fprintf(&b, finBuiltinDisclaimer, cfg.complaints())
	}
	r := &finReader{b: in}
	dest := 0
	for {
		line, ok := r.header()
		if !ok {
			break
		}
		if finIsDestLine(line) {
			l, removed, reject := cfg.DestBlock.Filter(line)
			// A q rule in dest.blk neither removes the line nor counts it
			// (3.0.2d ignores doblock's -1 here).
			line = l
			if !removed && !reject {
				dest++
			}
		}
		l, _, reject := cfg.HeaderBlock.Filter(line)
		if reject {
			return nil, false, fmt.Errorf("%w: a header line matched a rule ending in q", ErrRejected) // the line itself stays out of logs
		}
		line = l
		userFrom = userFrom || finHasPrefixFold(line, "from:")
		if line != "" {
			if !strings.Contains(line, ":") {
				b.WriteString("X-Invalid: ")
			}
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	if cfg.MessageID {
		// The body as it arrived, before any disclaimer or footer.
		sum := md5.Sum(in[r.p:])
		fmt.Fprintf(&b, "Message-ID: <%s>\n", finTrunc(hex.EncodeToString(sum[:])+cfg.midDomain()))
	}
	b.WriteByte('\n')
	if userFrom {
		head := b.Bytes()
		b = bytes.Buffer{}
		b.WriteString("Sender: " + cfg.anonName() + "\n")
		b.Write(head)
		b.Write(cfg.FromDisclaimer)
	}

	// BINFILTER: a run of lines of one length > 20 that start with 'M' or
	// have no space (uuencode, base64) is cut after 10 lines, outside
	// PGP and Mix armour. l starts at 80 as in 3.0.2d. 3.0.2d also means
	// to filter MIME part headers with header.blk, but its test for a
	// multipart Content-Type can never be true, so neither do we.
	l, binary, armor := 80, 0, false
	for {
		lb, st := r.line()
		if st < 0 {
			break
		}
		line := string(lb)
		if cfg.BinFilter != 0 && l > 20 && len(line) == l &&
			(strings.HasPrefix(line, "M") || !strings.Contains(line, " ")) {
			binary++
		} else {
			binary, l = 0, len(line)
		}
		if finHasPrefixFold(line, "-----BEGIN PGP ") || finHasPrefixFold(line, "-----Begin Mix Key-----") {
			armor = true
		}
		if finHasPrefixFold(line, "-----END PGP ") || finHasPrefixFold(line, "-----End Mix Key-----") {
			armor = false
		}
		switch {
		case binary < 10 || armor:
			b.WriteString(line)
			b.WriteByte('\n')
		case binary == 10:
			if cfg.BinFilter > 1 {
				return nil, false, ErrBinary
			}
			b.WriteString(finBinDisclaimer + "\n")
		}
	}
	b.Write(cfg.Footer)
	if dest == 0 {
		return nil, false, ErrNoDestination
	}
	return b.Bytes(), userFrom, nil
}

// sendmail is 3.0.2d's sendmail() up to the transport: From:, To: (posts),
// Precedence: before the message, then the recipient checks. news is the
// gateway address for a post, nil for mail.
func (cfg *FinalConfig) sendmail(m []byte, addFrom bool, news *string) (*Delivery, error) {
	if news != nil {
		a, _, reject := cfg.DestBlock.Filter(*news)
		if reject {
			return nil, fmt.Errorf("%w: news gateway %q", ErrRejected, *news)
		}
		news = &a // "" when blocked: no recipients below
	}
	var head bytes.Buffer
	if addFrom {
		head.WriteString(finHdrEncode("From: "+cfg.anonName(), 255))
		head.WriteByte('\n')
	}
	if news != nil {
		head.WriteString("To: " + *news + "\n")
	}
	if cfg.Precedence != "" {
		head.WriteString("Precedence: " + cfg.Precedence + "\n")
	}

	var rcpt string
	count := 0
	if news == nil {
		for _, h := range finHeaderFields(m) {
			if h.isRecipient() {
				count += 1 + finCommas(h.value)
				if rcpt != "" {
					rcpt += ", "
				}
				rcpt += h.value
			}
		}
	} else if *news != "" {
		rcpt, count = *news, 1+finCommas(*news)
	}
	limit := cfg.MaxRecipients
	if limit == 0 {
		limit = 5
	}
	switch {
	case count == 0:
		return nil, ErrNoRecipients
	case count > limit:
		return nil, fmt.Errorf("%w: %d, limit %d", ErrTooManyRecipients, count, limit)
	case count > 1 && cfg.remailers(rcpt) > 1:
		return nil, ErrSeveralRemailers
	}

	d := &Delivery{Loop: rcpt == cfg.Address}
	for _, h := range append(finHeaderFields(head.Bytes()), finHeaderFields(m)...) {
		if h.isRecipient() {
			d.Recipients = append(d.Recipients, finEnvelopeAddrs(h.value)...)
		}
	}
	d.Text = append(head.Bytes(), finStripBcc(m)...)
	return d, nil
}

// finEnvelopeAddrs returns the addresses of a To/Cc/Bcc value. 3.0.2d's
// usual transport, sendmail -t, parses the header itself, so a proper RFC
// 5322 parser is used; values it rejects fall back to 3.0.2d's own parser
// (which its SMTP sender uses), so that bare local names still count.
func finEnvelopeAddrs(v string) []string {
	var out []string
	if list, err := mail.ParseAddressList(strings.ReplaceAll(v, "\n", "")); err == nil {
		for _, a := range list {
			out = append(out, a.Address)
		}
		return out
	}
	for _, a := range finAddrList(v) {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

// finCommas counts the commas after the first byte, as 3.0.2d counts
// recipients (one more than this).
func finCommas(s string) int {
	if s == "" {
		return 0
	}
	return strings.Count(s[1:], ",")
}

func (cfg *FinalConfig) remailers(rcpt string) int {
	if cfg.KnownRemailers == nil {
		return 0
	}
	n := 0
	for _, a := range finAddrList(rcpt) {
		if a != "" && cfg.KnownRemailers(a) {
			n++
		}
	}
	return n
}

// finField is one header field as 3.0.2d's buf_getheader splits it.
type finField struct {
	name, value string // value: after ':' and blanks; continuation lines joined by "\n"
	start, end  int    // the field's bytes, line ends included
}

func (h finField) isRecipient() bool {
	return strings.EqualFold(h.name, "to") || strings.EqualFold(h.name, "cc") || strings.EqualFold(h.name, "bcc")
}

// finHeaderFields splits the header section (up to the first empty line).
// A line without ':' before any blank gets no name.
func finHeaderFields(b []byte) []finField {
	var fs []finField
	r := &finReader{b: b}
	for {
		start := r.p
		lb, st := r.line()
		if st != 0 {
			return fs
		}
		line := string(lb)
		var f finField
		if i := strings.IndexAny(line, " \t:"); i >= 0 && line[i] == ':' {
			f.name = line[:i]
			f.value = strings.TrimLeft(line[i+1:], " \t")
		}
		for {
			next, st := r.peek()
			if st != 0 || (next[0] != ' ' && next[0] != '\t') {
				break
			}
			r.line()
			f.value += "\n" + string(next)
		}
		f.start, f.end = start, r.p
		fs = append(fs, f)
	}
}

// finStripBcc removes the Bcc: fields from the header section, as a
// transport does (3.0.2d's SMTP sender, sendmail -t).
func finStripBcc(m []byte) []byte {
	fs := finHeaderFields(m)
	out := make([]byte, 0, len(m))
	last := 0
	for _, f := range fs {
		if strings.EqualFold(f.name, "bcc") {
			out = append(out, m[last:f.start]...)
			last = f.end
		}
	}
	return append(out, m[last:]...)
}

// finReader reads lines as 3.0.2d's buf_getline: a line ends at LF, CR LF
// or NUL.
type finReader struct {
	b []byte
	p int
}

// line returns the next line; st is 0 for a line, 1 for an empty line, -1
// at the end.
func (r *finReader) line() (line []byte, st int) {
	if r.p >= len(r.b) {
		return nil, -1
	}
	line, rest := finCutLine(r.b[r.p:])
	r.p = len(r.b) - len(rest)
	if len(line) == 0 {
		return line, 1
	}
	return line, 0
}

func (r *finReader) peek() ([]byte, int) {
	p := r.p
	line, st := r.line()
	r.p = p
	return line, st
}

// header returns the next header line with its continuation lines joined
// (line breaks removed, leading blanks kept); false at the empty line or
// the end.
func (r *finReader) header() (string, bool) {
	l, st := r.line()
	if st != 0 {
		return "", false
	}
	line := string(l)
	for {
		next, st := r.peek()
		if st != 0 || (next[0] != ' ' && next[0] != '\t') {
			return line, true
		}
		r.line()
		line += string(next)
	}
}

// finCutLine splits off the first line (buf_getline's line ends).
func finCutLine(b []byte) (line, rest []byte) {
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\n' || b[i] == 0:
			return b[:i], b[i+1:]
		case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
			return b[:i], b[i+2:]
		}
	}
	return b, nil
}

// finIsSpace is isspace() in the C locale.
func finIsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// finTrunc cuts s to what a LINELEN buffer holds.
func finTrunc(s string) string {
	if len(s) > finLineLen-1 {
		return s[:finLineLen-1]
	}
	return s
}

// finHdrEncode is 3.0.2d's hdr_encode for the From: line: words with
// control or non-ASCII bytes become RFC 2047 "=?iso-8859-1?Q?…?=" (adjacent
// ones share one encoded word), trailing blanks are lost, and a result
// longer than n is folded at its last blank.
func finHdrEncode(in string, n int) string {
	var out, word, space []byte
	encodeWord, encoding := false, false
	for i := 0; i <= len(in); i++ {
		var c byte // the terminating NUL at i == len(in)
		if i < len(in) {
			c = in[i]
		}
		if !finIsSpace(c) && c != 0 {
			encodeWord = encodeWord || c < 32 || c >= 127
			word = append(word, c)
			continue
		}
		if len(word) > 0 {
			if encodeWord {
				if !encoding {
					out = append(out, space...)
					space = space[:0]
					out = append(out, "=?iso-8859-1?Q?"...)
					encoding = true
				} else {
					// The blanks between two encoded words go inside.
					word = append(space, word...)
					space = nil
				}
				word = finQEncode(word)
			}
			if encoding && !encodeWord {
				encoding = false
				out = append(out, "?="...)
			}
			out = append(out, space...)
			out = append(out, word...)
			encodeWord = false
			space, word = nil, nil
		}
		space = append(space, c)
	}
	if encoding {
		out = append(out, "?="...)
	}
	// Folding, as 3.0.2d: cut before the last blank. Where 3.0.2d would
	// loop or abort (no usable blank) we stop.
	var res []byte
	p := 0
	for n > 0 && len(out)-p > n {
		i := 1
		for i < len(out)-p && !finIsSpace(out[len(out)-i]) {
			i++
		}
		k := len(out) - i
		if k <= 0 || len(out)-p < k {
			break
		}
		res = append(res[:0], out[p:p+k]...) // buf_get replaces, not appends
		res = append(res, "\n\t"...)
		p += k
	}
	return string(append(res, out[p:]...))
}

// finQEncode is 3.0.2d's encode_word (RFC 2047 Q encoding, upper-case hex).
func finQEncode(w []byte) []byte {
	const hexDigits = "0123456789ABCDEF"
	var out []byte
	for _, c := range w {
		switch {
		case c < 32 || c >= 127 || c == '=' || c == '?' || c == '_':
			out = append(out, '=', hexDigits[c>>4], hexDigits[c&15])
		case c == ' ':
			out = append(out, '_')
		default:
			out = append(out, c)
		}
	}
	return out
}

// finAddrList is 3.0.2d's rfc822_addr: the addresses of a header value, one
// per entry. Its parser is not RFC 822: a group yields its members and an
// empty entry, a failed parse ends the list ("alt.test,misc.test" gives
// "alt"), and the result is what 3.0.2d compares with dest.alw and the
// remailer list.
func finAddrList(v string) []string {
	a := &finAddrParser{s: v}
	var list []byte
	for {
		addr, ok := a.address()
		if !ok {
			addr, ok = a.localAddress()
		}
		if !ok {
			break
		}
		list = append(list, addr...)
		list = append(list, '\n')
		if a.getc() != ',' {
			break
		}
	}
	var out []string
	for len(list) > 0 {
		var l []byte
		l, list = finCutLine(list)
		out = append(out, string(l))
	}
	return out
}

// finAddrParser mirrors rfc822.c statement by statement (getc/ungetc on a
// cursor, the same backtracking), so it finds what 3.0.2d finds.
type finAddrParser struct {
	s     string
	p     int
	depth int // comment nesting, bounded against stack exhaustion
}

// finMaxCommentDepth bounds nested comments; deeper ones count as malformed.
const finMaxCommentDepth = 1000

func (a *finAddrParser) getc() int {
	if a.p >= len(a.s) {
		return -1
	}
	a.p++
	return int(a.s[a.p-1])
}

func (a *finAddrParser) ungetc() {
	if a.p > 0 {
		a.p--
	}
}

// wsc skips white space, folding and comments.
func (a *finAddrParser) wsc() {
	for {
		c := a.getc()
		switch {
		case c == -1:
			return
		case c == '\n':
			c = a.getc()
			if c != ' ' && c != '\t' {
				if c != -1 {
					a.ungetc()
					a.ungetc()
				}
				return
			}
		case c != ' ' && c != '\t':
			a.ungetc()
			if !a.comment() {
				return
			}
		}
	}
}

func (a *finAddrParser) comment() bool {
	p := a.p
	if a.getc() == '(' && a.depth < finMaxCommentDepth {
		for {
			c := a.getc()
			switch c {
			case -1:
				return true // unterminated: accepted
			case '\n':
				if c = a.getc(); c != ' ' && c != '\n' {
					a.p = p
					return false
				}
			case '\\':
				a.getc()
			case ')':
				return true
			case '(':
				a.ungetc()
				a.depth++
				ok := a.comment()
				a.depth--
				if !ok {
					a.p = p
					return false
				}
			}
		}
	}
	a.p = p
	return false
}

func finIsSpecial(c int) bool {
	return strings.IndexByte(`()<>@,;:\".[]`, byte(c)) >= 0
}

func (a *finAddrParser) atom() string {
	a.wsc()
	start := a.p
	for {
		c := a.getc()
		if c == -1 {
			break
		}
		if finIsSpecial(c) || c == ' ' || c < 32 || c == 127 {
			a.ungetc()
			break
		}
	}
	s := a.s[start:a.p]
	if s != "" {
		a.wsc()
	}
	return s
}

func (a *finAddrParser) quotedString() (string, bool) {
	p := a.p
	a.wsc()
	if a.getc() == '"' {
		var b []byte
	loop:
		for {
			c := a.getc()
			switch c {
			case -1:
				break loop
			case '\n':
				if c = a.getc(); c != ' ' && c != '\n' {
					break loop
				}
			case '\\':
				if c = a.getc(); c == -1 {
					break loop
				}
				b = append(b, byte(c))
			case '"':
				a.wsc()
				return string(b), true
			default:
				b = append(b, byte(c))
			}
		}
	}
	a.p = p
	return "", false
}

// word succeeds for an empty quoted string too.
func (a *finAddrParser) word() (string, bool) {
	if s := a.atom(); s != "" {
		return s, true
	}
	return a.quotedString()
}

func (a *finAddrParser) localPart() (string, bool) {
	addr, ok := a.word()
	if !ok {
		return "", false
	}
	for {
		c := a.getc()
		if c == -1 {
			break
		}
		if c == '.' {
			if w, ok := a.word(); ok {
				addr += "." + w
				continue
			}
		}
		a.ungetc()
		break
	}
	return addr, addr != ""
}

func (a *finAddrParser) domain() (string, bool) {
	d := a.atom() // domain literals are not implemented in 3.0.2d
	if d == "" {
		return "", false
	}
	for {
		c := a.getc()
		if c == -1 {
			break
		}
		if c == '.' {
			if s := a.atom(); s != "" {
				d += "." + s
				continue
			}
		}
		a.ungetc()
		break
	}
	return d, true
}

func (a *finAddrParser) addrSpec() (string, bool) {
	p := a.p
	if l, ok := a.localPart(); ok && a.getc() == '@' {
		if d, ok := a.domain(); ok {
			return l + "@" + d, true
		}
	}
	a.p = p
	return "", false
}

// bracketed is route_addr (inner = addrSpec) and local_addr (inner = atom):
// "<" inner ">".
func (a *finAddrParser) bracketed(inner func() (string, bool)) (string, bool) {
	p := a.p
	c := a.getc()
	if c == -1 {
		return "", false
	}
	if c != '<' {
		a.ungetc()
		return "", false
	}
	if s, ok := inner(); ok && a.getc() == '>' {
		return s, true
	}
	a.p = p
	return "", false
}

func (a *finAddrParser) routeAddr() (string, bool) { return a.bracketed(a.addrSpec) }

func (a *finAddrParser) localAddr() (string, bool) {
	return a.bracketed(func() (string, bool) { s := a.atom(); return s, s != "" })
}

// phrase reports whether one or more words hold any text.
func (a *finAddrParser) phrase() bool {
	text := false
	for {
		w, ok := a.word()
		if !ok {
			return text
		}
		text = text || w != ""
	}
}

func (a *finAddrParser) mailbox() (string, bool) {
	if s, ok := a.addrSpec(); ok {
		return s, true
	}
	p := a.p
	if a.phrase() {
		if s, ok := a.routeAddr(); ok {
			return s, true
		}
	}
	a.p = p
	return a.routeAddr()
}

// group yields its members, each followed by a line break.
func (a *finAddrParser) group() (string, bool) {
	p := a.p
	if a.phrase() && a.getc() == ':' {
		var g string
		for {
			s, ok := a.mailbox()
			if !ok {
				break
			}
			g += s + "\n"
		}
		if a.getc() == ';' {
			return g, true
		}
	}
	a.p = p
	return "", false
}

func (a *finAddrParser) address() (string, bool) {
	if s, ok := a.mailbox(); ok {
		return s, true
	}
	return a.group()
}

func (a *finAddrParser) localAddress() (string, bool) {
	if s, ok := a.localAddr(); ok {
		return s, true
	}
	p := a.p
	if a.phrase() {
		if s, ok := a.localAddr(); ok {
			return s, true
		}
	}
	a.p = p
	s := a.atom()
	return s, s != ""
}
