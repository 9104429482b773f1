package packet

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// clientMessage is what a vector's client trace says about the message.
type clientMessage struct {
	dir     string
	payload []byte   // enc.payload: the whole message structure
	areas   [][]byte // enc.chunk_plain_body of each chunk
}

func clientMessages(t testing.TB) []clientMessage {
	t.Helper()
	var out []clientMessage
	for _, dir := range vectorDirs(t) {
		path := filepath.Join(dir, "00-client.trace.txt")
		if !fileExists(path) {
			continue
		}
		secs := readTrace(t, path)
		cm := clientMessage{dir: filepath.Base(dir), payload: secs[0].bytes(t, "enc.payload")}
		for _, s := range secs {
			if strings.HasPrefix(s.title, "client: chunk ") {
				cm.areas = append(cm.areas, s.bytes(t, "enc.chunk_plain_body"))
			}
		}
		out = append(out, cm)
	}
	if len(out) < 25 {
		t.Fatalf("only %d client traces", len(out))
	}
	return out
}

// expectedMessage derives the message from the vector's input-message.txt
// the way §8.2 says the reference client does.
func expectedMessage(t *testing.T, dir string) *Message {
	path := filepath.Join(vectorDir, "vectors", dir, "input-message.txt")
	if strings.HasPrefix(dir, "e-dummy-") {
		if fileExists(path) {
			t.Fatalf("%s: dummy with an input message", dir)
		}
		return &Message{Destinations: []string{"null:"}}
	}
	head, body, ok := bytes.Cut(readFile(t, path), []byte("\n\n"))
	if !ok {
		t.Fatalf("%s: no blank line", path)
	}
	post := dir == "d-news-post-alpha" // sent with -p
	m := &Message{Body: body}
	for _, line := range strings.Split(string(head), "\n") {
		name, value, _ := strings.Cut(line, ": ")
		switch {
		case name == "To":
			m.Destinations = append(m.Destinations, value)
		case name == "Newsgroups" && post:
			m.Destinations = append(m.Destinations, "post: "+value)
		default:
			m.Headers = append(m.Headers, line)
		}
	}
	return m
}

func sameMessage(a, b *Message) bool {
	return slices.Equal(a.Destinations, b.Destinations) && slices.Equal(a.Headers, b.Headers) &&
		bytes.Equal(a.Body, b.Body)
}

// TestMessageVectors parses the message structure each real client built
// and rebuilds it byte for byte when it was not compressed.
func TestMessageVectors(t *testing.T) {
	compressed := 0
	for _, cm := range clientMessages(t) {
		t.Run(cm.dir, func(t *testing.T) {
			want := expectedMessage(t, cm.dir)
			got, err := ParseMessage(cm.payload)
			if err != nil {
				t.Fatal(err)
			}
			if !sameMessage(got, want) {
				t.Fatalf("parsed %q %q (%d bytes body), want %q %q (%d bytes)",
					got.Destinations, got.Headers, len(got.Body), want.Destinations, want.Headers, len(want.Body))
			}
			if got.IsDummy() != strings.HasPrefix(cm.dir, "e-dummy-") {
				t.Errorf("IsDummy = %v", got.IsDummy())
			}
			// The user data follows the fields; the client compressed it
			// exactly when the body is longer than one chunk's data (§8.4).
			user := cm.payload[2+AddressSize*(len(want.Destinations)+len(want.Headers)):]
			if isGzip(user) != (len(want.Body) > MaxChunkData) {
				t.Fatalf("user data compressed: %v, body %d bytes", isGzip(user), len(want.Body))
			}
			if isGzip(user) {
				compressed++
				if !bytes.Equal(user[:10], gzipHeader) {
					t.Errorf("gzip header % x", user[:10])
				}
			} else {
				for _, c := range []bool{false, true} {
					enc, err := got.Encode(c)
					if err != nil || !bytes.Equal(enc, cm.payload) {
						t.Errorf("Encode(%v) differs from enc.payload (error %v)", c, err)
					}
				}
			}
			// Our own compression gives the same message back.
			enc, err := want.Encode(true)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := ParseMessage(enc); err != nil || !sameMessage(again, want) {
				t.Errorf("Encode(true) does not parse back: %v", err)
			}
		})
	}
	if compressed != 3 {
		t.Errorf("%d compressed vectors, want 3", compressed)
	}
}

