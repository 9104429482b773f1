package keyring

import (
	"crypto/md5"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/mixgo/mixgo/packet"
)

// Caps is the capability field of a key's attribute line (§14.1), e.g.
// "CNm" or "MC". Letters may appear in any order; unknown ones are ignored.
type Caps string

// Compress reports whether the remailer accepts compressed payloads ('C').
func (c Caps) Compress() bool { return strings.ContainsRune(string(c), 'C') }

// Middleman reports whether the remailer only forwards to other remailers ('M').
func (c Caps) Middleman() bool { return strings.ContainsRune(string(c), 'M') }

// News reports whether the remailer posts to Usenet ('N', as "Nm" via a
// mail-to-news gateway or "Np" via a local news program).
func (c Caps) News() bool { return strings.ContainsRune(string(c), 'N') }

// PublicKey is one entry of pubring.mix or key.txt (§14.1), or one line of
// type2.list (§15.1), which carries no key.
type PublicKey struct {
	Name, Address string
	KeyID         packet.KeyID
	Version       string // e.g. "2:3.0.2d"
	Caps          Caps
	Created       time.Time      // zero when absent; dates are 00:00 UTC
	Expires       time.Time      // zero when absent
	Key           *rsa.PublicKey // nil for entries read from type2.list
}

// Bits returns the modulus size of the key, or 0 when there is no key.
func (k *PublicKey) Bits() int {
	if k == nil || k.Key == nil || k.Key.N == nil {
		return 0
	}
	return k.Key.N.BitLen()
}

// Hop returns the key as a hop of a chain, for package packet.
func (k *PublicKey) Hop() packet.Hop {
	return packet.Hop{Address: k.Address, KeyID: k.KeyID, Key: k.Key}
}

// Type2Line returns the attribute line (§14.1, §15.1) without a newline:
// "name address keyid version caps [created [expires]]". An empty Caps is
// left out; Expires is only written together with Created, because the
// format has no way to give an expiry date alone.
func (k *PublicKey) Type2Line() string {
	parts := []string{k.Name, k.Address, hex.EncodeToString(k.KeyID[:]), k.Version}
	if k.Caps != "" {
		parts = append(parts, string(k.Caps))
	}
	if !k.Created.IsZero() {
		parts = append(parts, formatDate(k.Created))
		if !k.Expires.IsZero() {
			parts = append(parts, formatDate(k.Expires))
		}
	}
	return strings.Join(parts, " ")
}

// KeyTxt returns the key as Mixmaster writes key.txt and each pubring.mix
// entry: the attribute line, an empty line, the key block (key ID, blob
// length, base64 lines of 40 characters) and an empty line. It returns nil
// when Key is missing or of an unsupported size. The key ID written is
// k.KeyID; it must be KeyIDOf(k.Key) for readers to accept the entry.
func (k *PublicKey) KeyTxt() []byte {
	if k.Key == nil {
		return nil
	}
	blob, err := EncodePublicBlob(k.Key)
	if err != nil {
		return nil
	}
	id := hex.EncodeToString(k.KeyID[:])
	out := make([]byte, 0, 256+len(blob)*3/2)
	out = append(out, k.Type2Line()...)
	out = append(out, "\n\n"+beginMarker+"\n"+id+"\n"+strconv.Itoa(len(blob))+"\n"...)
	out = appendBase64Lines(out, blob)
	out = append(out, endMarker+"\n\n"...)
	return out
}

// ValidAt reports whether a client may use the key at now: it is not created
// in the future and not yet expired. A key expiring on a date is still valid
// at 00:00 UTC of that date, as in 3.0.2d, which compares expires < now.
func (k *PublicKey) ValidAt(now time.Time) bool {
	return validAt(k.Created, k.Expires, now, 0)
}

func validAt(created, expires, now time.Time, grace time.Duration) bool {
	if !created.IsZero() && now.Before(created) {
		return false
	}
	if !expires.IsZero() && now.After(expires.Add(grace)) {
		return false
	}
	return true
}

// KeyIDOf returns the key ID of pub (§14.2): MD5 of n and e, each written
// big-endian in the modulus' byte length (e zero-padded on the left).
// It returns the zero ID for a nil key.
func KeyIDOf(pub *rsa.PublicKey) packet.KeyID {
	if pub == nil || pub.N == nil {
		return packet.KeyID{}
	}
	size := pub.Size()
	buf := make([]byte, 2*size)
	pub.N.FillBytes(buf[:size])
	e := big.NewInt(int64(pub.E))
	if len(e.Bytes()) <= size {
		e.FillBytes(buf[size:])
	}
	return md5.Sum(buf)
}

