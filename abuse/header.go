// Package abuse holds the pure parts of a remailer's services for mail that
// is not a packet (spec §16): classifying it (remailer-* requests, abuse
// complaints, destination-block requests and their confirmations,
// bounces), the addresses replies may go to, reply texts, rate limits, the
// once-per-period autoresponder and Maildir delivery. Nothing here knows
// about packets or the pool; package mix wires it into the node.
//
// Everything in this package reads untrusted mail: parsers are bounded and
// never panic on any input (see the fuzz targets).
package abuse

import (
	"bytes"
	"strings"
)

// Bounds on what is read of a mail: enough for any real header, small
// enough that a hostile one costs nothing.
const (
	maxHeaderBytes = 64 << 10
	maxFields      = 500
	maxBodyScan    = 64 << 10 // body bytes searched for tokens and block lines
)

// Field is one header field, its continuation lines joined.
type Field struct {
	Name  string // as written
	Value string // unfolded, surrounding blanks removed
}

// Header is a mail's header section in order.
type Header []Field

// Get returns the first value of the named field (case-insensitive), or "".
func (h Header) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Has reports whether the named field is present.
func (h Header) Has(name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// All returns every value of the named field.
func (h Header) All(name string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value)
		}
	}
	return out
}

// SplitMessage parses the header section of raw (LF or CRLF line ends) and
// returns it with the body. A leading mbox "From " line is skipped. The
// header ends at the first empty line, or at the first line that is
// neither a field nor a continuation (that line starts the body). At most
// maxHeaderBytes and maxFields are read; the rest of an oversized header
// is ignored.
func SplitMessage(raw []byte) (Header, []byte) {
	var h Header
	rest := raw
	if bytes.HasPrefix(rest, []byte("From ")) {
		_, rest = cutLine(rest)
	}
	read := 0
	for len(rest) > 0 {
		line, next := cutLine(rest)
		if len(line) == 0 {
			return h, next
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(h) > 0 && read < maxHeaderBytes {
				f := &h[len(h)-1]
				f.Value = strings.TrimSpace(f.Value + " " + strings.TrimSpace(string(line)))
			}
			read += len(line)
			rest = next
			continue
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 || !fieldName(line[:i]) {
			return h, rest
		}
		if len(h) < maxFields && read < maxHeaderBytes {
			h = append(h, Field{Name: string(line[:i]), Value: strings.TrimSpace(string(line[i+1:]))})
		}
		read += len(line)
		rest = next
	}
	return h, nil
}

// cutLine returns the first line of b without its LF or CRLF, and the rest.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
	return bytes.TrimSuffix(b[:i], []byte("\r")), b[i+1:]
}

// fieldName reports whether b is an RFC 5322 field name (printable ASCII,
// no blanks or colon).
func fieldName(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// lines splits text into lines without their ends, at most max of them.
func lines(b []byte, max int) []string {
	var out []string
	for len(b) > 0 && len(out) < max {
		var l []byte
		l, b = cutLine(b)
		out = append(out, string(l))
	}
	return out
}
