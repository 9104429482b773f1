package packet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
)

// newTripleDES returns 3DES-EDE for a raw 24-byte key. Mixmaster ignores DES
// parity bits, and so does crypto/des (§1).
func newTripleDES(key []byte) cipher.Block {
	b, err := des.NewTripleDESCipher(key)
	if err != nil {
		// Only a key length other than 24 fails; every caller slices 24 bytes.
		panic(fmt.Sprintf("packet: 3DES key of %d bytes", len(key)))
	}
	return b
}

// cbcDecrypt decrypts src into dst (which may be src) with CBC. Written out
// instead of cipher.NewCBCDecrypter because a hop restarts CBC twenty times
// with different IVs and the decrypter allocates each time.
func cbcDecrypt(b cipher.Block, iv, dst, src []byte) {
	var prev, cur [8]byte
	copy(prev[:], iv)
	for i := 0; i+8 <= len(src); i += 8 {
		copy(cur[:], src[i:i+8])
		b.Decrypt(dst[i:i+8], cur[:])
		subtle.XORBytes(dst[i:i+8], dst[i:i+8], prev[:])
		prev = cur
	}
}

// cbcEncrypt encrypts src into dst (which may be src) with CBC.
func cbcEncrypt(b cipher.Block, iv, dst, src []byte) {
	var prev [8]byte
	copy(prev[:], iv)
	for i := 0; i+8 <= len(src); i += 8 {
		subtle.XORBytes(prev[:], prev[:], src[i:i+8])
		b.Encrypt(dst[i:i+8], prev[:])
		copy(prev[:], dst[i:i+8])
	}
}

// cfb is AES-CFB-128 with the IV state OpenSSL's AES_cfb128_encrypt leaves
// behind, which Mixmaster chains from one stream into the next (§1.1).
// crypto/cipher's CFB does not expose that state.
type cfb struct {
	block cipher.Block
	iv    [16]byte
}

func newCFB(key []byte, iv []byte) *cfb {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(fmt.Sprintf("packet: AES key of %d bytes", len(key)))
	}
	c := &cfb{block: b}
	copy(c.iv[:], iv)
	return c
}

// reset starts a new stream with another key, keeping the chained IV.
func (c *cfb) reset(key []byte) {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(fmt.Sprintf("packet: AES key of %d bytes", len(key)))
	}
	c.block = b
}

// xor runs one stream from offset 0 over src into dst; decrypt selects which
// side feeds the shift register. Afterwards c.iv is the state OpenSSL leaves:
// the last ciphertext bytes followed by the unused keystream tail.
func (c *cfb) xor(dst, src []byte, decrypt bool) {
	var ks [16]byte
	for len(src) > 0 {
		c.block.Encrypt(ks[:], c.iv[:])
		n := min(16, len(src))
		if decrypt {
			copy(c.iv[:n], src[:n])
			subtle.XORBytes(dst[:n], src[:n], ks[:n])
		} else {
			subtle.XORBytes(dst[:n], src[:n], ks[:n])
			copy(c.iv[:n], dst[:n])
		}
		if n < 16 {
			copy(c.iv[n:], ks[n:])
		}
		src, dst = src[n:], dst[n:]
	}
}

// largeKeys holds what the RSA-protected material of a 2048–4096-bit hop
// yields (§4.2).
type largeKeys struct {
	hk                   []byte // 64-byte HMAC key
	tte, pay, hdr, ivAES [32]byte
}

func deriveLarge(hk, aesPre []byte) *largeKeys {
	k := &largeKeys{hk: hk}
	m := hmac.New(sha256.New, hk)
	for _, d := range []struct {
		label string
		out   *[32]byte
	}{{"header-crypt", &k.hdr}, {"body-crypt", &k.pay}, {"tte-crypt", &k.tte}, {"aes-iv", &k.ivAES}} {
		m.Reset()
		m.Write([]byte(d.label))
		m.Write(aesPre)
		m.Sum(d.out[:0])
	}
	return k
}

func hmacSum(m hash.Hash, data []byte) []byte {
	m.Reset()
	m.Write(data)
	return m.Sum(nil)
}
