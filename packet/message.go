package packet

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Message structure errors (§8). Test with errors.Is.
var (
	ErrMessage         = errors.New("packet: malformed message structure")
	ErrMessageTooLarge = errors.New("packet: message too large")
	ErrFieldTooLong    = errors.New("packet: message field longer than 80 bytes")
	ErrTooManyFields   = errors.New("packet: more than 255 message fields of a kind")
	ErrBadField        = errors.New("packet: message field contains NUL, CR or LF")
)

// MaxDecompressed bounds the user data a compressed message may expand to.
// The whole message is at most 255 chunks (2.6 MB) but deflate expands up
// to 1032:1, so without a bound one message could claim gigabytes.
const MaxDecompressed = 10 << 20

// gzipHeader is the fixed header 3.0.2d writes before the deflate stream
// (§8.4): method deflate, no flags, mtime 0, OS Unix.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}

// Message is the message structure of §8.2, the concatenation of all
// chunks' message bytes, with the user data interpreted as in §8.3.
type Message struct {
	Destinations []string // "null:", "post: groups", or mail addresses (§8.2)
	Headers      []string // "Name: value" lines: the header-line fields, then any "##" section lines (§8.3)
	Body         []byte   // user data after decompression / after the "##" section
}

// IsDummy reports whether the exit discards the message: 3.0.2d drops it as
// soon as any destination begins with "null:" (§8.2).
func (m *Message) IsDummy() bool {
	for _, d := range m.Destinations {
		if hasPrefixFold(d, "null:") {
			return true
		}
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Encode returns the message structure (§8.2). With compress the user data
// is compressed when the body is longer than MaxChunkData, as the reference
// client does for an exit that advertises C (§8.4) — but, unlike it, only
// when that makes the data smaller (random or already compressed data
// would grow by the gzip framing and could need one more chunk).
//
// A body that an exit would misread, because it begins with a "##" line
// (§8.3) or, uncompressed, with the gzip magic, is sent after an empty "##"
// section, which every exit removes again.
func (m *Message) Encode(compress bool) ([]byte, error) {
	size := 2 + AddressSize*(len(m.Destinations)+len(m.Headers))
	out := make([]byte, 0, size+len(m.Body)+4)
	var err error
	if out, err = appendFields(out, m.Destinations, "destination"); err != nil {
		return nil, err
	}
	if out, err = appendFields(out, m.Headers, "header-line"); err != nil {
		return nil, err
	}
	user := m.Body
	if hashSectionStart(user) {
		user = append([]byte("##\n\n"), user...)
	}
	if compress && len(m.Body) > MaxChunkData {
		if c := Compress(user); len(c) < len(user) {
			return append(out, c...), nil
		}
	}
	if isGzip(user) {
		user = append([]byte("##\n\n"), user...)
	}
	return append(out, user...), nil
}

func appendFields(out []byte, fields []string, kind string) ([]byte, error) {
	if len(fields) > 255 {
		return nil, fmt.Errorf("%w: %d %s fields", ErrTooManyFields, len(fields), kind)
	}
	out = append(out, byte(len(fields)))
	for _, f := range fields {
		if len(f) > AddressSize {
			return nil, fmt.Errorf("%w: %s field %q", ErrFieldTooLong, kind, f)
		}
		if strings.ContainsAny(f, "\x00\r\n") {
			return nil, fmt.Errorf("%w: %s field %q", ErrBadField, kind, f)
		}
		out = append(out, f...)
		out = append(out, make([]byte, AddressSize-len(f))...)
	}
	return out, nil
}

// ParseMessage interprets a reassembled message structure (§8.2, §8.3). The
// returned message does not share memory with data. Of a dummy only the
// destinations are read: the exit discards it, and 3.0.2d does not look at
// the rest either, so its contents must not cause errors.
func ParseMessage(data []byte) (*Message, error) {
	m := &Message{}
	var err error
	if m.Destinations, data, err = readFields(data, "destination"); err != nil {
		return nil, err
	}
	if m.IsDummy() {
		return m, nil
	}
	if m.Headers, data, err = readFields(data, "header-line"); err != nil {
		return nil, err
	}
	if isGzip(data) {
		if data, err = decompress(data); err != nil {
			return nil, err
		}
	}
	if hashSectionStart(data) {
		var lines []string
		lines, data = hashSection(data)
		m.Headers = append(m.Headers, lines...)
	}
	m.Body = bytes.Clone(data)
	return m, nil
}

func readFields(data []byte, kind string) ([]string, []byte, error) {
	if len(data) < 1 {
		return nil, nil, fmt.Errorf("%w: no %s count", ErrMessage, kind)
	}
	n := int(data[0])
	data = data[1:]
	if len(data) < n*AddressSize {
		return nil, nil, fmt.Errorf("%w: %d %s fields announced, %d bytes left", ErrMessage, n, kind, len(data))
	}
	fields := make([]string, n)
	for i := range fields {
		f := data[:AddressSize]
		if j := bytes.IndexAny(f, "\x00\r\n"); j >= 0 {
			f = f[:j]
		}
		fields[i] = string(f)
		data = data[AddressSize:]
	}
	return fields, data, nil
}

// isGzip is 3.0.2d's test for compressed user data (§8.3).
func isGzip(b []byte) bool {
	return len(b) >= 10 && b[0] == 0x1f && b[1] == 0x8b
}

// hashSectionStart reports whether b's first line is "##", optionally
// followed by white space (§8.3).
func hashSectionStart(b []byte) bool {
	line, _ := nextLine(b)
	return isMarkLine(line, "##")
}

// hashSection returns the header lines of a "##" section and the body
// after the blank line that ends it.
func hashSection(b []byte) ([]string, []byte) {
	_, b = nextLine(b)
	var lines []string
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			break
		}
		lines = append(lines, string(line))
	}
	return lines, b
}