// TestPayloadVectors checks the chunks' payload areas against the trace:
// DecodePayload gives each chunk, the chunks join to the message, and
// EncodePayload with the trace's padding rebuilds each area exactly.
func TestPayloadVectors(t *testing.T) {
	multi := map[string]int{}
	for _, cm := range clientMessages(t) {
		chunks, err := SplitChunks(cm.payload)
		if err != nil {
			t.Fatalf("%s: %v", cm.dir, err)
		}
		if len(chunks) != len(cm.areas) {
			t.Fatalf("%s: %d chunks, the client made %d", cm.dir, len(chunks), len(cm.areas))
		}
		var got [][]byte
		for i, area := range cm.areas {
			c, err := DecodePayload(area)
			if err != nil {
				t.Fatalf("%s chunk %d: %v", cm.dir, i+1, err)
			}
			if !bytes.Equal(c, chunks[i]) {
				t.Errorf("%s chunk %d: DecodePayload differs from SplitChunks", cm.dir, i+1)
			}
			pad := area[4+len(c):]
			again, err := EncodePayload(bytes.NewReader(pad), c)
			if err != nil || !bytes.Equal(again, area) {
				t.Errorf("%s chunk %d: EncodePayload does not rebuild the area (%v)", cm.dir, i+1, err)
			}
			got = append(got, c)
		}
		if !bytes.Equal(JoinChunks(got), cm.payload) {
			t.Errorf("%s: joined chunks differ from enc.payload", cm.dir)
		}
		if len(got) > 1 {
			multi[cm.dir] = len(got[len(got)-1])
		}
	}
	if l, ok := multi["c-exact-boundary-alpha"]; !ok || l != 0 {
		t.Errorf("c-exact-boundary-alpha: last chunk %d bytes (present %v), want an empty one", l, ok)
	}
	if len(multi) != 3 {
		t.Errorf("multi-chunk vectors %v, want 3", multi)
	}
}

// countingReader yields zero bytes and counts how many were read.
type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	clear(p)
	r.n += len(p)
	return len(p), nil
}

// roundTrip sends m through Encode, SplitChunks, EncodePayload,
// DecodePayload, JoinChunks and ParseMessage and returns the chunk count.
func roundTrip(t *testing.T, m *Message, compress bool) int {
	t.Helper()
	enc, err := m.Encode(compress)
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := SplitChunks(enc)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for _, c := range chunks {
		var rnd countingReader
		area, err := EncodePayload(&rnd, c)
		if err != nil {
			t.Fatal(err)
		}
		if rnd.n != MaxChunkData-len(c) {
			t.Fatalf("EncodePayload read %d random bytes for a %d-byte chunk", rnd.n, len(c))
		}
		d, err := DecodePayload(area)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	back, err := ParseMessage(JoinChunks(got))
	if err != nil {
		t.Fatal(err)
	}
	if !sameMessage(back, m) {
		t.Fatalf("round trip changed the message: %q %q %d bytes", back.Destinations, back.Headers, len(back.Body))
	}
	return len(chunks)
}

func TestMessageRoundTrip(t *testing.T) {
	dest := []string{"rcpt@example.test"}
	hdrs := []string{"Subject: test"}
	fixed := 2 + 2*AddressSize // structure without the body
	body := func(n int) []byte { return testPacket(n, byte(n)) }
	cases := []struct {
		name   string
		body   int
		chunks int
	}{
		{"empty body", 0, 1},
		{"one byte", 1, 1},
		{"one chunk, full", MaxChunkData - fixed - 1, 1},
		{"exact boundary", MaxChunkData - fixed, 2},
		{"one byte more", MaxChunkData - fixed + 1, 2},
		{"three chunks", 3*MaxChunkData - fixed - 1, 3},
		{"255 chunks", MaxChunks*MaxChunkData - fixed - 1, 255},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{Destinations: dest, Headers: hdrs, Body: body(c.body)}
			if n := roundTrip(t, m, false); n != c.chunks {
				t.Errorf("%d chunks, want %d", n, c.chunks)
			}
		})
	}

	m := &Message{Destinations: dest, Headers: hdrs, Body: body(MaxChunks*MaxChunkData - fixed)}
	enc, err := m.Encode(false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SplitChunks(enc); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("256 chunks: error %v, want ErrMessageTooLarge", err)
	}
}