// checkPublic rejects keys 3.0.2d cannot use or Go cannot encrypt to.
func checkPublic(pub *rsa.PublicKey) error {
	if pub == nil || pub.N == nil {
		return fmt.Errorf("%w: no modulus", ErrKeySize)
	}
	if bits := pub.N.BitLen(); !supportedBits(bits) {
		return fmt.Errorf("%w: %d bits", ErrKeySize, bits)
	}
	if pub.N.Bit(0) == 0 {
		return fmt.Errorf("%w: even modulus", ErrSyntax)
	}
	if pub.E < 3 || pub.E&1 == 0 || pub.E > 1<<31-1 {
		return fmt.Errorf("%w: public exponent %d not usable", ErrSyntax, pub.E)
	}
	return nil
}

// EncodePublicBlob returns the public-key blob of §14.1: the modulus size in
// bits (2 bytes, little-endian), then n and e, each big-endian in the
// modulus' byte length.
func EncodePublicBlob(pub *rsa.PublicKey) ([]byte, error) {
	if err := checkPublic(pub); err != nil {
		return nil, err
	}
	bits := pub.N.BitLen()
	size := bits / 8
	blob := make([]byte, 2+2*size)
	blob[0], blob[1] = byte(bits), byte(bits>>8)
	pub.N.FillBytes(blob[2 : 2+size])
	big.NewInt(int64(pub.E)).FillBytes(blob[2+size:])
	return blob, nil
}

// DecodePublicBlob reads a public-key blob (§14.1). It accepts only the
// sizes 3.0.2d supports and a blob of exactly 2 + 2·len bytes.
func DecodePublicBlob(b []byte) (*rsa.PublicKey, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: public key blob of %d bytes", ErrSyntax, len(b))
	}
	bits := int(b[0]) | int(b[1])<<8
	if !supportedBits(bits) {
		return nil, fmt.Errorf("%w: blob says %d bits", ErrKeySize, bits)
	}
	size := bits / 8
	if len(b) != 2+2*size {
		return nil, fmt.Errorf("%w: %d-bit public key blob is %d bytes, want %d", ErrSyntax, bits, len(b), 2+2*size)
	}
	n := new(big.Int).SetBytes(b[2 : 2+size])
	if n.BitLen() != bits {
		return nil, fmt.Errorf("%w: modulus has %d bits, blob says %d", ErrKeySize, n.BitLen(), bits)
	}
	e := new(big.Int).SetBytes(b[2+size:])
	if !e.IsInt64() || e.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("%w: public exponent too large", ErrSyntax)
	}
	pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
	if err := checkPublic(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// parseKeyID reads 32 hex digits.
func parseKeyID(s string) (packet.KeyID, error) {
	var id packet.KeyID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: key ID %q is not 32 hex digits", ErrSyntax, s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: key ID %q is not 32 hex digits", ErrSyntax, s)
	}
	return id, nil
}

// looksLikeDate tells a date field from a capability field, which never
// holds digits; it lets a line without capabilities still be read.
func looksLikeDate(s string) bool {
	return len(s) == len(dateLayout) && s[4] == '-' && s[7] == '-'
}

// parseAttrLine reads "name address keyid version caps [created [expires]]".
func parseAttrLine(line string) (*PublicKey, error) {
	f := strings.Fields(line)
	if len(f) < 4 {
		return nil, fmt.Errorf("%w: attribute line has %d fields, want at least 4 (name address keyid version)", ErrSyntax, len(f))
	}
	k := &PublicKey{Name: f[0], Address: f[1], Version: f[3]}
	id, err := parseKeyID(f[2])
	if err != nil {
		return nil, err
	}
	k.KeyID = id
	rest := f[4:]
	if len(rest) > 0 && !looksLikeDate(rest[0]) {
		k.Caps = Caps(rest[0])
		rest = rest[1:]
	}
	if len(rest) > 2 {
		return nil, fmt.Errorf("%w: attribute line has %d fields, want at most 7", ErrSyntax, len(f))
	}
	if len(rest) > 0 {
		if k.Created, err = parseDate(rest[0]); err != nil {
			return nil, fmt.Errorf("%w: bad created date %q", ErrSyntax, rest[0])
		}
	}
	if len(rest) > 1 {
		if k.Expires, err = parseDate(rest[1]); err != nil {
			return nil, fmt.Errorf("%w: bad expiry date %q", ErrSyntax, rest[1])
		}
	}
	return k, nil
}

