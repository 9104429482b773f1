package abuse

import (
	"regexp"
	"strings"
)

// Kind is what a non-packet mail is (spec §16.1, with the confirmation
// step this implementation adds to destination blocks).
type Kind int

const (
	// Other is mail for the remailer that asks for nothing.
	Other Kind = iota
	// Bounce is a delivery status notification (from a mailer-daemon, an
	// empty Return-Path or a multipart/report).
	Bounce
	// Complaint is mail to an abuse address.
	Complaint
	// Request is a remailer-* request (Mail.Request names it).
	Request
	// DestBlock asks that an address receive no more remailer mail
	// (Mail.Block names it).
	DestBlock
	// Confirm carries a destination-block confirmation token.
	Confirm
)

func (k Kind) String() string {
	switch k {
	case Bounce:
		return "bounce"
	case Complaint:
		return "complaint"
	case Request:
		return "request"
	case DestBlock:
		return "destination-block"
	case Confirm:
		return "confirmation"
	}
	return "other"
}

// Addresses are the node's own addresses Classify needs.
type Addresses struct {
	Remailer string   // the remailer's address (packets and requests)
	Abuse    []string // addresses whose mail is a complaint; the remailer's own is ignored here
}

// Mail is a classified mail.
type Mail struct {
	Kind Kind
	// Sender is whom an answer goes to: Reply-To, else From (§16.1).
	// HasSender is false when neither holds one usable address.
	Sender    Addr
	HasSender bool
	// Automatic marks mail a program sent (RFC 3834 Auto-Submitted,
	// Precedence bulk/junk/list, mailing-list fields): it is never
	// answered and never confirms anything.
	Automatic bool
	// Request is the request name in lower case for Kind Request:
	// remailer-help (also for "help"), remailer-key, remailer-conf,
	// remailer-stats, remailer-adminkey or another remailer-[a-z0-9-]+.
	Request string
	// Block is the address a DestBlock asks to block; "" when the request
	// named something that is not a plain address (refused).
	Block string
	// Tokens are the confirmation tokens found, for Kind Confirm.
	Tokens []string
}

// requestName is a remailer-* request other than the known ones: 3.0.2d
// answers it with REQUESTDIR/<name> when that file exists.
var requestName = regexp.MustCompile(`^remailer-[a-z0-9-]{1,60}$`)

// Classify tells what raw, a mail that is not a packet, is. It never
// fails: anything unreadable is Other without a sender.
func Classify(raw []byte, a Addresses) Mail {
	h, body := SplitMessage(raw)
	if len(body) > maxBodyScan {
		body = body[:maxBodyScan]
	}
	var m Mail
	from := h.Get("From")
	sender := from
	if rt := h.Get("Reply-To"); rt != "" {
		sender = rt
	}
	m.Sender, m.HasSender = ParseMailbox(sender)
	m.Automatic = automatic(h)
	subject, _ := h.Subject() // RFC 2047 words decoded; as written when they cannot be
	subject = strings.TrimSpace(subject)
	switch {
	case bounce(h, from):
		m.Kind = Bounce
	case toAbuse(h, a):
		m.Kind = Complaint
	default:
		if t := FindTokens(subject + "\n" + string(body)); len(t) > 0 {
			m.Kind, m.Tokens = Confirm, t
			break
		}
		if r := RequestName(subject); r != "" {
			m.Kind, m.Request = Request, r
			break
		}
		if addr, ok := ParseDestBlock(subject, body, m.Sender.Addr); ok {
			m.Kind, m.Block = DestBlock, addr
		}
	}
	return m
}

// RequestName returns the request a Subject: asks for (spec §16.1: the
// whole value, case-insensitive), or "".
func RequestName(subject string) string {
	s := strings.ToLower(strings.TrimSpace(subject))
	if s == "help" {
		return "remailer-help"
	}
	if requestName.MatchString(s) {
		return s
	}
	return ""
}

// ParseDestBlock finds a destination-block request (spec §16.4): a Subject
// starting with destination-block, or a line of the body containing it.
// The address is the word after destination-block on the first such line
// that has one, else from. ok reports a request; addr is "" when the word
// is not a plain address (a regex or garbage: refused, as 3.0.2d refuses
// regex requests).
func ParseDestBlock(subject string, body []byte, from string) (addr string, ok bool) {
	const kw = "destination-block"
	cands := []string{}
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(subject)), kw) {
		cands = append(cands, subject)
		ok = true
	}
	if len(body) > maxBodyScan {
		body = body[:maxBodyScan]
	}
	for _, l := range lines(body, 2000) {
		if strings.Contains(asciiLower(l), kw) {
			cands = append(cands, l)
			ok = true
		}
	}
	if !ok {
		return "", false
	}
	for _, l := range cands {
		i := strings.Index(asciiLower(l), kw)
		words := strings.Fields(l[i+len(kw):])
		if len(words) == 0 {
			continue
		}
		const cut = "<>\"'(),;:"
		w := strings.Trim(strings.TrimRight(strings.Trim(words[0], cut), "."), cut)
		if ValidAddress(w) {
			return w, true
		}
		return "", true
	}
	if ValidAddress(from) {
		return from, true
	}
	return "", true
}

// asciiLower lowers ASCII letters only, so that an index into the result
// is one into s (strings.ToLower turns a bad UTF-8 byte into three).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// automatic reports mail sent by a program (RFC 3834 §2 and list mail).
func automatic(h Header) bool {
	if v := strings.ToLower(h.Get("Auto-Submitted")); v != "" && v != "no" {
		return true
	}
	switch strings.ToLower(h.Get("Precedence")) {
	case "bulk", "junk", "list":
		return true
	}
	for _, f := range []string{"List-Id", "List-Unsubscribe", "X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"} {
		if h.Has(f) {
			return true
		}
	}
	return false
}

func bounce(h Header, from string) bool {
	if strings.Contains(strings.ToLower(from), "mailer-daemon") {
		return true
	}
	if strings.TrimSpace(h.Get("Return-Path")) == "<>" {
		return true
	}
	return strings.Contains(strings.ToLower(h.Get("Content-Type")), "multipart/report")
}

// toAbuse reports whether the mail was addressed to an abuse address: by
// the fields MTAs add for the envelope recipient, or To:/Cc:.
func toAbuse(h Header, a Addresses) bool {
	own := strings.ToLower(a.Remailer)
	abuse := map[string]bool{}
	for _, x := range a.Abuse {
		if x = strings.ToLower(x); x != own {
			abuse[x] = true
		}
	}
	if len(abuse) == 0 {
		return false
	}
	for _, name := range []string{"Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc"} {
		for _, v := range h.Values(name) {
			for _, r := range addressList(v) {
				if abuse[r] {
					return true
				}
			}
		}
	}
	return false
}
