package keyring

import (
	"bytes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// pubringWith returns pubring.mix with entry i (0-based) replaced by the
// result of edit applied to that remailer's key.txt.
func pubringWith(t *testing.T, i int, edit func(string) string) []byte {
	t.Helper()
	var b bytes.Buffer
	for j, name := range vectorNames {
		txt := string(readVector(t, "keys", name, "key.txt"))
		if j == i {
			txt = edit(txt)
		}
		b.WriteString(txt)
	}
	return b.Bytes()
}

func replaceLine(t *testing.T, txt string, n int, with string) string {
	t.Helper()
	lines := strings.Split(txt, "\n")
	if n >= len(lines) {
		t.Fatalf("no line %d", n)
	}
	lines[n] = with
	return strings.Join(lines, "\n")
}

func TestParsePubringMalformed(t *testing.T) {
	otherID := "43deecb0894f975373afb1889f9b205c" // echo's
	cases := []struct {
		name    string
		edit    func(t *testing.T, txt string) string
		wantErr error
		wantMsg string
	}{
		{"wrong key ID in attribute line", func(t *testing.T, s string) string {
			return strings.Replace(s, " e91e5cf2b4f7acd3d196d2bbe5c9c620 ", " "+otherID+" ", 1)
		}, ErrKeyID, "attribute line says"},
		{"wrong key ID in block", func(t *testing.T, s string) string {
			return replaceLine(t, s, 3, otherID)
		}, ErrKeyID, "key hashes to"},
		{"wrong key ID in both", func(t *testing.T, s string) string {
			return strings.ReplaceAll(s, "e91e5cf2b4f7acd3d196d2bbe5c9c620", otherID)
		}, ErrKeyID, "key hashes to"},
		{"changed modulus", func(t *testing.T, s string) string {
			return replaceLine(t, s, 6, "B"+strings.Split(s, "\n")[6][1:])
		}, ErrKeyID, ""},
		{"truncated base64", func(t *testing.T, s string) string {
			lines := strings.Split(s, "\n")
			// Drop the last base64 line (the one before the end marker).
			end := len(lines) - 3
			return strings.Join(append(lines[:end-1:end-1], lines[end:]...), "\n")
		}, ErrSyntax, "length line says 514"},
		{"base64 cut mid-quantum", func(t *testing.T, s string) string {
			lines := strings.Split(s, "\n")
			lines[len(lines)-4] = lines[len(lines)-4][:5]
			return strings.Join(lines, "\n")
		}, ErrSyntax, "bad base64"},
		{"bad length line", func(t *testing.T, s string) string {
			return replaceLine(t, s, 4, "258")
		}, ErrSyntax, "length line says 258"},
		{"missing end marker", func(t *testing.T, s string) string {
			return strings.Replace(s, endMarker+"\n", "", 1)
		}, ErrSyntax, "end marker missing"},
		{"short attribute line", func(t *testing.T, s string) string {
			return replaceLine(t, s, 0, "bravo bravo@remailer.test")
		}, ErrSyntax, "attribute line has 2 fields"},
		{"bad date", func(t *testing.T, s string) string {
			return strings.Replace(s, "2046-11-19", "2046-13-19", 1)
		}, ErrSyntax, "bad expiry date"},
		{"too many fields", func(t *testing.T, s string) string {
			return strings.Replace(s, "2046-11-19", "2046-11-19 extra", 1)
		}, ErrSyntax, "at most 7"},
		{"no attribute line", func(t *testing.T, s string) string {
			return replaceLine(t, s, 0, "")
		}, ErrSyntax, "no attribute line"},
		{"garbage instead of the block", func(t *testing.T, s string) string {
			return "bravo bravo@remailer.test e91e5cf2b4f7acd3d196d2bbe5c9c620 2:3.0.2d C\n\n" +
				beginMarker + "\n\x00\xff garbage \x7f\n" + endMarker + "\n\n"
		}, ErrSyntax, "key block has 1 lines"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := pubringWith(t, 1, func(s string) string { return c.edit(t, s) })
			keys, errs := ParsePubring(data)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs), errs)
			}
			if !errors.Is(errs[0], c.wantErr) {
				t.Errorf("error %q does not wrap %v", errs[0], c.wantErr)
			}
			msg := errs[0].Error()
			if !strings.Contains(msg, "entry 2 (line") || !strings.Contains(msg, c.wantMsg) {
				t.Errorf("error %q should name entry 2 and say %q", msg, c.wantMsg)
			}
			var names []string
			for _, k := range keys {
				names = append(names, k.Name)
			}
			if got := strings.Join(names, ","); got != "alpha,charlie,delta,echo" {
				t.Errorf("kept %s, want the four good entries", got)
			}
		})
	}
}

