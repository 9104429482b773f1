package packet

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// Result is what one hop learns from a packet (§7).
type Result struct {
	Type     int // TypeIntermediate, TypeFinal or TypeChunk
	KeyID    KeyID
	PacketID [PacketIDSize]byte
	Days     uint16 // timestamp: days since 1970-01-01 UTC

	// Intermediate: where Packet goes next.
	NextHop string
	Packet  []byte // the 20480-byte packet for NextHop

	// Final and chunk packets.
	MessageID     [MessageIDSize]byte
	Chunk, Chunks int    // 1-based; 1 of 1 for TypeFinal
	Payload       []byte // decrypted 10240-byte payload area (see DecodePayload)
}

// Process removes one layer of pkt with the matching key from keys and
// returns what it carries. rnd supplies the one fresh random slot of a
// forwarded packet. Age and replay checks are the caller's (§13). Errors
// wrap the Err* values of this package; pkt is not modified.
func Process(keys SecretKeys, pkt []byte, rnd io.Reader) (*Result, error) {
	if len(pkt) != PacketSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrLength, len(pkt))
	}
	r := &Result{}
	copy(r.KeyID[:], pkt[0:16])
	priv := keys.SecretKey(r.KeyID)
	if priv == nil {
		return nil, fmt.Errorf("%w: %x", ErrUnknownKey, r.KeyID)
	}
	k := 0
	switch pkt[16] {
	case 0x80:
		k = 128
	case 0x02, 0x03, 0x04:
		k = 128 * int(pkt[16])
	default:
		return nil, fmt.Errorf("%w: 0x%02x", ErrRSALength, pkt[16])
	}
	if k != priv.Size() {
		return nil, fmt.Errorf("%w: %d-byte ciphertext for a %d-bit key", ErrRSALength, k, priv.N.BitLen())
	}
	material, err := rsa.DecryptPKCS1v15(nil, priv, pkt[17:17+k])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRSADecrypt, err)
	}
	want := rsaSmallKey
	if k > 128 {
		want = rsaLargeKey
	}
	if len(material) != want {
		return nil, fmt.Errorf("%w: %d bytes", ErrKeyMaterial, len(material))
	}
	ivh := pkt[17+k : 25+k]
	var p [encPartSize]byte
	copy(p[:], pkt[25+k:353+k])
	body := pkt[HeaderAreaSize:]

	var lk *largeKeys
	var c *cfb
	var mac []byte
	if k > 128 {
		hk := material[24:88]
		m := hmac.New(sha256.New, hk)
		if !hmac.Equal(hmacSum(m, body), material[120:152]) {
			return nil, ErrAntiTagBody
		}
		if !hmac.Equal(hmacSum(m, p[:]), material[152:184]) {
			return nil, ErrAntiTagHeader
		}
		mac = hmacSum(m, pkt[2*SlotSize:4*SlotSize])
		lk = deriveLarge(hk, material[184:216])
		c = newCFB(lk.tte[:], lk.ivAES[:16])
		c.xor(p[:], p[:], true) // stream A
	}
	cbcDecrypt(newTripleDES(material[0:24]), ivh, p[:], p[:])
	copy(r.PacketID[:], p[0:16])
	r.Type = int(p[40])
	if r.Type == TypeIntermediate && lk != nil && !hmac.Equal(mac, material[88:120]) {
		return nil, ErrAntiTagNext
	}
	var ts, n int // offset of the timestamp marker, end of the digested part
	switch r.Type {
	case TypeIntermediate:
		ts, n = 273, 280
	case TypeFinal:
		ts, n = 65, 72
	case TypeChunk:
		ts, n = 67, 74
	default:
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, r.Type)
	}
	if !bytes.Equal(p[ts:ts+5], timestampMarker[:]) {
		return nil, ErrNoTimestamp
	}
	if sum := md5.Sum(p[:n]); !bytes.Equal(sum[:], p[n:n+16]) {
		return nil, ErrDigest
	}
	r.Days = binary.LittleEndian.Uint16(p[ts+5 : ts+7])

	out := make([]byte, PacketSize)
	payload := out[HeaderAreaSize:]
	var follow []byte // the header slots after this hop's block
	src := body       // the payload under the 3DES layer
	if lk == nil {
		follow = pkt[SlotSize:HeaderAreaSize]
	} else {
		src = payload
		// Stream C covers 19 slots from the end of the two-slot block, so
		// its last slot is taken from the payload area (§7 step 11).
		c.reset(lk.pay[:])
		c.xor(payload, body, true) // stream B
		c.reset(lk.hdr[:])
		follow = out[:followLength]
		c.xor(follow, pkt[2*SlotSize:2*SlotSize+followLength], true) // stream C
	}
	des := newTripleDES(p[16:40])
	switch r.Type {
	case TypeIntermediate:
		ivs := p[41 : 41+ivArraySize]
		for s := 0; s < followSlots; s++ {
			cbcDecrypt(des, ivs[s*8:s*8+8], out[s*SlotSize:(s+1)*SlotSize], follow[s*SlotSize:(s+1)*SlotSize])
		}
		if _, err := io.ReadFull(rnd, out[followLength:HeaderAreaSize]); err != nil {
			return nil, fmt.Errorf("packet: random slot: %w", err)
		}
		cbcDecrypt(des, ivs[18*8:19*8], payload, src)
		addr := p[193:273]
		if i := bytes.IndexAny(addr, "\x00\r\n"); i >= 0 {
			addr = addr[:i]
		}
		if len(addr) == 0 {
			return nil, ErrNoAddress
		}
		r.NextHop = string(addr)
		r.Packet = out
	default:
		off := 41
		r.Chunk, r.Chunks = 1, 1
		if r.Type == TypeChunk {
			r.Chunk, r.Chunks = int(p[41]), int(p[42])
			if r.Chunks < 1 || r.Chunk < 1 || r.Chunk > r.Chunks {
				return nil, fmt.Errorf("%w: chunk %d of %d", ErrBadChunk, r.Chunk, r.Chunks)
			}
			off = 43
		}
		copy(r.MessageID[:], p[off:off+16])
		cbcDecrypt(des, p[off+16:off+24], payload, src)
		if l := binary.LittleEndian.Uint32(payload[0:4]); l > MaxChunkData {
			return nil, fmt.Errorf("%w: %d", ErrPayloadLength, l)
		}
		r.Payload = payload
	}
	return r, nil
}
