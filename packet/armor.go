package packet

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"slices"
	"strconv"
	"strings"
)

// Armour errors (§9). Test with errors.Is.
var (
	// ErrNotPacket: the mail has no "Remailer-Type: Mixmaster" header, neither
	// a real one nor in a "::" block; it is some other kind of mail.
	ErrNotPacket = errors.New("packet: not a Mixmaster packet mail")
	// ErrArmor: the mail says it carries a packet but the armour is
	// malformatted; the wrapping error gives the reason.
	ErrArmor = errors.New("packet: malformatted armour")
)

const (
	armorBegin = "-----BEGIN REMAILER MESSAGE-----"
	armorEnd   = "-----END REMAILER MESSAGE-----"
	armorLine  = 40 // base64 characters per line (§9.1)
)

// Envelope holds the header lines of a packet mail (§9.1).
type Envelope struct {
	From, To   string
	Precedence string // optional; the header is written only when non-empty
}

// ArmorBody returns the body of a packet mail exactly as 3.0.2d writes it
// (§9.1), beginning with the "::" line. pkt should be PacketSize bytes; the
// count line carries len(pkt), so a wrong length is visible to the receiver,
// which rejects it.
func ArmorBody(version string, pkt []byte) []byte {
	sum := md5.Sum(pkt)
	enc := base64.StdEncoding
	data := make([]byte, enc.EncodedLen(len(pkt)))
	enc.Encode(data, pkt)

	var b bytes.Buffer
	b.Grow(len(data) + len(data)/armorLine + 200)
	b.WriteString("::\nRemailer-Type: Mixmaster ")
	b.WriteString(oneLine(version))
	b.WriteString("\n\n" + armorBegin + "\n")
	b.WriteString(strconv.Itoa(len(pkt)))
	b.WriteByte('\n')
	b.WriteString(enc.EncodeToString(sum[:]))
	b.WriteByte('\n')
	for len(data) > 0 {
		n := min(armorLine, len(data))
		b.Write(data[:n])
		b.WriteByte('\n')
		data = data[n:]
	}
	b.WriteString(armorEnd + "\n")
	return b.Bytes()
}

// ArmorMail returns a whole packet mail: From, To, optional Precedence, a
// blank line and ArmorBody. The values are cut at the first CR or LF because
// the To address comes out of a decrypted packet: a line break in it must
// not turn into extra headers.
func ArmorMail(env Envelope, version string, pkt []byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: " + oneLine(env.From) + "\n")
	b.WriteString("To: " + oneLine(env.To) + "\n")
	if env.Precedence != "" {
		b.WriteString("Precedence: " + oneLine(env.Precedence) + "\n")
	}
	b.WriteByte('\n')
	b.Write(ArmorBody(version, pkt))
	return b.Bytes()
}

// oneLine cuts s at its first line break.
func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// Dearmor returns every armoured packet of a mail, in order (§9.2). It
// accepts what a 3.0.2d remailer accepts: Remailer-Type as a real header or
// in "::" blocks after the header, a quoted-printable body, LF or CRLF line
// ends, and the tolerances of old encoders.
//
// A mail without a Mixmaster Remailer-Type gives ErrNotPacket. When an
// armour is malformatted Dearmor still returns the packets it could decode,
// together with an error wrapping ErrArmor that describes the first bad one,
// so that the caller can process the good ones as 3.0.2d does.
func Dearmor(mail []byte) ([][]byte, error) {
	var s headerScan
	body := s.block(mail) // the real header
	s.hashBlocks(body)
	if !s.mixmaster {
		return nil, ErrNotPacket
	}
	if s.quotedPrintable {
		dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return nil, fmt.Errorf("%w: quoted-printable body: %v", ErrArmor, err)
		}
		body = dec
	}

	var (
		pkts  [][]byte
		first error
		n     int
	)
	for {
		i := findLine(body, armorBegin)
		if i < 0 {
			break
		}
		n++
		pkt, rest, err := dearmorOne(body[i:])
		body = rest
		if err != nil {
			if first == nil {
				first = fmt.Errorf("%w: armour %d: %s", ErrArmor, n, err)
			}
			continue
		}
		pkts = append(pkts, pkt)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no %s line", ErrArmor, armorBegin)
	}
	return pkts, first
}