func TestParsePubringGarbage(t *testing.T) {
	good := string(readVector(t, "keys", "alpha", "key.txt"))
	cases := []struct {
		name      string
		data      string
		keys      int
		errs      int
		errSubstr string
	}{
		{"empty", "", 0, 0, ""},
		{"only garbage", "hello\nworld\n\x00\x01\n", 0, 1, "lines 1-3: "},
		{"garbage before and after", "junk line\nmore junk\n" + good + "trailing\n", 1, 2, "text outside any key entry"},
		{"lone begin marker", beginMarker + "\n", 0, 1, "end of input before the end marker"},
		{"lone end marker", endMarker + "\n" + good, 1, 1, "lines 1-1: "},
		{"CRLF line ends", strings.ReplaceAll(good, "\n", "\r\n"), 1, 0, ""},
		{"binary", "\xff\xfe\x00-----Begin Mix Key\n\x00\n", 0, 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys, errs := ParsePubring([]byte(c.data))
			if len(keys) != c.keys || len(errs) != c.errs {
				t.Fatalf("got %d keys, %d errors %v; want %d, %d", len(keys), len(errs), errs, c.keys, c.errs)
			}
			if c.errSubstr != "" && !strings.Contains(errs[0].Error(), c.errSubstr) {
				t.Errorf("error %q does not contain %q", errs[0], c.errSubstr)
			}
		})
	}
}

// A key quoted in a mail (a remailer-key reply) is still found; the text
// around it is reported once per run as ErrStrayText.
func TestStrayText(t *testing.T) {
	mail := "From: alpha@remailer.test\nSubject: Remailer key for alpha\n\nHere is the key:\n\n" +
		string(readVector(t, "keys", "alpha", "key.txt")) + "-- \nsignature\n"
	keys, errs := ParsePubring([]byte(mail))
	if len(keys) != 1 || len(errs) != 2 {
		t.Fatalf("got %d keys, %d errors %v; want 1, 2", len(keys), len(errs), errs)
	}
	for _, err := range errs {
		if !errors.Is(err, ErrStrayText) || errors.Is(err, ErrSyntax) {
			t.Errorf("error %v should wrap only ErrStrayText", err)
		}
	}
	if !strings.Contains(errs[0].Error(), "lines 1-4:") || !strings.Contains(errs[1].Error(), "lines 22-23:") {
		t.Errorf("errors do not name the stray lines: %v", errs)
	}

	sec := "junk\nmore junk\n" + string(readVector(t, "keys", "echo", "secring.mix"))
	sks, errs := ParseSecring([]byte(sec), []byte("echopass"))
	if len(sks) != 1 || len(errs) != 1 || !errors.Is(errs[0], ErrStrayText) || !strings.Contains(errs[0].Error(), "lines 1-2:") {
		t.Errorf("secring with junk: %d keys, errors %v", len(sks), errs)
	}
}

func TestParseType2ListMalformed(t *testing.T) {
	data := "alpha alpha@remailer.test 45e104448ad3630f8c708b360415423d 2:3.0.2d CNm 2026-11-24 2046-11-19\n" +
		"bad bad@x.test 45e104448ad3630f8c708b360415423 2:3.0.2d C\n" +
		"\n" +
		"nocaps nocaps@x.test 45E104448AD3630F8C708B360415423D 2:3.0.2d 2026-11-24\n" +
		"short a b\n" +
		"old old@x.test 45e104448ad3630f8c708b360415423d 2.0.4 MC\n"
	keys, errs := ParseType2List([]byte(data))
	if len(keys) != 3 || len(errs) != 2 {
		t.Fatalf("got %d keys, %d errors %v; want 3, 2", len(keys), len(errs), errs)
	}
	if !strings.Contains(errs[0].Error(), "line 2:") || !strings.Contains(errs[1].Error(), "line 5:") {
		t.Errorf("errors do not name lines 2 and 5: %v", errs)
	}
	nc := keys[1]
	if nc.Caps != "" || nc.Created.IsZero() || !nc.Expires.IsZero() || hex.EncodeToString(nc.KeyID[:]) != "45e104448ad3630f8c708b360415423d" {
		t.Errorf("line without caps read as %+v", nc)
	}
	if got := nc.Type2Line(); got != "nocaps nocaps@x.test 45e104448ad3630f8c708b360415423d 2:3.0.2d 2026-11-24" {
		t.Errorf("Type2Line = %q", got)
	}
	if old := keys[2]; !old.Caps.Middleman() || !old.Caps.Compress() || old.Caps.News() || !old.Created.IsZero() {
		t.Errorf("old entry read as %+v", old)
	}
}

