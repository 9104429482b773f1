package abuse

import (
	"regexp"
	"strings"

	"github.com/emersion/go-message/mail"
)

// ValidAddress reports whether a is a plain address a reply may go to or a
// destination block may name: local@domain with an unquoted local part,
// a domain of letters, digits, hyphens and at least one dot, at most 254
// characters. It is stricter than RFC 5321 on purpose: what passes can be
// written into a header, a dest.blk line and an SMTP envelope unchanged.
func ValidAddress(a string) bool {
	if len(a) > 254 {
		return false
	}
	local, domain, ok := strings.Cut(a, "@")
	if !ok || len(local) == 0 || len(local) > 64 || len(domain) < 3 || strings.Contains(domain, "@") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !(isAlnum(c) || strings.IndexByte("!#$%&'*+/=?^_`{|}~.-", c) >= 0) {
			return false
		}
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// addrSpec finds bare addresses in text the address parser rejected.
var addrSpec = regexp.MustCompile(`[A-Za-z0-9!#$%&'*+/=?^_` + "`" + `{|}~.-]+@[A-Za-z0-9.-]+`)

// tokenComment is an address followed by a comment that carries a token,
// as Echolot writes its request senders when the MTA has no recipient
// delimiter: "pinger@example.org(conf.12=1700000000=ab12)". Replies must
// keep the comment or the pinger cannot match them.
var tokenComment = regexp.MustCompile(`^\s*([^\s()<>,;:"]+@[^\s()<>,;:"]+)\s*\(([A-Za-z0-9.=+_-]{1,100})\)\s*$`)

// Addr is one parsed mailbox: Addr is the plain address (ValidAddress),
// Display what a reply's To: line should carry (Addr, or Addr followed by
// a token comment).
type Addr struct {
	Addr, Display string
}

// ParseMailbox returns the single usable address of a From:/Reply-To:
// value, or ok = false. go-message's parser reads it, so a display name in
// RFC 2047 words of any common charset does not make it unusable.
func ParseMailbox(v string) (a Addr, ok bool) {
	if len(v) > 2000 {
		return Addr{}, false
	}
	if m := tokenComment.FindStringSubmatch(v); m != nil && ValidAddress(m[1]) {
		return Addr{Addr: m[1], Display: m[1] + " (" + m[2] + ")"}, true
	}
	p, err := mail.ParseAddress(v)
	if err != nil || !ValidAddress(p.Address) {
		return Addr{}, false
	}
	return Addr{Addr: p.Address, Display: p.Address}, true
}

// addressList returns every address found in a To:/Cc:-style value, in
// lower case; on a value the parser rejects it falls back to whatever looks
// like an address.
func addressList(v string) []string {
	if len(v) > maxHeaderBytes {
		v = v[:maxHeaderBytes]
	}
	var out []string
	if list, err := mail.ParseAddressList(v); err == nil {
		for _, a := range list {
			out = append(out, strings.ToLower(a.Address))
		}
		return out
	}
	for _, a := range addrSpec.FindAllString(v, 50) {
		out = append(out, strings.ToLower(strings.Trim(a, ".")))
	}
	return out
}

// Key is the form of an address used to count and compare it: lower case.
func Key(addr string) string { return strings.ToLower(addr) }
