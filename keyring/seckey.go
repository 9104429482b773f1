package keyring

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/mixgo/mixgo/packet"
)

// SecretKey is one entry of a remailer's secring.mix (§14.3).
type SecretKey struct {
	KeyID            packet.KeyID
	Created, Expires time.Time // zero when absent
	Key              *rsa.PrivateKey
}

// Public returns the public key entry a remailer publishes for s.
func (s *SecretKey) Public(name, address, version string, caps Caps) *PublicKey {
	k := &PublicKey{
		Name:    name,
		Address: address,
		KeyID:   s.KeyID,
		Version: version,
		Caps:    caps,
		Created: s.Created,
		Expires: s.Expires,
	}
	if s.Key != nil {
		pub := s.Key.PublicKey
		k.Key = &pub
	}
	return k
}

// Generate makes a new remailer key of 1024, 2048, 3072 or 4096 bits with
// e = 65537. Created is the UTC day of created; Expires is the UTC day of
// created+lifetime, or zero when lifetime is 0 (no expiry), as
// `mixmaster -G` does (§14.4). Randomness comes from crypto/rand.
func Generate(bits int, created time.Time, lifetime time.Duration) (*SecretKey, error) {
	if !supportedBits(bits) {
		return nil, fmt.Errorf("%w: %d bits", ErrKeySize, bits)
	}
	if lifetime < 0 {
		return nil, fmt.Errorf("keyring: negative key lifetime %v", lifetime)
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, located(err, "generating a %d-bit key", bits)
	}
	priv.Precompute()
	k := &SecretKey{KeyID: KeyIDOf(&priv.PublicKey), Created: day(created), Key: priv}
	if lifetime > 0 {
		k.Expires = day(created.Add(lifetime))
	}
	return k, nil
}

// secretSizes returns the byte length of n, e and d (size) and of p, q and
// the CRT values (half) for a modulus of bits, and the plain blob length.
func secretSizes(bits int) (size, half, plain int) {
	size = bits / 8
	half = (size + 1) / 2
	return size, half, 2 + 3*size + 5*half
}

// secretCipher returns 3DES-EDE with the two-key form of MD5(passphrase):
// K1‖K2‖K1 (§14.3).
func secretCipher(passphrase []byte) cipher.Block {
	h := md5.Sum(passphrase)
	key := make([]byte, 0, 24)
	key = append(key, h[:]...)
	key = append(key, h[:8]...)
	block, err := des.NewTripleDESCipher(key)
	if err != nil {
		panic("keyring: 3DES with a 24-byte key failed: " + err.Error()) // cannot happen
	}
	return block
}

// EncodeSecretKey returns one secring.mix entry for k, laid out as
// Mixmaster writes it (§14.3): begin marker, Created:/Expires: lines (when
// set), key ID, "0", the base64 IV, the encrypted blob in base64 lines of 40
// characters, end marker and an empty line. The 8-byte IV and then the 0–7
// padding bytes are read from rnd.
func EncodeSecretKey(rnd io.Reader, k *SecretKey, passphrase []byte) ([]byte, error) {
	if k == nil || k.Key == nil {
		return nil, fmt.Errorf("keyring: no secret key to encode")
	}
	priv := k.Key
	if err := checkPublic(&priv.PublicKey); err != nil {
		return nil, err
	}
	if len(priv.Primes) != 2 || priv.D == nil || priv.Primes[0] == nil || priv.Primes[1] == nil {
		return nil, fmt.Errorf("%w: need d and exactly two primes", ErrInvalidKey)
	}
	id := KeyIDOf(&priv.PublicKey)
	if k.KeyID != (packet.KeyID{}) && k.KeyID != id {
		return nil, fmt.Errorf("%w: entry says %x, key hashes to %x", ErrKeyID, k.KeyID, id)
	}

	bits := priv.N.BitLen()
	size, half, plainLen := secretSizes(bits)
	p, q := priv.Primes[0], priv.Primes[1]
	if p.Sign() <= 0 || q.Sign() <= 0 || priv.D.Sign() <= 0 {
		return nil, fmt.Errorf("%w: non-positive d, p or q", ErrInvalidKey)
	}
	one := big.NewInt(1)
	dp := new(big.Int).Mod(priv.D, new(big.Int).Sub(p, one))
	dq := new(big.Int).Mod(priv.D, new(big.Int).Sub(q, one))
	qinv := new(big.Int).ModInverse(q, p)
	if p.Cmp(one) <= 0 || q.Cmp(one) <= 0 || qinv == nil {
		return nil, fmt.Errorf("%w: p and q are not usable primes", ErrInvalidKey)
	}
	fields := []struct {
		v *big.Int
		n int
	}{
		{priv.N, size}, {big.NewInt(int64(priv.E)), size}, {priv.D, size},
		{p, half}, {q, half}, {dp, half}, {dq, half}, {qinv, half},
	}

	padLen := (8 - plainLen%8) % 8
	var iv [8]byte
	blob := make([]byte, plainLen+padLen)
	if _, err := io.ReadFull(rnd, iv[:]); err != nil {
		return nil, fmt.Errorf("keyring: reading IV: %w", err)
	}
	if _, err := io.ReadFull(rnd, blob[plainLen:]); err != nil {
		return nil, fmt.Errorf("keyring: reading padding: %w", err)
	}
	blob[0], blob[1] = byte(bits), byte(bits>>8)
	off := 2
	for _, f := range fields {
		if (f.v.BitLen()+7)/8 > f.n {
			return nil, fmt.Errorf("%w: a key component does not fit in %d bytes", ErrInvalidKey, f.n)
		}
		f.v.FillBytes(blob[off : off+f.n])
		off += f.n
	}
	cipher.NewCBCEncrypter(secretCipher(passphrase), iv[:]).CryptBlocks(blob, blob)

	out := make([]byte, 0, 200+len(blob)*3/2)
	out = append(out, beginMarker+"\n"...)
	if !k.Created.IsZero() {
		out = append(out, "Created: "+formatDate(k.Created)+"\n"...)
	}
	if !k.Expires.IsZero() {
		out = append(out, "Expires: "+formatDate(k.Expires)+"\n"...)
	}
	out = append(out, hex.EncodeToString(id[:])+"\n0\n"...)
	out = append(out, base64.StdEncoding.EncodeToString(iv[:])+"\n"...)
	out = appendBase64Lines(out, blob)
	out = append(out, endMarker+"\n\n"...)
	return out, nil
}

