package mailout

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// maxAddrLen is the longest envelope address accepted: RFC 5321's 256-octet
// path less the angle brackets.
const maxAddrLen = 254

// splitAddr checks an envelope address "local@domain" and returns its
// domain as written. Quoted local parts, whitespace, control characters and
// the characters <>()[],;:"\ in the local part are refused.
func splitAddr(a string) (domain string, err error) {
	if a == "" || len(a) > maxAddrLen || !utf8.ValidString(a) {
		return "", errors.New("empty, too long or not UTF-8")
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return "", errors.New("not local@domain")
	}
	local, domain := a[:at], a[at+1:]
	if len(local) > 64 || strings.ContainsFunc(local, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune(`<>()[],;:"\@`, r)
	}) {
		return "", errors.New("bad local part")
	}
	if strings.HasPrefix(domain, "[") {
		if _, err := addressLiteral(domain); err != nil {
			return "", err
		}
		return domain, nil
	}
	if _, err := asciiDomain(domain); err != nil {
		return "", err
	}
	return domain, nil
}

// addressLiteral parses "[1.2.3.4]" or "[IPv6:...]".
func addressLiteral(d string) (netip.Addr, error) {
	if len(d) < 3 || d[0] != '[' || d[len(d)-1] != ']' {
		return netip.Addr{}, errors.New("bad address literal")
	}
	s := d[1 : len(d)-1]
	v6 := false
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		s, v6 = s[5:], true
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" || ip.Is6() != v6 {
		return netip.Addr{}, errors.New("bad address literal")
	}
	return ip, nil
}

// asciiDomain returns the lower-case ASCII (A-label) form of a host name and
// checks its syntax: dot-separated labels of letters, digits and inner
// hyphens, each 1-63 octets, 253 octets in all, no trailing dot.
func asciiDomain(d string) (string, error) {
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", errors.New("bad domain")
	}
	a = strings.ToLower(a)
	if a == "" || len(a) > 253 {
		return "", errors.New("bad domain length")
	}
	for _, l := range strings.Split(a, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", errors.New("bad domain label")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", errors.New("bad domain character")
			}
		}
	}
	return a, nil
}

// checkEnvelope validates from ("" = null sender) and to, and returns to
// without duplicates.
func checkEnvelope(from string, to []string) ([]string, *Error) {
	if from != "" {
		if _, err := splitAddr(from); err != nil {
			return nil, invalidAddress(err)
		}
	}
	if len(to) == 0 {
		return nil, invalidAddress(errors.New("no recipients"))
	}
	seen := make(map[string]bool, len(to))
	out := make([]string, 0, len(to))
	for _, r := range to {
		if _, err := splitAddr(r); err != nil {
			return nil, invalidAddress(err)
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// toCRLF returns msg with every line end (CRLF, LF or a lone CR) as CRLF.
func toCRLF(msg []byte) []byte { return normaliseEOL(msg, "\r\n") }

// toLF returns msg with every line end (CRLF, LF or a lone CR) as LF.
func toLF(msg []byte) []byte { return normaliseEOL(msg, "\n") }

func normaliseEOL(msg []byte, eol string) []byte {
	var b bytes.Buffer
	b.Grow(len(msg) + len(msg)/32)
	appendEOL(&b, msg, eol)
	return b.Bytes()
}

// appendEOL appends msg to b with every line end as eol. It copies whole
// lines at a time, found with the vectorised IndexByte: byte by byte it was
// a tenth of a flush's CPU time.
func appendEOL(b *bytes.Buffer, msg []byte, eol string) {
	if bytes.IndexByte(msg, '\r') < 0 {
		// LF only, as the mails this program makes.
		if eol == "\n" {
			b.Write(msg)
			return
		}
		for len(msg) > 0 {
			i := bytes.IndexByte(msg, '\n')
			if i < 0 {
				b.Write(msg)
				return
			}
			b.Write(msg[:i])
			b.WriteString(eol)
			msg = msg[i+1:]
		}
		return
	}
	for len(msg) > 0 {
		i := bytes.IndexAny(msg, "\r\n")
		if i < 0 {
			b.Write(msg)
			return
		}
		b.Write(msg[:i])
		b.WriteString(eol)
		if msg[i] == '\r' && i+1 < len(msg) && msg[i+1] == '\n' {
			i++
		}
		msg = msg[i+1:]
	}
}