// Compress returns data in 3.0.2d's compressed form (§8.4): the fixed
// 10-byte gzip header and a raw deflate stream, without the CRC32/ISIZE
// trailer, which 3.0.2d does not write.
func Compress(data []byte) []byte {
	var b bytes.Buffer
	b.Write(gzipHeader)
	w, _ := flate.NewWriter(&b, 6) // zlib's default level; cannot fail for 6
	w.Write(data)                  // bytes.Buffer does not fail
	w.Close()
	return b.Bytes()
}

// gzip header flags (RFC 1952).
const (
	gzipFHCRC    = 1 << 1
	gzipFEXTRA   = 1 << 2
	gzipFNAME    = 1 << 3
	gzipFCOMMENT = 1 << 4
	gzipReserved = 0xe0
)

// decompress inflates gzip-framed user data the way 3.0.2d accepts it: the
// trailer may be missing and bytes after the deflate stream are ignored.
// Unlike 3.0.2d it rejects a truncated or corrupt stream instead of
// delivering what came out of it.
func decompress(b []byte) ([]byte, error) {
	if b[2] != 8 {
		return nil, fmt.Errorf("%w: gzip method %d is not deflate", ErrMessage, b[2])
	}
	flags := b[3]
	if flags&gzipReserved != 0 {
		return nil, fmt.Errorf("%w: reserved gzip flags %#x", ErrMessage, flags)
	}
	rest := b[10:]
	truncated := fmt.Errorf("%w: truncated gzip header", ErrMessage)
	if flags&gzipFEXTRA != 0 {
		if len(rest) < 2 {
			return nil, truncated
		}
		// RFC 1952 order (little-endian); 3.0.2d reads it big-endian, but
		// no 3.0.2d client sets FEXTRA.
		n := int(binary.LittleEndian.Uint16(rest))
		if len(rest) < 2+n {
			return nil, truncated
		}
		rest = rest[2+n:]
	}
	for _, f := range []byte{gzipFNAME, gzipFCOMMENT} {
		if flags&f != 0 {
			i := bytes.IndexByte(rest, 0)
			if i < 0 {
				return nil, truncated
			}
			rest = rest[i+1:]
		}
	}
	if flags&gzipFHCRC != 0 {
		if len(rest) < 2 {
			return nil, truncated
		}
		rest = rest[2:]
	}
	r := flate.NewReader(bytes.NewReader(rest))
	out, err := io.ReadAll(io.LimitReader(r, MaxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("%w: compressed user data: %v", ErrMessage, err)
	}
	if len(out) > MaxDecompressed {
		return nil, fmt.Errorf("%w: user data expands to more than %d bytes", ErrMessageTooLarge, MaxDecompressed)
	}
	return out, nil
}

// SplitChunks cuts a message structure into the chunks of §8.5:
// ⌊len/10236⌋+1 of them, so the last one is empty when the length is an
// exact multiple of MaxChunkData, as 3.0.2d sends it. The chunks are
// sub-slices of msg.
func SplitChunks(msg []byte) ([][]byte, error) {
	n := len(msg)/MaxChunkData + 1
	if n > MaxChunks {
		return nil, fmt.Errorf("%w: %d bytes need %d chunks, at most %d allowed", ErrMessageTooLarge, len(msg), n, MaxChunks)
	}
	chunks := make([][]byte, n)
	for i := range chunks {
		lo := i * MaxChunkData
		hi := min(lo+MaxChunkData, len(msg))
		chunks[i] = msg[lo:hi:hi]
	}
	return chunks, nil
}

// JoinChunks concatenates the chunks of a message in order (§8.5).
func JoinChunks(chunks [][]byte) []byte {
	return bytes.Join(chunks, nil)
}

// EncodePayload returns the payload area plaintext of one packet (§8.1):
// the chunk's length, the chunk and exactly 10236-len(chunk) random bytes
// read from rnd.
func EncodePayload(rnd io.Reader, chunk []byte) ([]byte, error) {
	if len(chunk) > MaxChunkData {
		return nil, fmt.Errorf("%w: chunk of %d bytes", ErrPayloadLength, len(chunk))
	}
	area := make([]byte, PayloadSize)
	binary.LittleEndian.PutUint32(area, uint32(len(chunk)))
	n := copy(area[4:], chunk)
	if _, err := io.ReadFull(rnd, area[4+n:]); err != nil {
		return nil, fmt.Errorf("packet: payload padding: %w", err)
	}
	return area, nil
}

// DecodePayload returns the message bytes of a decrypted payload area
// (§8.1), a sub-slice of area. 3.0.2d accepts a length up to 10240 although
// only 10236 bytes follow it (§18.8); such a length is rejected here.
func DecodePayload(area []byte) ([]byte, error) {
	if len(area) != PayloadSize {
		return nil, fmt.Errorf("%w: payload area of %d bytes, want %d", ErrLength, len(area), PayloadSize)
	}
	n := binary.LittleEndian.Uint32(area)
	if n > MaxChunkData {
		return nil, fmt.Errorf("%w: %d", ErrPayloadLength, n)
	}
	return area[4 : 4+n : 4+n], nil
}