func TestMessageCompression(t *testing.T) {
	var text bytes.Buffer
	for i := 0; text.Len() < 300_000; i++ {
		fmt.Fprintf(&text, "Line %d of a long and quite compressible message.\n", i)
	}
	m := &Message{Destinations: []string{"a@b.test"}, Headers: []string{"Subject: big"}, Body: text.Bytes()}
	enc, err := m.Encode(true)
	if err != nil {
		t.Fatal(err)
	}
	user := enc[2+2*AddressSize:]
	if !bytes.HasPrefix(user, gzipHeader) || len(enc) > len(text.Bytes())/4 {
		t.Fatalf("not compressed: % x..., %d bytes", user[:10], len(enc))
	}
	if n := roundTrip(t, m, true); n != len(enc)/MaxChunkData+1 {
		t.Errorf("%d chunks", n)
	}
	if n, want := roundTrip(t, m, false), (len(text.Bytes())+2+2*AddressSize)/MaxChunkData+1; n != want {
		t.Errorf("uncompressed: %d chunks, want %d", n, want)
	}

	// Compression starts above one chunk's data, not at it.
	for _, n := range []int{MaxChunkData, MaxChunkData + 1} {
		m.Body = text.Bytes()[:n]
		enc, err := m.Encode(true)
		if err != nil {
			t.Fatal(err)
		}
		if got := isGzip(enc[2+2*AddressSize:]); got != (n > MaxChunkData) {
			t.Errorf("body of %d bytes: compressed %v", n, got)
		}
	}

	// Compress's output is the fixed header and a raw deflate stream that
	// ends without a trailer.
	c := Compress(text.Bytes())
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(c[10:])))
	if err != nil || !bytes.Equal(out, text.Bytes()) {
		t.Errorf("raw deflate after the header: %v", err)
	}
	if _, err := gzip.NewReader(bytes.NewReader(c)); err != nil {
		t.Errorf("header not gzip: %v", err)
	}
}

// withUserData builds a message structure with one destination, no
// header-line field and the given user data.
func withUserData(user []byte) []byte {
	return append([]byte{1, 'a', '@', 'b'}, append(make([]byte, AddressSize-3), append([]byte{0}, user...)...)...)
}

