package packet

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Sizes inside one hop's header block (§3–§5).
const (
	encPartSize  = 328 // the 3DES-encrypted header part
	rsaSmallKey  = 24  // RSA plaintext with a 1024-bit key (§4.1)
	rsaLargeKey  = 216 // RSA plaintext with a larger key (§4.2)
	ivArraySize  = 19 * 8
	followSlots  = 19 // slots after a one-slot header
	followLength = followSlots * SlotSize
)

var timestampMarker = [5]byte{'0', '0', '0', '0', 0}

// Final describes what the exit hop of a packet receives (§5.3, §5.4).
type Final struct {
	// PacketID is the exit's replay-log key. Copies of one message share it
	// so that the exit delivers only the first copy to arrive (§6 step 1).
	PacketID [PacketIDSize]byte
	// MessageID groups the chunks of one message.
	MessageID [MessageIDSize]byte
	// Chunk and Chunks are 1-based; Chunks == 1 makes a type 1 packet.
	Chunk, Chunks int
}

// rsaEncryptFunc encrypts the key material of one hop. Tests replace it to
// replay recorded ciphertexts, since PKCS#1 v1.5 padding is random and Go's
// crypto/rsa ignores the caller's randomness.
type rsaEncryptFunc func(pub *rsa.PublicKey, msg []byte) ([]byte, error)

func rsaEncrypt(pub *rsa.PublicKey, msg []byte) ([]byte, error) {
	return rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
}

// Build makes one 20480-byte packet that carries payload (a 10240-byte
// payload area, see EncodePayload) through chain, given in sending order.
// The packet is sent to chain[0].Address. rnd supplies every key, IV,
// packet ID and padding byte; now gives the day written into each header,
// backdated by 0–3 days at random as Mixmaster does (§5.5).
func Build(rnd io.Reader, now time.Time, chain []Hop, fin Final, payload []byte) ([]byte, error) {
	return build(rnd, now, chain, fin, payload, rsaEncrypt)
}

// SlotsNeeded is the number of header slots chain takes (§2).
func SlotsNeeded(chain []Hop) int {
	n := 0
	for _, h := range chain {
		n += h.Slots()
	}
	return n
}

func build(rnd io.Reader, now time.Time, chain []Hop, fin Final, payload []byte, enc rsaEncryptFunc) ([]byte, error) {
	if len(chain) == 0 {
		return nil, ErrEmptyChain
	}
	if len(payload) != PayloadSize {
		return nil, fmt.Errorf("%w: payload area of %d bytes", ErrLength, len(payload))
	}
	if SlotsNeeded(chain) > MaxSlots {
		return nil, fmt.Errorf("%w: %d hops take %d slots", ErrChainTooLong, len(chain), SlotsNeeded(chain))
	}
	if fin.Chunks < 1 || fin.Chunks > MaxChunks || fin.Chunk < 1 || fin.Chunk > fin.Chunks {
		return nil, fmt.Errorf("%w: chunk %d of %d", ErrBadChunk, fin.Chunk, fin.Chunks)
	}
	for i, h := range chain {
		if h.Key == nil {
			return nil, fmt.Errorf("%w: hop %d has no key", ErrBadKey, i+1)
		}
		if _, ok := lengthByte(h.Key.Size()); !ok {
			return nil, fmt.Errorf("%w: hop %d has a %d-bit key", ErrBadKey, i+1, h.Key.N.BitLen())
		}
		if len(h.Address) > AddressSize {
			return nil, fmt.Errorf("%w: hop %d", ErrAddressTooLong, i+1)
		}
	}
	today := now.Unix() / 86400
	pkt := make([]byte, PacketSize)
	copy(pkt[HeaderAreaSize:], payload)
	hdr, body := pkt[:HeaderAreaSize], pkt[HeaderAreaSize:]
	// Built from the exit backwards (§6); each hop's step wraps the result
	// of the previous one in place.
	for i := len(chain) - 1; i >= 0; i-- {
		var next string
		if i < len(chain)-1 {
			next = chain[i+1].Address
		}
		if err := wrapHop(rnd, today, chain[i], next, fin, hdr, body, enc); err != nil {
			return nil, fmt.Errorf("hop %d (%s): %w", i+1, chain[i].Address, err)
		}
	}
	return pkt, nil
}

// lengthByte maps an RSA modulus size in bytes to the header's length byte.
func lengthByte(size int) (byte, bool) {
	switch size {
	case 128:
		return 0x80, true
	case 256:
		return 0x02, true
	case 384:
		return 0x03, true
	case 512:
		return 0x04, true
	}
	return 0, false
}