// maxKeyB64 bounds the base64 text of a public key block (a 4096-bit blob
// is 1368 characters).
const maxKeyB64 = 2048

// parsePublicBlock reads the lines of a public key block: key ID, blob
// length, base64 blob. It checks the length line and that the key ID is the
// MD5 of the key.
func parsePublicBlock(lines []string) (packet.KeyID, *rsa.PublicKey, error) {
	var id packet.KeyID
	if len(lines) < 3 {
		return id, nil, fmt.Errorf("%w: key block has %d lines, want key ID, length and key", ErrSyntax, len(lines))
	}
	id, err := parseKeyID(lines[0])
	if err != nil {
		return id, nil, err
	}
	length, err := strconv.Atoi(lines[1])
	if err != nil || length <= 0 {
		return id, nil, fmt.Errorf("%w: bad length line %q", ErrSyntax, lines[1])
	}
	var sb strings.Builder
	for _, l := range lines[2:] {
		if sb.Len()+len(l) > maxKeyB64 {
			return id, nil, fmt.Errorf("%w: key block too long", ErrSyntax)
		}
		sb.WriteString(l)
	}
	blob, err := base64.StdEncoding.DecodeString(sb.String())
	if err != nil {
		return id, nil, fmt.Errorf("%w: bad base64 in key block: %v", ErrSyntax, err)
	}
	if len(blob) != length {
		return id, nil, fmt.Errorf("%w: length line says %d bytes, key block holds %d", ErrSyntax, length, len(blob))
	}
	pub, err := DecodePublicBlob(blob)
	if err != nil {
		return id, nil, err
	}
	if got := KeyIDOf(pub); got != id {
		return id, nil, fmt.Errorf("%w: block says %x, key hashes to %x", ErrKeyID, id, got)
	}
	return id, pub, nil
}

// ParsePubring reads pubring.mix or key.txt (§14.1): entries of an attribute
// line followed by a key block. Malformed entries are reported (with entry
// number, line and reason) and skipped; the others are returned in file
// order. Runs of text outside entries are reported as ErrStrayText. Each kept entry has a key of a supported size whose MD5 equals the
// key ID of both its attribute line and its block.
func ParsePubring(data []byte) ([]*PublicKey, []error) {
	entries, stray := scanBlocks(splitLines(data), true)
	var keys []*PublicKey
	var errs []error
	for _, r := range stray {
		errs = append(errs, located(ErrStrayText, "pubring lines %d-%d", r.first, r.last))
	}
	for n, e := range entries {
		k, err := parsePubringEntry(e)
		if err != nil {
			line := e.blk.line
			if e.attrLine > 0 {
				line = e.attrLine
			}
			errs = append(errs, located(err, "pubring entry %d (line %d)", n+1, line))
			continue
		}
		keys = append(keys, k)
	}
	return keys, errs
}

func parsePubringEntry(e scanned) (*PublicKey, error) {
	if e.blk.err != nil {
		return nil, fmt.Errorf("%w: key block at line %d: %v", ErrSyntax, e.blk.line, e.blk.err)
	}
	if e.attr == "" {
		return nil, fmt.Errorf("%w: key block at line %d has no attribute line", ErrSyntax, e.blk.line)
	}
	k, err := parseAttrLine(e.attr)
	if err != nil {
		return nil, err
	}
	id, pub, err := parsePublicBlock(e.blk.lines)
	if err != nil {
		return nil, fmt.Errorf("key block at line %d: %w", e.blk.line, err)
	}
	if id != k.KeyID {
		return nil, fmt.Errorf("%w: attribute line says %x, key block %x", ErrKeyID, k.KeyID, id)
	}
	k.Key = pub
	return k, nil
}

// ParseType2List reads type2.list (§15.1): one attribute line per remailer.
// Empty lines are skipped; malformed lines are reported and skipped. The
// entries carry no RSA key.
func ParseType2List(data []byte) ([]*PublicKey, []error) {
	var keys []*PublicKey
	var errs []error
	for i, l := range splitLines(data) {
		if strings.TrimSpace(l) == "" {
			continue
		}
		k, err := parseAttrLine(l)
		if err != nil {
			errs = append(errs, located(err, "type2.list line %d", i+1))
			continue
		}
		keys = append(keys, k)
	}
	return keys, errs
}
