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
	"bufio"
	"bytes"
	"io"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // RFC 2047 words in any common charset
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Bounds on what is read of a mail: enough for any real header, small
// enough that a hostile one costs nothing.
const (
	maxHeaderBytes = 64 << 10
	maxFields      = 500
	maxBodyScan    = 64 << 10 // body bytes searched for tokens and block lines
)

// Field is one header field of an answer.
type Field struct {
	Name, Value string
}

// Header is a mail's header section, read by go-message: values are
// unfolded, names found case-insensitively (Get, Has, Values), and
// Subject() decodes RFC 2047 words.
type Header struct {
	mail.Header
}

// headerEnd is how the reading of a header section ended.
type headerEnd int

const (
	endBlank     headerEnd = iota // at the empty line; the body follows it
	endEOF                        // the input ended inside the header
	endMalformed                  // at a line that is neither a field nor a continuation: it starts the body
	endCut                        // at maxHeaderBytes or maxFields
)

// readHeader reads the header section at the start of b with go-message,
// at most maxHeaderBytes and maxFields of it, and returns it with the
// offset of what follows it: the body, the malformed line, or the first
// byte past a limit. A field a limit cut is dropped.
func readHeader(b []byte) (textproto.Header, int, headerEnd) {
	limit := fieldsEnd(b[:min(len(b), maxHeaderBytes)], maxFields)
	src := bytes.NewReader(b)
	br := bufio.NewReader(&io.LimitedReader{R: src, N: int64(limit)})
	h, err := textproto.ReadHeader(br)
	// What ReadHeader took: everything read from src but not left in br.
	pos := len(b) - src.Len() - br.Buffered()
	blank := blankLineBefore(b[:pos])
	switch {
	case pos == limit && limit < len(b) && !blank:
		if complete := b[pos-1] == '\n' && b[pos] != ' ' && b[pos] != '\t'; err == nil && !complete && h.Len() > 0 {
			h = firstFields(h, h.Len()-1)
		}
		return h, pos, endCut
	case err != nil && h.Len() == 0:
		return h, 0, endMalformed
	case err != nil:
		// ReadHeader consumed the bad line and its continuation lines.
		return h, lastLineStart(b[:pos]), endMalformed
	case blank:
		return h, pos, endBlank
	}
	return h, pos, endEOF
}

// fieldsEnd is where line n+1 that starts a field begins in b, or len(b).
// go-message has no bound on the number of fields, each of which costs
// about 400 bytes and 1.5 µs: this keeps 64 KiB of "a:" lines cheap.
func fieldsEnd(b []byte, n int) int {
	for off := 0; off < len(b); {
		if b[off] == '\n' || b[off] == '\r' && off+1 < len(b) && b[off+1] == '\n' {
			return len(b) // the empty line: the header ends before n
		}
		if b[off] != ' ' && b[off] != '\t' {
			if n == 0 {
				return off
			}
			n--
		}
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	return len(b)
}

// blankLineBefore reports whether b ends with an empty line.
func blankLineBefore(b []byte) bool {
	return string(b) == "\n" || string(b) == "\r\n" || bytes.HasSuffix(b, []byte("\n\n")) || bytes.HasSuffix(b, []byte("\n\r\n"))
}

// lastLineStart is the offset of the last line of b that does not start
// with a blank (is no continuation line): where the last field began.
func lastLineStart(b []byte) int {
	start := 0
	for off := 0; off < len(b); {
		if b[off] != ' ' && b[off] != '\t' {
			start = off
		}
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	return start
}

// firstFields returns the first n fields of h.
func firstFields(h textproto.Header, n int) textproto.Header {
	raws := make([][]byte, 0, n)
	for fs := h.Fields(); len(raws) < n && fs.Next(); {
		if r, err := fs.Raw(); err == nil {
			raws = append(raws, r)
		}
	}
	var out textproto.Header
	for i := len(raws) - 1; i >= 0; i-- { // AddRaw puts a field on top
		out.AddRaw(raws[i])
	}
	return out
}

// SplitMessage parses the header section of raw (LF or CRLF line ends) and
// returns it with the body. A leading mbox "From " line is skipped. The
// header ends at the first empty line, or at the first line that is
// neither a field nor a continuation (that line starts the body). At most
// maxHeaderBytes and maxFields are read: the rest of an oversized header
// is skipped up to its empty line.
func SplitMessage(raw []byte) (Header, []byte) {
	start := 0
	if bytes.HasPrefix(raw, []byte("From ")) {
		start = len(raw)
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			start = i + 1
		}
	}
	th, n, end := readHeader(raw[start:])
	n += start
	var body []byte
	switch end {
	case endBlank, endMalformed:
		body = raw[n:]
	case endCut:
		body = afterBlankLine(raw[n-1:])
	}
	return Header{mail.Header{Header: message.Header{Header: th}}}, body
}

// afterBlankLine returns what follows the first empty line of b (which
// starts at a line end), or nil.
func afterBlankLine(b []byte) []byte {
	lf, crlf := bytes.Index(b, []byte("\n\n")), bytes.Index(b, []byte("\n\r\n"))
	switch {
	case lf >= 0 && (crlf < 0 || lf < crlf):
		return b[lf+2:]
	case crlf >= 0:
		return b[crlf+3:]
	}
	return nil
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

// cutLine returns the first line of b without its LF or CRLF, and the rest.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
	return bytes.TrimSuffix(b[:i], []byte("\r")), b[i+1:]
}
