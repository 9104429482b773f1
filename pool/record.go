package pool

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
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
//	incoming: v | loc(8)
//	pool:     v | entered(8) | release(8) | notBefore(8) | loc(8)
//	outgoing: v | queued(8) | next(8) | attempts(4) | leased(1) | loc(8)
//	loc:      slot(4) | length(4) of the sealed contents (raw mail or payload)
//	data:     v | sealed contents, for loc slot 0xffffffff (inline); key = the entry's ID
//	chunk:    v | stored(8) | count(1) | sealed(chunk data); key = msgID | num
//	replay:   logged(8); key = packet ID
//	payload:  kind(1) | uvarint len(dest) | dest | data
//
// The queues are indexes: small records, with the 20–30 KB contents in a
// spool slot (spool.go) or, when too large for one, in the data bucket.
// What scans a queue (pool rounds, Due, Stats, the incoming list) reads a
// few pages, never the packets: bbolt reads through mmap, and a scan over
// inline packets would map the whole file into the daemon's memory.
// Format 1 kept contents inline in the queue records; Open converts it
// (migrateV1).
const recordV1 = 1

const incomingHdr = 1 + locLen

func incomingRec(l loc) []byte {
	b := make([]byte, incomingHdr)
	b[0] = recordV1
	l.put(b[1:])
	return b
}

// indexLoc returns the loc that ends every queue index record.
func indexLoc(v []byte) (loc, bool) {
	if len(v) < 1+locLen || v[0] != recordV1 {
		return loc{}, false
	}
	return getLoc(v[len(v)-locLen:]), true
}

func dataRecord(sealed []byte) []byte {
	return append([]byte{recordV1}, sealed...)
}

func isQueue(bucket []byte) bool {
	return bytes.Equal(bucket, bIncoming) || bytes.Equal(bucket, bPool) || bytes.Equal(bucket, bOutgoing)
}

// putEntry adds a queue entry: its index record and, when the contents
// are not in the spool, the inline contents.
func putEntry(tx *bolt.Tx, queue []byte, id ID, index, inline []byte) error {
	if err := putNew(tx.Bucket(queue), id[:], index); err != nil {
		return err
	}
	if inline == nil {
		return nil
	}
	return putNew(tx.Bucket(bData), id[:], dataRecord(inline))
}

// deleteEntry removes a queue entry and its contents; its spool slot is
// retired once the transaction commits.
func (s *Store) deleteEntry(tx *bolt.Tx, queue []byte, key []byte) error {
	b := tx.Bucket(queue)
	l, ok := indexLoc(b.Get(key))
	if err := b.Delete(key); err != nil {
		return err
	}
	if ok && l.slot != inlineSlot {
		tx.OnCommit(func() { s.sp.retire(l.slot) })
		return nil
	}
	return tx.Bucket(bData).Delete(key)
}

// loadContents returns the sealed contents of a queue entry. A missing
// or malformed record is reported as a corrupt record of the queue, so
// that DropCorrupt removes the entry. Outside a write transaction the
// caller is registered with the spool (beginRead).
func (s *Store) loadContents(tx *bolt.Tx, queue []byte, key []byte) ([]byte, error) {
	l, ok := indexLoc(tx.Bucket(queue).Get(key))
	if !ok {
		return nil, corrupt(queue, key, errors.New("bad index record"))
	}
	if l.slot != inlineSlot {
		b, err := s.sp.read(l)
		if err != nil {
			return nil, corrupt(queue, key, err)
		}
		return b, nil
	}
	v := tx.Bucket(bData).Get(key)
	if v == nil {
		return nil, corrupt(queue, key, errors.New("contents missing"))
	}
	if err := checkHeader(v, 1); err != nil {
		return nil, corrupt(queue, key, err)
	}
	return v[1:], nil
}

// migrateV1 converts a format 1 file: contents move out of the queue
// records into data (inline). It runs inside Open's transaction.
func migrateV1(tx *bolt.Tx) error {
	for _, q := range []struct {
		name []byte
		hdr  int
	}{{bIncoming, 1}, {bPool, poolHdrV1}, {bOutgoing, outgoingHdrV1}} {
		b := tx.Bucket(q.name)
		type kv struct{ k, v []byte }
		var all []kv
		err := b.ForEach(func(k, v []byte) error {
			all = append(all, kv{bytes.Clone(k), bytes.Clone(v)})
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range all {
			if len(e.v) < q.hdr || e.v[0] != recordV1 {
				continue // left for the corrupt-record handling
			}
			if err := tx.Bucket(bData).Put(e.k, dataRecord(e.v[q.hdr:])); err != nil {
				return err
			}
			var l [locLen]byte
			loc{inlineSlot, uint32(len(e.v) - q.hdr)}.put(l[:])
			if err := b.Put(e.k, append(e.v[:q.hdr:q.hdr], l[:]...)); err != nil {
				return err
			}
		}
	}
	return nil
}

const (
	poolHdrV1     = 1 + 8 + 8 + 8
	outgoingHdrV1 = 1 + 8 + 8 + 4 + 1
	poolHdr       = poolHdrV1 + locLen
	outgoingHdr   = outgoingHdrV1 + locLen
	chunkHdr      = 1 + 8 + 1
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
	loc                         loc
}

func (r poolRec) encode() []byte {
	b := make([]byte, poolHdr)
	b[0] = recordV1
	putTime(b[1:], r.entered)
	putTime(b[9:], r.release)
	putTime(b[17:], r.notBefore)
	r.loc.put(b[poolHdrV1:])
	return b
}

func decodePool(v []byte) (poolRec, error) {
	if err := checkHeader(v, poolHdr); err != nil {
		return poolRec{}, err
	}
	return poolRec{getTime(v[1:]), getTime(v[9:]), getTime(v[17:]), getLoc(v[poolHdrV1:])}, nil
}

type outRec struct {
	queued, next time.Time
	attempts     uint32
	leased       bool
	loc          loc
}

func (r outRec) encode() []byte {
	b := make([]byte, outgoingHdr)
	b[0] = recordV1
	putTime(b[1:], r.queued)
	putTime(b[9:], r.next)
	binary.BigEndian.PutUint32(b[17:], r.attempts)
	if r.leased {
		b[21] = 1
	}
	r.loc.put(b[outgoingHdrV1:])
	return b
}

func decodeOut(v []byte) (outRec, error) {
	if err := checkHeader(v, outgoingHdr); err != nil {
		return outRec{}, err
	}
	return outRec{getTime(v[1:]), getTime(v[9:]), binary.BigEndian.Uint32(v[17:]), v[21] == 1, getLoc(v[outgoingHdrV1:])}, nil
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