// wrapHop adds hop h in front of the header area built so far. next is the
// following hop's address, or "" when h is the exit. Random values are drawn
// in a fixed order (tests replay recorded ones): packet ID (intermediate
// hops only), body key, IVs, padding of the 328-byte part, [exit: the 19
// following slots], day offset, header key, header IV, [large keys: HMAC key,
// AES seed, exit: random mac_next], header padding.
func wrapHop(rnd io.Reader, today int64, h Hop, next string, fin Final, hdr, body []byte, enc rsaEncryptFunc) error {
	var p [encPartSize]byte
	var kb [24]byte
	exit := next == ""
	if exit {
		copy(p[0:16], fin.PacketID[:])
	} else if _, err := io.ReadFull(rnd, p[0:16]); err != nil {
		return err
	}
	if _, err := io.ReadFull(rnd, kb[:]); err != nil {
		return err
	}
	copy(p[16:40], kb[:])
	des := newTripleDES(kb[:])
	// follow holds the 19 slots after this hop's own header, plaintext of
	// the layer this hop removes.
	follow := make([]byte, followLength)
	var n int // end of the fields covered by the digest
	if exit {
		off := 41
		if fin.Chunks == 1 {
			p[40] = TypeFinal
		} else {
			p[40] = TypeChunk
			p[41], p[42] = byte(fin.Chunk), byte(fin.Chunks)
			off = 43
		}
		copy(p[off:off+16], fin.MessageID[:])
		iv := p[off+16 : off+24]
		if _, err := io.ReadFull(rnd, iv); err != nil {
			return err
		}
		n = off + 24 + 7
		if _, err := io.ReadFull(rnd, p[n+16:]); err != nil {
			return err
		}
		if _, err := io.ReadFull(rnd, follow); err != nil {
			return err
		}
		cbcEncrypt(des, iv, body, body)
		if err := stamp(rnd, today, p[off+24:n]); err != nil {
			return err
		}
	} else {
		p[40] = TypeIntermediate
		ivs := p[41 : 41+ivArraySize]
		if _, err := io.ReadFull(rnd, ivs); err != nil {
			return err
		}
		copy(p[193:273], next) // NUL-padded: p starts zeroed
		n = 280
		if _, err := io.ReadFull(rnd, p[296:]); err != nil {
			return err
		}
		cbcEncrypt(des, ivs[18*8:19*8], body, body)
		for s := 0; s < followSlots; s++ {
			cbcEncrypt(des, ivs[s*8:s*8+8], follow[s*SlotSize:(s+1)*SlotSize], hdr[s*SlotSize:(s+1)*SlotSize])
		}
		if err := stamp(rnd, today, p[273:n]); err != nil {
			return err
		}
	}
	sum := md5.Sum(p[:n])
	copy(p[n:n+16], sum[:])

	var kh [24]byte
	var ivh [8]byte
	if _, err := io.ReadFull(rnd, kh[:]); err != nil {
		return err
	}
	if _, err := io.ReadFull(rnd, ivh[:]); err != nil {
		return err
	}
	e := p // encrypted in place: p is a copy
	cbcEncrypt(newTripleDES(kh[:]), ivh[:], e[:], e[:])

	size := h.Key.Size()
	lb, _ := lengthByte(size)
	var own []byte // this hop's header block
	var rsaPlain []byte
	if size == 128 {
		own = make([]byte, SlotSize)
		rsaPlain = kh[:]
	} else {
		own = make([]byte, 2*SlotSize)
		var secret [64 + 32]byte
		if _, err := io.ReadFull(rnd, secret[:]); err != nil {
			return err
		}
		hk, aesPre := secret[:64], secret[64:]
		k := deriveLarge(hk, aesPre)
		c := newCFB(k.tte[:], k.ivAES[:16])
		c.xor(e[:], e[:], false) // stream A
		c.reset(k.pay[:])
		c.xor(body, body, false) // stream B
		c.reset(k.hdr[:])
		c.xor(follow, follow, false) // stream C
		mac := hmac.New(sha256.New, hk)
		rsaPlain = make([]byte, rsaLargeKey)
		copy(rsaPlain[0:24], kh[:])
		copy(rsaPlain[24:88], hk)
		if exit {
			// Random, so that the exit cannot tell a full chain (§4.2).
			if _, err := io.ReadFull(rnd, rsaPlain[88:120]); err != nil {
				return err
			}
		} else {
			copy(rsaPlain[88:120], hmacSum(mac, follow[:2*SlotSize]))
		}
		copy(rsaPlain[120:152], hmacSum(mac, body))
		copy(rsaPlain[152:184], hmacSum(mac, e[:]))
		copy(rsaPlain[184:216], aesPre)
	}
	ct, err := enc(h.Key, rsaPlain)
	if err != nil {
		return fmt.Errorf("RSA encryption: %w", err)
	}
	if len(ct) != size {
		return fmt.Errorf("%w: RSA ciphertext of %d bytes", ErrRSADecrypt, len(ct))
	}
	copy(own[0:16], h.KeyID[:])
	own[16] = lb
	copy(own[17:], ct)
	copy(own[17+size:], ivh[:])
	copy(own[25+size:], e[:])
	if _, err := io.ReadFull(rnd, own[353+size:]); err != nil {
		return err
	}
	// New header area: own block, then as many following slots as fit; the
	// discarded tail only ever holds padding while the chain fits (§6).
	copy(hdr, own)
	copy(hdr[len(own):], follow)
	return nil
}

// stamp writes the timestamp marker and today minus 0–3 days (§5.5).
func stamp(rnd io.Reader, today int64, dst []byte) error {
	var r [1]byte
	if _, err := io.ReadFull(rnd, r[:]); err != nil {
		return err
	}
	copy(dst[0:5], timestampMarker[:])
	binary.LittleEndian.PutUint16(dst[5:7], uint16(today-int64(r[0]&3)))
	return nil
}