// maxSecretB64 bounds the base64 text of an encrypted secret key (a
// 4096-bit key is 2824 bytes, 3768 characters).
const maxSecretB64 = 4096

// ParseSecring reads secring.mix (§14.3) and decrypts every entry with
// passphrase. Entries that cannot be read are reported and skipped; an
// entry whose decrypted key does not hash to its key ID gives an error
// wrapping ErrPassphrase. Keys are returned in file order (newest last) and
// are validated and precomputed.
func ParseSecring(data []byte, passphrase []byte) ([]*SecretKey, []error) {
	entries, stray := scanBlocks(splitLines(data), false)
	var keys []*SecretKey
	var errs []error
	for _, r := range stray {
		errs = append(errs, located(ErrStrayText, "secring lines %d-%d", r.first, r.last))
	}
	block := secretCipher(passphrase)
	for n, e := range entries {
		k, err := parseSecretEntry(e.blk, block)
		if err != nil {
			errs = append(errs, located(err, "secring entry %d (line %d)", n+1, e.blk.line))
			continue
		}
		keys = append(keys, k)
	}
	return keys, errs
}

func parseSecretEntry(b block, block cipher.Block) (*SecretKey, error) {
	if b.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, b.err)
	}
	k := &SecretKey{}
	lines := b.lines
	// Header lines "Name: value" in any order and case, up to the first
	// line without a colon (§14.3). Unknown names are ignored.
	for len(lines) > 0 {
		name, value, ok := strings.Cut(lines[0], ":")
		if !ok {
			break
		}
		value = strings.TrimSpace(value)
		var err error
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "created":
			k.Created, err = parseDate(value)
		case "expires":
			k.Expires, err = parseDate(value)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: bad date in %q", ErrSyntax, lines[0])
		}
		lines = lines[1:]
	}
	// Key ID, the "0" line, the IV line and at least one line of key.
	if len(lines) < 4 {
		return nil, fmt.Errorf("%w: entry too short", ErrSyntax)
	}
	id, err := parseKeyID(lines[0])
	if err != nil {
		return nil, err
	}
	k.KeyID = id
	// lines[1] is always "0" in 3.0.2d's files; its meaning is not
	// documented, so it is skipped (§14.3).
	iv, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(iv) != des.BlockSize {
		return nil, fmt.Errorf("%w: bad IV line %q", ErrSyntax, lines[2])
	}
	var sb strings.Builder
	for _, l := range lines[3:] {
		if sb.Len()+len(l) > maxSecretB64 {
			return nil, fmt.Errorf("%w: key %x: encrypted key too long", ErrSyntax, id)
		}
		sb.WriteString(l)
	}
	blob, err := base64.StdEncoding.DecodeString(sb.String())
	if err != nil {
		return nil, fmt.Errorf("%w: key %x: bad base64: %v", ErrSyntax, id, err)
	}
	if len(blob) == 0 || len(blob)%des.BlockSize != 0 {
		return nil, fmt.Errorf("%w: key %x: encrypted key of %d bytes is not a whole number of 3DES blocks", ErrSyntax, id, len(blob))
	}
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(blob, blob)
	priv, err := decodeSecretBlob(blob, id)
	if err != nil {
		return nil, fmt.Errorf("key %x: %w", id, err)
	}
	k.Key = priv
	return k, nil
}

