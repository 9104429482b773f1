package pool

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ID names an entry of the incoming queue, the pool or the outgoing queue.
// It is random (never a sequence number or a time) and differs at each
// stage, so it cannot link stages.
type ID [16]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Kind is what a pool or outgoing entry is; the values are the type
// numbers of Mixmaster's pool files (§12.1). A dummy is a KindPacket like
// any other packet: marking it would tell a seizer which traffic is cover.
type Kind uint8

const (
	KindPacket Kind = 0 // a 20480-byte packet for the next remailer; Dest is its address
	KindMail   Kind = 1 // a final message (RFC 822 text) to deliver by mail
	KindPost   Kind = 2 // a final message to post to Usenet
)

func (k Kind) String() string {
	switch k {
	case KindPacket:
		return "packet"
	case KindMail:
		return "mail"
	case KindPost:
		return "post"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k Kind) valid() bool { return k <= KindPost }

// Item is one thing to send: it enters the pool by Accept, AcceptChunk or
// AddPool.
type Item struct {
	Kind Kind
	// Dest is the next hop's address for KindPacket; for final messages it
	// is whatever the sender needs besides Data (e.g. envelope recipients),
	// possibly empty.
	Dest string
	Data []byte
	// NotBefore makes the entry latent (§12.1, §12.2 step 2): it takes no
	// part in mixing before this time. Zero means at once.
	NotBefore time.Time
}

// ErrCorrupt is matched (errors.Is) by every error about a record that
// cannot be decoded or unsealed.
var ErrCorrupt = errors.New("corrupt record")

// CorruptError tells which record could not be decoded, so that the
// caller can log it and remove it with Store.DropCorrupt.
type CorruptError struct {
	Bucket string
	Key    []byte
	Err    error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s record %x: %v: %v", e.Bucket, e.Key, ErrCorrupt, e.Err)
}

func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// ID returns the key as an ID when it is one.
func (e *CorruptError) ID() (ID, bool) {
	var id ID
	if len(e.Key) != len(id) {
		return id, false
	}
	copy(id[:], e.Key)
	return id, true
}

func corrupt(bucket []byte, key []byte, err error) error {
	return &CorruptError{Bucket: string(bucket), Key: append([]byte(nil), key...), Err: err}
}

// Record layouts. Every value starts with a format byte so that the
// layout can evolve; integers are big-endian, times are Unix seconds (0 =
// none). Only what the store must read without the key is in clear.
//
//	incoming: v | sealed(raw mail)
//	pool:     v | entered(8) | release(8) | notBefore(8) | sealed(payload)
//	outgoing: v | queued(8) | next(8) | attempts(4) | leased(1) | sealed(payload)
//	chunk:    v | stored(8) | count(1) | sealed(chunk data); key = msgID | num
//	replay:   logged(8); key = packet ID
//	payload:  kind(1) | uvarint len(dest) | dest | data
const recordV1 = 1

const (
	poolHdr     = 1 + 8 + 8 + 8
	outgoingHdr = 1 + 8 + 8 + 4 + 1
	chunkHdr    = 1 + 8 + 1
)

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}

func putTime(b []byte, t time.Time) { binary.BigEndian.PutUint64(b, uint64(unix(t))) }
func getTime(b []byte) time.Time    { return fromUnix(int64(binary.BigEndian.Uint64(b))) }

func checkHeader(v []byte, hdr int) error {
	if len(v) < hdr {
		return fmt.Errorf("short record (%d bytes)", len(v))
	}
	if v[0] != recordV1 {
		return fmt.Errorf("unknown record format %d", v[0])
	}
	return nil
}

type poolRec struct {
	entered, release, notBefore time.Time
	sealed                      []byte
}

func (r poolRec) encode() []byte {
	b := make([]byte, poolHdr+len(r.sealed))
	b[0] = recordV1
	putTime(b[1:], r.entered)
	putTime(b[9:], r.release)
	putTime(b[17:], r.notBefore)
	copy(b[poolHdr:], r.sealed)
	return b
}

// decodePool aliases v: the result is valid only inside the transaction.
func decodePool(v []byte) (poolRec, error) {
	if err := checkHeader(v, poolHdr); err != nil {
		return poolRec{}, err
	}
	return poolRec{getTime(v[1:]), getTime(v[9:]), getTime(v[17:]), v[poolHdr:]}, nil
}

type outRec struct {
	queued, next time.Time
	attempts     uint32
	leased       bool
	sealed       []byte
}

func (r outRec) encode() []byte {
	b := make([]byte, outgoingHdr+len(r.sealed))
	b[0] = recordV1
	putTime(b[1:], r.queued)
	putTime(b[9:], r.next)
	binary.BigEndian.PutUint32(b[17:], r.attempts)
	if r.leased {
		b[21] = 1
	}
	copy(b[outgoingHdr:], r.sealed)
	return b
}

func decodeOut(v []byte) (outRec, error) {
	if err := checkHeader(v, outgoingHdr); err != nil {
		return outRec{}, err
	}
	return outRec{getTime(v[1:]), getTime(v[9:]), binary.BigEndian.Uint32(v[17:]), v[21] == 1, v[outgoingHdr:]}, nil
}

type chunkRec struct {
	stored time.Time
	count  int
	sealed []byte
}

func (r chunkRec) encode() []byte {
	b := make([]byte, chunkHdr+len(r.sealed))
	b[0] = recordV1
	putTime(b[1:], r.stored)
	b[9] = byte(r.count)
	copy(b[chunkHdr:], r.sealed)
	return b
}

func decodeChunk(v []byte) (chunkRec, error) {
	if err := checkHeader(v, chunkHdr); err != nil {
		return chunkRec{}, err
	}
	return chunkRec{getTime(v[1:]), int(v[9]), v[chunkHdr:]}, nil
}

// payload is the sealed part of pool and outgoing entries.
func encodePayload(it Item) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(it.Dest)+len(it.Data))
	b = append(b, byte(it.Kind))
	b = binary.AppendUvarint(b, uint64(len(it.Dest)))
	b = append(b, it.Dest...)
	return append(b, it.Data...)
}

func decodePayload(b []byte) (Item, error) {
	if len(b) < 1 {
		return Item{}, errors.New("empty payload")
	}
	it := Item{Kind: Kind(b[0])}
	if !it.Kind.valid() {
		return Item{}, fmt.Errorf("unknown kind %d", b[0])
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n > uint64(len(b)-1-w) {
		return Item{}, errors.New("bad destination length")
	}
	rest := b[1+w:]
	it.Dest = string(rest[:n])
	it.Data = rest[n:]
	return it, nil
}