// dearmorOne decodes the armour that starts at the BEGIN line of s. It
// returns the input after the part it consumed, so that a damaged armour
// does not stop the search for the next one.
func dearmorOne(s []byte) (pkt, rest []byte, err error) {
	_, s = nextLine(s) // BEGIN
	// Lines up to the first one of 24 characters (the MD5) are skipped: this
	// is the count line, which 3.0.2d does not check (§18.7).
	var sum []byte
	for len(s) > 0 {
		var line []byte
		line, s = nextLine(s)
		if len(line) == 24 {
			sum = line
			break
		}
	}
	if sum == nil {
		return nil, s, errors.New("no MD5 line")
	}
	data, used := decodeArmorBase64(s)
	end, s := nextLine(s[used:])
	if string(end) != armorEnd {
		return nil, s, errors.New("base64 not followed by the END line")
	}
	if len(data) != PacketSize {
		return nil, s, fmt.Errorf("decoded %d bytes, want %d", len(data), PacketSize)
	}
	want, err := base64.StdEncoding.DecodeString(string(sum))
	got := md5.Sum(data)
	if err != nil || !bytes.Equal(want, got[:]) {
		return nil, s, errors.New("MD5 line does not match the packet")
	}
	return data, s, nil
}

// b64val maps a base64 character to its value; 0xff marks anything else.
var b64val = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = byte(i)
	}
	return t
}()

// decodeArmorBase64 decodes base64 in groups of four characters the way
// 3.0.2d's decode() does, and returns the decoded bytes and how many input
// bytes it used: it stops at the first group it cannot read (normally the
// END line). Between groups it skips LF and CRLF, reads "=46" as "F" (a
// quoted-printable artefact of old encoders; like 3.0.2d it looks for it at
// every group start, which includes line starts) and accepts padded groups
// in mid-stream (concatenated encodings). After a mid-stream "xx==" group
// 3.0.2d keeps a stray zero byte and drops the last one; this decodes such
// input correctly instead.
func decodeArmorBase64(s []byte) ([]byte, int) { return decodeArmorBase64Lines(s, true) }

// decodeArmorBase64Lines is decodeArmorBase64; with wholeLines false it
// decodes group by group only (the reference its tests compare with).
func decodeArmorBase64Lines(s []byte, wholeLines bool) ([]byte, int) {
	// No capacity from len(s): s runs to the end of the mail, so sizing by
	// it would make a mail of many armours cost quadratic allocation.
	var out []byte
	patched := -1 // index of an "=46" whose '6' is read as 'F'
	at := func(i int) byte {
		switch {
		case i == patched:
			return 'F'
		case i < len(s):
			return s[i]
		}
		return 0 // not base64: acts as the end
	}
	a := 0
	for a+3 < len(s) {
		if patched < a {
			// The common case: the rest of the line is plain base64, which
			// encoding/base64 decodes (the same bytes, 3× faster).
			if nl := bytes.IndexByte(s[a:], '\n'); wholeLines && nl >= 4 {
				line := s[a : a+nl]
				if line[len(line)-1] == '\r' {
					line = line[:len(line)-1]
				}
				// encoding/base64 would skip a stray CR; 3.0.2d stops there.
				if len(line)%4 == 0 && bytes.IndexByte(line, '\r') < 0 {
					n := len(out)
					out = slices.Grow(out, len(line)/4*3)
					k, err := base64.StdEncoding.Decode(out[n:n+len(line)/4*3], line)
					if err == nil {
						out = out[:n+k]
						// The line end is passed over as the group loop
						// would: only with more than three bytes left.
						if p := a + len(line); p+3 < len(s) {
							a += nl + 1
						} else {
							a = p
						}
						continue
					}
				}
			}
			c0, c1, c2, c3 := b64val[s[a]], b64val[s[a+1]], b64val[s[a+2]], b64val[s[a+3]]
			if c0|c1|c2|c3 < 0x80 {
				out = append(out, c0<<2|c1>>4, c1<<4|c2>>2, c2<<6|c3)
				a += 4
				continue
			}
		}
		c0, c1, c2, c3 := b64val[at(a)], b64val[at(a+1)], b64val[at(a+2)], b64val[at(a+3)]
		if c0|c1|c2|c3 < 0x80 {
			out = append(out, c0<<2|c1>>4, c1<<4|c2>>2, c2<<6|c3)
			a += 4
			continue
		}
		switch {
		case at(a) == '\n':
			a++
		case at(a) == '\r' && at(a+1) == '\n':
			a += 2
		case at(a) == '=' && at(a+1) == '4' && at(a+2) == '6' && b64val[at(a+5)] < 0x80:
			a += 2
			patched = a
		case at(a+2) == '=' || at(a+3) == '=':
			if c0|c1 >= 0x80 {
				return out, a
			}
			if at(a+2) == '=' {
				out = append(out, c0<<2|c1>>4)
			} else if c2 < 0x80 {
				out = append(out, c0<<2|c1>>4, c1<<4|c2>>2)
			} else {
				return out, a
			}
			a += 4
		default:
			return out, a
		}
	}
	return out, a
}