// decodeSecretBlob reads a decrypted secret blob (§14.3) and checks it
// against the key ID it is filed under. A wrong 3DES key turns the blob into
// random bytes, so a nonsensical size field or a key that does not hash to
// the ID is reported as ErrPassphrase.
func decodeSecretBlob(b []byte, id packet.KeyID) (*rsa.PrivateKey, error) {
	bits := int(b[0]) | int(b[1])<<8
	if !supportedBits(bits) {
		return nil, fmt.Errorf("%w (decrypted size field says %d bits)", ErrPassphrase, bits)
	}
	size, half, plainLen := secretSizes(bits)
	if len(b) < plainLen || len(b)-plainLen >= des.BlockSize {
		// The size field decrypted sensibly, so the passphrase is most
		// likely right and the entry was cut or padded wrongly.
		return nil, fmt.Errorf("%w: a %d-bit key needs %d bytes plus 0-7 padding, the entry holds %d (truncated entry or wrong passphrase)", ErrSyntax, bits, plainLen, len(b))
	}
	off := 2
	next := func(n int) *big.Int {
		v := new(big.Int).SetBytes(b[off : off+n])
		off += n
		return v
	}
	n, e, d := next(size), next(size), next(size)
	p, q, dp, dq, qinv := next(half), next(half), next(half), next(half), next(half)

	if !e.IsInt64() || e.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("%w (public exponent too large)", ErrPassphrase)
	}
	pub := rsa.PublicKey{N: n, E: int(e.Int64())}
	if got := KeyIDOf(&pub); got != id {
		return nil, fmt.Errorf("%w (decrypted key hashes to %x)", ErrPassphrase, got)
	}
	// The ID matches, so the passphrase is right; what follows catches
	// damaged or hand-made entries.
	if err := checkPublic(&pub); err != nil {
		return nil, err
	}
	one := big.NewInt(1)
	if p.Cmp(one) <= 0 || q.Cmp(one) <= 0 || d.Sign() <= 0 || new(big.Int).Mul(p, q).Cmp(n) != 0 {
		return nil, fmt.Errorf("%w: p·q is not n", ErrInvalidKey)
	}
	priv := &rsa.PrivateKey{PublicKey: pub, D: d, Primes: []*big.Int{p, q}}
	priv.Precompute()
	if err := priv.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	if priv.Precomputed.Dp.Cmp(dp) != 0 || priv.Precomputed.Dq.Cmp(dq) != 0 || priv.Precomputed.Qinv.Cmp(qinv) != 0 {
		return nil, fmt.Errorf("%w: stored CRT values do not match p, q and d", ErrInvalidKey)
	}
	return priv, nil
}

// Secring is a remailer's set of secret keys, found by key ID. It
// implements packet.SecretKeys.
type Secring struct {
	keys []*SecretKey
	byID map[packet.KeyID]*SecretKey
}

var _ packet.SecretKeys = (*Secring)(nil)

// NewSecring returns a ring holding keys (nil entries are dropped). When
// two entries share a key ID the first one is found.
func NewSecring(keys []*SecretKey) *Secring {
	s := &Secring{byID: make(map[packet.KeyID]*SecretKey, len(keys))}
	for _, k := range keys {
		if k == nil || k.Key == nil {
			continue
		}
		s.keys = append(s.keys, k)
		if _, dup := s.byID[k.KeyID]; !dup {
			s.byID[k.KeyID] = k
		}
	}
	return s
}

// SecretKey returns the private key with this ID, or nil.
func (s *Secring) SecretKey(id packet.KeyID) *rsa.PrivateKey {
	if s == nil {
		return nil
	}
	if k := s.byID[id]; k != nil {
		return k.Key
	}
	return nil
}

// Keys returns every key, in the order given to NewSecring.
func (s *Secring) Keys() []*SecretKey {
	if s == nil {
		return nil
	}
	return append([]*SecretKey(nil), s.keys...)
}

// Usable returns the keys a remailer may decrypt with at now (§14.4): not
// created in the future, and expires+grace not in the past.
func (s *Secring) Usable(now time.Time, grace time.Duration) *Secring {
	var keys []*SecretKey
	for _, k := range s.Keys() {
		if validAt(k.Created, k.Expires, now, grace) {
			keys = append(keys, k)
		}
	}
	return NewSecring(keys)
}