func TestCaps(t *testing.T) {
	for _, c := range []struct {
		caps          Caps
		comp, mm, new bool
	}{
		{"", false, false, false},
		{"C", true, false, false},
		{"CNm", true, false, true},
		{"CNp", true, false, true},
		{"MC", true, true, false},
		{"MCNm", true, true, true},
		{"xyz", false, false, false},
	} {
		if c.caps.Compress() != c.comp || c.caps.Middleman() != c.mm || c.caps.News() != c.new {
			t.Errorf("%q: Compress=%v Middleman=%v News=%v", c.caps, c.caps.Compress(), c.caps.Middleman(), c.caps.News())
		}
	}
}

func TestDecodePublicBlobErrors(t *testing.T) {
	good := decodeHexFile(t, "keys", "alpha", "public-key-blob.hex")
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		blob []byte
		want error
	}{
		{"empty", nil, ErrSyntax},
		{"one byte", []byte{0}, ErrSyntax},
		{"512 bits", mod(func(b []byte) []byte { b[0], b[1] = 0, 2; return b[:2+128] }), ErrKeySize},
		{"1000 bits", mod(func(b []byte) []byte { b[0], b[1] = 0xe8, 3; return b }), ErrKeySize},
		{"too short", good[:len(good)-1], ErrSyntax},
		{"too long", append(append([]byte(nil), good...), 0), ErrSyntax},
		{"says 2048", mod(func(b []byte) []byte { b[1] = 8; return b }), ErrSyntax},
		{"short modulus", mod(func(b []byte) []byte { b[2] = 0; return b }), ErrKeySize},
		{"even modulus", mod(func(b []byte) []byte { b[2+127] &^= 1; return b }), ErrSyntax},
		{"even exponent", mod(func(b []byte) []byte { b[len(b)-1] = 2; return b }), ErrSyntax},
		{"huge exponent", mod(func(b []byte) []byte { b[len(b)-5] = 1; return b }), ErrSyntax},
	}
	for _, c := range cases {
		if _, err := DecodePublicBlob(c.blob); !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := DecodePublicBlob(good); err != nil {
		t.Fatal(err)
	}
}

// sealSecret builds a secring.mix entry around a (possibly tampered)
// decrypted blob, encrypted as the reference program does.
func sealSecret(id string, plain, passphrase []byte) []byte {
	iv := []byte("01234567")
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(secretCipher(passphrase), iv).CryptBlocks(ct, plain)
	out := []byte(beginMarker + "\nCreated: 2026-11-24\n" + id + "\n0\n" + base64.StdEncoding.EncodeToString(iv) + "\n")
	out = appendBase64Lines(out, ct)
	return append(out, endMarker+"\n\n"...)
}

func TestParseSecringInconsistentKey(t *testing.T) {
	const id = "45e104448ad3630f8c708b360415423d"
	pass := []byte("alphapass")
	plain := decodeHexFile(t, "keys", "alpha", "secret-key-decrypted.hex")
	// Offsets in a 1024-bit blob: n at 2, e at 130, d at 258, p at 386,
	// q at 450, dp at 514, dq at 578, qinv at 642 (§14.3).
	cases := []struct {
		name string
		off  int
		want error
	}{
		{"untouched", -1, nil},
		{"padding changed", 707, nil},
		{"d changed", 300, ErrInvalidKey},
		{"p changed", 400, ErrInvalidKey},
		{"q changed", 460, ErrInvalidKey},
		{"dp changed", 520, ErrInvalidKey},
		{"dq changed", 600, ErrInvalidKey},
		{"qinv changed", 700, ErrInvalidKey},
		{"n changed", 10, ErrPassphrase},
		{"size field changed", 1, ErrPassphrase},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := append([]byte(nil), plain...)
			if c.off >= 0 {
				p[c.off] ^= 0x10
			}
			keys, errs := ParseSecring(sealSecret(id, p, pass), pass)
			if c.want == nil {
				if len(errs) != 0 || len(keys) != 1 {
					t.Fatalf("got %d keys, errors %v", len(keys), errs)
				}
				return
			}
			if len(keys) != 0 || len(errs) != 1 || !errors.Is(errs[0], c.want) {
				t.Fatalf("got %d keys, errors %v; want one error wrapping %v", len(keys), errs, c.want)
			}
		})
	}
	// p and q zero (p·q ≠ n) must be an error, not a panic.
	p := append([]byte(nil), plain...)
	clear(p[386:514])
	if _, errs := ParseSecring(sealSecret(id, p, pass), pass); len(errs) != 1 || !errors.Is(errs[0], ErrInvalidKey) {
		t.Errorf("zero primes: %v", errs)
	}
}