func TestParseCompressedForms(t *testing.T) {
	body := bytes.Repeat([]byte("compressible text "), 2000)
	var full bytes.Buffer // a standard gzip file: trailer, optional fields
	zw := gzip.NewWriter(&full)
	zw.Name, zw.Comment, zw.Extra = "name.txt", "a comment", []byte("extra field")
	zw.Write(body)
	zw.Close()
	if full.Bytes()[3] != gzipFEXTRA|gzipFNAME|gzipFCOMMENT {
		t.Fatalf("flags %#x", full.Bytes()[3])
	}
	// The same with a header CRC (compress/gzip does not write one).
	hcrc := insertHCRC(t, full.Bytes())

	plain := Compress(body)
	good := map[string][]byte{
		"3.0.2d form":        plain,
		"gzip file":          full.Bytes(),
		"header CRC":         hcrc,
		"trailing bytes":     append(slices.Clone(plain), "trailing junk after the stream"...),
		"empty body":         Compress(nil),
		"trailer and more":   append(slices.Clone(full.Bytes()), 0, 0, 0),
		"tiny deflate block": append(slices.Clone(gzipHeader), 0x03, 0x00),
	}
	for name, user := range good {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMessage(withUserData(user))
			if err != nil {
				t.Fatal(err)
			}
			want := body
			if name == "empty body" || name == "tiny deflate block" {
				want = nil
			}
			if !bytes.Equal(m.Body, want) {
				t.Errorf("body of %d bytes, want %d", len(m.Body), len(want))
			}
		})
	}

	bad := map[string][]byte{
		"truncated stream":   plain[:len(plain)/2],
		"corrupt stream":     append(slices.Clone(gzipHeader), 0xff, 0xff, 0xff, 0xff, 0xff),
		"not deflate":        append([]byte{0x1f, 0x8b, 7}, plain[3:]...),
		"reserved flag":      append([]byte{0x1f, 0x8b, 8, 0x20}, plain[4:]...),
		"truncated FEXTRA":   append([]byte{0x1f, 0x8b, 8, gzipFEXTRA, 0, 0, 0, 0, 0, 3}, 0xff, 0x00, 1, 2),
		"unterminated FNAME": append([]byte{0x1f, 0x8b, 8, gzipFNAME, 0, 0, 0, 0, 0, 3}, "name"...),
	}
	for name, user := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseMessage(withUserData(user)); !errors.Is(err, ErrMessage) {
				t.Errorf("error %v, want ErrMessage", err)
			}
		})
	}

	// A deflate bomb stops at MaxDecompressed.
	var bomb bytes.Buffer
	bomb.Write(gzipHeader)
	fw, _ := flate.NewWriter(&bomb, flate.BestCompression)
	fw.Write(make([]byte, MaxDecompressed+1))
	fw.Close()
	if _, err := ParseMessage(withUserData(bomb.Bytes())); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("bomb: error %v, want ErrMessageTooLarge", err)
	}
	exact := Compress(make([]byte, MaxDecompressed))
	if m, err := ParseMessage(withUserData(exact)); err != nil || len(m.Body) != MaxDecompressed {
		t.Errorf("MaxDecompressed bytes: error %v", err)
	}

	// Fewer than 10 bytes are not compressed data, whatever they start with.
	short := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0}
	if m, err := ParseMessage(withUserData(short)); err != nil || !bytes.Equal(m.Body, short) {
		t.Errorf("9 bytes: %v", err)
	}
}

// insertHCRC sets FHCRC in a gzip file made by compress/gzip and inserts a
// (not checked) header CRC after its optional fields.
func insertHCRC(t *testing.T, file []byte) []byte {
	t.Helper()
	// compress/gzip writes: 10 bytes, XLEN+extra, name NUL, comment NUL.
	p := 10
	p += 2 + int(binary.LittleEndian.Uint16(file[p:]))
	p += bytes.IndexByte(file[p:], 0) + 1
	p += bytes.IndexByte(file[p:], 0) + 1
	out := slices.Clone(file[:p])
	out[3] |= gzipFHCRC
	out = append(out, 0xab, 0xcd)
	return append(out, file[p:]...)
}

