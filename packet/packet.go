// Package packet implements the Mixmaster Type II packet format (protocol 2,
// byte-compatible with Mixmaster 3.0.2d): building packets for a chain of
// remailers, processing one hop with a secret key, the payload's message
// structure with chunking and compression, and the e-mail armour.
//
// The package is pure: it does no I/O, reads no clock and uses no global
// randomness. Callers pass an io.Reader for randomness and the current day.
// Section numbers (§) refer to docs/spec/mixmaster-type2.md.
package packet

import (
	"crypto/rsa"
	"errors"
)

// Version is the software version written into the armour's Remailer-Type
// line and key lines. We write the reference program's own, so that our
// clients and remailers are not told apart from Mixmaster 3.0.2d by it:
// receivers only check the "Mixmaster" prefix (§9.1).
const Version = "3.0.2d"

// Geometry of a packet (§2).
const (
	PacketSize     = 20480 // whole packet
	HeaderAreaSize = 10240 // 20 header slots
	PayloadSize    = 10240 // payload area
	SlotSize       = 512   // one header slot
	MaxSlots       = 20    // slots in the header area
	MaxChunkData   = 10236 // message bytes one payload area carries (§8.1)
	MaxChunks      = 255   // the chunk count is one byte (§8.5)
	AddressSize    = 80    // NUL-padded text fields (§5.2, §8.2)
	KeyIDSize      = 16
	PacketIDSize   = 16
	MessageIDSize  = 16
)

// Packet types carried in the encrypted header part (§5.1).
const (
	TypeIntermediate = 0
	TypeFinal        = 1
	TypeChunk        = 2
)

// KeyID is the MD5 identifier of a remailer's RSA key (§14.2).
type KeyID [KeyIDSize]byte

// Hop is one remailer of a chain as the client needs it.
type Hop struct {
	Address string // e-mail address written into the previous hop's header
	KeyID   KeyID
	Key     *rsa.PublicKey // 1024, 2048, 3072 or 4096 bits
}

// Slots returns how many header slots the hop occupies (§2).
func (h Hop) Slots() int {
	if h.Key != nil && h.Key.Size() > 128 {
		return 2
	}
	return 1
}

// SecretKeys finds a remailer's secret key by key ID. It returns nil when no
// usable key has that ID. keyring.Secring implements it.
type SecretKeys interface {
	SecretKey(id KeyID) *rsa.PrivateKey
}

// Errors returned when building or processing packets. Processing errors
// match the verdict names of the reference program's traces (§7); test with
// errors.Is.
var (
	ErrLength         = errors.New("packet: wrong packet length")
	ErrUnknownKey     = errors.New("packet: unknown key ID")
	ErrRSALength      = errors.New("packet: invalid RSA length byte")
	ErrRSADecrypt     = errors.New("packet: RSA decryption failed")
	ErrKeyMaterial    = errors.New("packet: wrong length of RSA-protected key material")
	ErrAntiTagBody    = errors.New("packet: payload HMAC mismatch (tagging attempt)")
	ErrAntiTagHeader  = errors.New("packet: header HMAC mismatch (tagging attempt)")
	ErrAntiTagNext    = errors.New("packet: next-header HMAC mismatch (tagging attempt)")
	ErrUnknownType    = errors.New("packet: unknown packet type")
	ErrNoTimestamp    = errors.New("packet: timestamp marker missing")
	ErrDigest         = errors.New("packet: header digest mismatch")
	ErrBadChunk       = errors.New("packet: invalid chunk number or count")
	ErrPayloadLength  = errors.New("packet: invalid payload length field")
	ErrChainTooLong   = errors.New("packet: chain needs more than 20 header slots")
	ErrEmptyChain     = errors.New("packet: empty chain")
	ErrBadKey         = errors.New("packet: unsupported RSA key size")
	ErrAddressTooLong = errors.New("packet: address longer than 80 bytes")
	ErrNoAddress      = errors.New("packet: intermediate packet without next-hop address")
)