func TestParseSecringMalformed(t *testing.T) {
	good := string(readVector(t, "keys", "alpha", "secring.mix"))
	pass := []byte("alphapass")
	lines := strings.Split(good, "\n")
	cases := []struct {
		name string
		data string
		msg  string
	}{
		{"bad date", strings.Replace(good, "2046-11-19", "2046-11-xx", 1), "bad date"},
		{"bad key ID", replaceLine(t, good, 3, "45e104448ad3630f8c708b360415423"), "not 32 hex digits"},
		{"bad IV", replaceLine(t, good, 5, "yIRKKx+FG0"), "bad IV line"},
		{"truncated blob", strings.Join(append(lines[:10:10], lines[len(lines)-3:]...), "\n"), "truncated entry"},
		{"odd blob length", replaceLine(t, good, 6, "JHBT"), "whole number of 3DES blocks"},
		{"bad base64", replaceLine(t, good, 6, "JHB*"), "bad base64"},
		{"too short", beginMarker + "\nCreated: 2026-11-24\n45e104448ad3630f8c708b360415423d\n0\n" + endMarker + "\n", "entry too short"},
		{"missing end", strings.Replace(good, endMarker, "", 1), "end marker missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The damaged entry sits between two good ones.
			keys, errs := ParseSecring([]byte(good+c.data+good), pass)
			if len(keys) != 2 || len(errs) != 1 {
				t.Fatalf("got %d keys, %d errors %v; want 2, 1", len(keys), len(errs), errs)
			}
			if msg := errs[0].Error(); !strings.Contains(msg, "entry 2 (line") || !strings.Contains(msg, c.msg) {
				t.Errorf("error %q should name entry 2 and say %q", msg, c.msg)
			}
		})
	}
}

func TestKeyIDOfMatchesMD5(t *testing.T) {
	blob := decodeHexFile(t, "keys", "delta", "public-key-blob.hex")
	pub, err := DecodePublicBlob(blob)
	if err != nil {
		t.Fatal(err)
	}
	if KeyIDOf(pub) != md5.Sum(blob[2:]) {
		t.Error("KeyIDOf is not MD5 of the blob without its size bytes")
	}
	if KeyIDOf(nil) != [16]byte{} {
		t.Error("KeyIDOf(nil) is not zero")
	}
}

// Odd private exponents and swapped primes reach the RSA validation with
// the right key ID; they must give errors, never panics.
func TestDecodeSecretBlobOddValues(t *testing.T) {
	plain := decodeHexFile(t, "keys", "alpha", "secret-key-decrypted.hex")
	id := md5.Sum(decodeHexFile(t, "keys", "alpha", "public-key-blob.hex")[2:])
	n := plain[2:130]
	set := func(b []byte, off, size int, v []byte) {
		clear(b[off : off+size])
		copy(b[off+size-len(v):off+size], v)
	}
	for name, d := range map[string][]byte{
		"d=0":         {0},
		"d=1":         {1},
		"d=n":         n,
		"d=n-1":       append(append([]byte(nil), n[:127]...), n[127]-1),
		"d=2^1024-1":  bytes.Repeat([]byte{0xff}, 128),
		"d=e":         {1, 0, 1},
		"d=low half":  plain[258+64 : 386],
		"d=high half": plain[258 : 258+64],
	} {
		b := append([]byte(nil), plain...)
		set(b, 258, 128, d)
		if _, err := decodeSecretBlob(b, id); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// p and q swapped: p·q = n still, but the stored CRT values belong to
	// the other order.
	b := append([]byte(nil), plain...)
	copy(b[386:450], plain[450:514])
	copy(b[450:514], plain[386:450])
	if _, err := decodeSecretBlob(b, id); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("swapped primes: %v", err)
	}
}