func TestParseHashSection(t *testing.T) {
	base := []string{"rcpt@example.test"}
	cases := []struct {
		name, user string
		headers    []string
		body       string
	}{
		{"LF", "##\nSubject: hi\nX-A: b\n\nbody\n", []string{"Subject: hi", "X-A: b"}, "body\n"},
		{"CRLF", "##\r\nSubject: hi\r\n\r\nbody\r\n", []string{"Subject: hi"}, "body\r\n"},
		{"white space after ##", "## \t\nSubject: hi\n\nbody", []string{"Subject: hi"}, "body"},
		{"no blank line", "##\nSubject: hi\n", []string{"Subject: hi"}, ""},
		{"empty section", "##\n\nbody", nil, "body"},
		{"only ##", "##", nil, ""},
		{"not a mark", "##x\nSubject: hi\n\nbody", nil, "##x\nSubject: hi\n\nbody"},
		{"not first line", "\n##\nSubject: hi\n\nbody", nil, "\n##\nSubject: hi\n\nbody"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := withUserData([]byte(c.user))
			data[1+AddressSize] = 1 // one header-line field
			data = slices.Insert(data, 2+AddressSize, append([]byte("Subject: field"), make([]byte, AddressSize-14)...)...)
			for _, compressed := range []bool{false, true} {
				if compressed {
					data = append(data[:2+2*AddressSize:2+2*AddressSize], Compress([]byte(c.user))...)
				}
				m, err := ParseMessage(data)
				if err != nil {
					t.Fatal(err)
				}
				want := &Message{Destinations: []string{"a@b"}, Headers: append([]string{"Subject: field"}, c.headers...), Body: []byte(c.body)}
				if !sameMessage(m, want) {
					t.Errorf("compressed %v: got %q %q %q", compressed, m.Destinations, m.Headers, m.Body)
				}
			}
			// A body that looks like a section is sent so that it arrives
			// unchanged.
			roundTrip(t, &Message{Destinations: base, Body: []byte(c.user)}, false)
			roundTrip(t, &Message{Destinations: base, Body: append([]byte(c.user), bytes.Repeat([]byte{'x'}, MaxChunkData)...)}, true)
		})
	}
	// So is a body that looks compressed.
	gz := Compress([]byte("inner"))
	roundTrip(t, &Message{Destinations: base, Body: gz}, false)
	roundTrip(t, &Message{Destinations: base, Body: append(gz, make([]byte, MaxChunkData)...)}, true)
	if enc, _ := (&Message{Body: []byte("plain")}).Encode(false); string(enc) != "\x00\x00plain" {
		t.Errorf("ordinary body changed: %q", enc)
	}
}

func TestMessageFields(t *testing.T) {
	dummy := &Message{Destinations: []string{"null:"}}
	enc, err := dummy.Encode(true)
	if err != nil || len(enc) != 82 || enc[0] != 1 || string(enc[1:6]) != "null:" || enc[81] != 0 {
		t.Errorf("dummy: %q %v", enc, err)
	}
	for _, d := range []string{"null:", "NULL:", "Null: x"} {
		m := &Message{Destinations: []string{"a@b.test", d}}
		if !m.IsDummy() {
			t.Errorf("%q is not a dummy", d)
		}
	}
	for _, d := range []string{"nul:", "post: null:", "", "xnull:"} {
		if (&Message{Destinations: []string{d}}).IsDummy() {
			t.Errorf("%q is a dummy", d)
		}
	}
	// The rest of a dummy is not interpreted: a broken one is no error.
	raw := withUserData(append(slices.Clone(gzipHeader), 0xff, 0xff))
	copy(raw[1:], "NULL:")
	for _, data := range [][]byte{raw, raw[:1+AddressSize]} {
		if m, err := ParseMessage(data); err != nil || !m.IsDummy() || len(m.Headers)+len(m.Body) != 0 {
			t.Errorf("dummy with broken rest (%d bytes): %v", len(data), err)
		}
	}

	// 80 bytes fill the field with no NUL; readers cut at NUL, CR or LF.
	long := strings.Repeat("x", AddressSize)
	m := &Message{Destinations: []string{long}, Headers: []string{"X-Long: " + long[8:]}, Body: []byte("b")}
	roundTrip(t, m, false)
	raw = withUserData(nil)
	copy(raw[1:], "a@b\rjunk")
	if m, err := ParseMessage(raw); err != nil || m.Destinations[0] != "a@b" {
		t.Errorf("field cut at CR: %q %v", m.Destinations, err)
	}

	errs := []struct {
		name string
		m    *Message
		err  error
	}{
		{"81-byte destination", &Message{Destinations: []string{long + "x"}}, ErrFieldTooLong},
		{"81-byte header", &Message{Headers: []string{long + "x"}}, ErrFieldTooLong},
		{"256 destinations", &Message{Destinations: make([]string, 256)}, ErrTooManyFields},
		{"256 headers", &Message{Headers: make([]string, 256)}, ErrTooManyFields},
		{"line break", &Message{Headers: []string{"Subject: a\nBcc: b"}}, ErrBadField},
		{"NUL", &Message{Destinations: []string{"a\x00b"}}, ErrBadField},
	}
	for _, c := range errs {
		if _, err := c.m.Encode(false); !errors.Is(err, c.err) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.err)
		}
	}
	if _, err := (&Message{Headers: make([]string, 255)}).Encode(false); err != nil {
		t.Errorf("255 fields: %v", err)
	}

	truncated := map[string][]byte{
		"empty":               {},
		"no header count":     withUserData(nil)[:1+AddressSize],
		"short destination":   withUserData(nil)[:AddressSize],
		"short header fields": {0, 2, 'a'},
	}
	for name, data := range truncated {
		if _, err := ParseMessage(data); !errors.Is(err, ErrMessage) {
			t.Errorf("%s: error %v, want ErrMessage", name, err)
		}
	}
}