// nextLine splits s after its first line; the line is returned without
// its LF or CRLF.
func nextLine(s []byte) (line, rest []byte) {
	i := bytes.IndexByte(s, '\n')
	if i < 0 {
		line, rest = s, s[len(s):]
	} else {
		line, rest = s[:i], s[i+1:]
	}
	return bytes.TrimSuffix(line, []byte{'\r'}), rest
}

// findLine returns the offset of the first line of s equal to want, or -1.
func findLine(s []byte, want string) int {
	for off := 0; off < len(s); {
		line, rest := nextLine(s[off:])
		if string(line) == want {
			return off
		}
		off = len(s) - len(rest)
	}
	return -1
}

// headerScan collects the two header fields Dearmor needs.
type headerScan struct {
	mixmaster       bool // Remailer-Type: Mixmaster...
	quotedPrintable bool // Content-Transfer-Encoding: quoted-printable
}

// hashBlocks scans the "::" blocks at the start of body: blank lines are
// skipped and each "::" line starts a block of header lines that ends at
// the next blank line (§9.2).
func (h *headerScan) hashBlocks(body []byte) {
	for {
		var line []byte
		for len(body) > 0 {
			var rest []byte
			line, rest = nextLine(body)
			if len(line) > 0 {
				break
			}
			body = rest
		}
		if len(body) == 0 || !isMarkLine(line, "::") {
			return
		}
		_, body = nextLine(body)
		body = h.block(body)
	}
}

// block scans header lines up to a blank line and returns what follows it.
// Folded lines continue the previous field; lines that are not fields are
// ignored, as 3.0.2d does.
func (h *headerScan) block(s []byte) []byte {
	var name string
	var value strings.Builder
	flush := func() {
		v := strings.TrimSpace(value.String())
		switch {
		case strings.EqualFold(name, "Remailer-Type"):
			if len(v) >= 9 && strings.EqualFold(v[:9], "mixmaster") {
				h.mixmaster = true
			}
		case strings.EqualFold(name, "Content-Transfer-Encoding"):
			if strings.EqualFold(v, "quoted-printable") {
				h.quotedPrintable = true
			}
		}
		name = ""
		value.Reset()
	}
	for len(s) > 0 {
		var line []byte
		line, s = nextLine(s)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" {
				value.Write(line)
			}
			continue
		}
		flush()
		i := bytes.IndexAny(line, ": \t")
		if i < 0 || line[i] != ':' {
			continue
		}
		if name = string(line[:i]); fieldOfInterest(name) {
			value.Write(line[i+1:])
		} else {
			name = "" // keeps folded lines of other fields out of value
		}
	}
	flush()
	return s
}

func fieldOfInterest(name string) bool {
	return strings.EqualFold(name, "Remailer-Type") || strings.EqualFold(name, "Content-Transfer-Encoding")
}

// isMarkLine reports whether line is mark followed only by white space,
// like 3.0.2d's isline().
func isMarkLine(line []byte, mark string) bool {
	rest, ok := bytes.CutPrefix(line, []byte(mark))
	return ok && len(bytes.TrimLeft(rest, " \t\r\n\v\f")) == 0
}