func TestPayloadErrors(t *testing.T) {
	area := make([]byte, PayloadSize)
	for _, n := range []uint32{0, 1, MaxChunkData} {
		binary.LittleEndian.PutUint32(area, n)
		if c, err := DecodePayload(area); err != nil || len(c) != int(n) {
			t.Errorf("L=%d: %d bytes, %v", n, len(c), err)
		}
	}
	for _, n := range []uint32{MaxChunkData + 1, PayloadSize, 1 << 31, 1<<32 - 1} {
		binary.LittleEndian.PutUint32(area, n)
		if _, err := DecodePayload(area); !errors.Is(err, ErrPayloadLength) {
			t.Errorf("L=%d: error %v, want ErrPayloadLength", n, err)
		}
	}
	for _, size := range []int{0, 3, PayloadSize - 1, PayloadSize + 1} {
		if _, err := DecodePayload(make([]byte, size)); !errors.Is(err, ErrLength) {
			t.Errorf("area of %d bytes: error %v, want ErrLength", size, err)
		}
	}
	// The returned chunk cannot overwrite the padding by append.
	binary.LittleEndian.PutUint32(area, 1)
	c, _ := DecodePayload(area)
	if cap(c) != 1 {
		t.Errorf("chunk capacity %d", cap(c))
	}

	if _, err := EncodePayload(&countingReader{}, make([]byte, MaxChunkData+1)); !errors.Is(err, ErrPayloadLength) {
		t.Errorf("long chunk: error %v", err)
	}
	if _, err := EncodePayload(bytes.NewReader(make([]byte, 10)), []byte("abc")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short randomness: error %v", err)
	}
	var rnd countingReader
	if a, err := EncodePayload(&rnd, make([]byte, MaxChunkData)); err != nil || len(a) != PayloadSize || rnd.n != 0 {
		t.Errorf("full chunk: %d bytes, %d random, %v", len(a), rnd.n, err)
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, cm := range clientMessages(f) {
		f.Add(cm.payload)
	}
	f.Add(withUserData([]byte("##\nSubject: x\n\nbody")))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(data)
		if err != nil {
			if !errors.Is(err, ErrMessage) && !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("error %v is neither ErrMessage nor ErrMessageTooLarge", err)
			}
			return
		}
		// What parses and can be encoded again (## lines may be too long
		// or hold a NUL) parses to the same message.
		enc, err := m.Encode(false)
		if err != nil {
			return
		}
		again, err := ParseMessage(enc)
		if err != nil || !sameMessage(again, m) {
			t.Fatalf("re-encoded message parses differently: %v", err)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	for _, cm := range clientMessages(f) {
		for _, a := range cm.areas {
			f.Add(a[:64]) // the fuzzer mutates the start; the rest is zero
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := DecodePayload(data); err == nil && len(data) != PayloadSize {
			t.Fatalf("accepted an area of %d bytes", len(data))
		}
		area := make([]byte, PayloadSize)
		copy(area, data)
		c, err := DecodePayload(area)
		if err != nil {
			if !errors.Is(err, ErrPayloadLength) {
				t.Fatal(err)
			}
			return
		}
		again, err := EncodePayload(bytes.NewReader(area[4+len(c):]), c)
		if err != nil || !bytes.Equal(again, area) {
			t.Fatalf("EncodePayload does not rebuild the area: %v", err)
		}
	})
}
