package pool

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// chunkKeyLen: message ID (16) and chunk number (1). Chunks of one message
// are adjacent in key order.
const chunkKeyLen = 17

func chunkKey(msg [16]byte, num int) []byte {
	return append(msg[:len(msg):len(msg)], byte(num))
}

// Chunk is one part of a multi-part message (packet type 2, §5.4, §8.5).
type Chunk struct {
	MsgID [16]byte // shared by all chunks of the message
	Num   int      // 1-based chunk number
	Count int      // chunk count this chunk claims; chunk 1's is the one used
	Data  []byte   // the chunk's message bytes (may be empty)
}

// AcceptChunk is Accept for one chunk of a multi-part message, in one
// transaction: the incoming entry is deleted, replayID is tested and
// logged as in Accept (dup = true for a replay, which stores nothing), and
// the chunk is stored (a second chunk with the same number is ignored).
// Following §8.5, the count is taken from chunk 1's record; once chunks
// 1..count are all present, build gets their data in chunk order and
// returns the items the message becomes (the final mail, or nothing for a
// dummy), and in the same transaction those items enter the pool and the
// message's chunks are deleted, so reassembly is atomic: a crash leaves
// either the chunks or the pooled result. complete tells that this
// happened.
//
// build may be called more than once (Batch retries) and must have no
// side effects. If it returns an error the message is discarded anyway:
// the chunks are deleted, the incoming entry is consumed, the replay ID
// stays logged, and AcceptChunk returns an error matching both ErrRejected
// and build's error (counted as CounterChunksRejected) — a message that
// cannot be parsed will not parse on a retry either.
//
// Num and Count must be 1..255 (§8.5); the caller validates them, an
// invalid chunk changes nothing and returns an error.
func (s *Store) AcceptChunk(in ID, replayID [16]byte, now time.Time, c Chunk,
	build func(parts [][]byte) ([]Item, error)) (complete, dup bool, err error) {
	if c.Num < 1 || c.Num > 255 || c.Count < 1 || c.Count > 255 {
		return false, false, fmt.Errorf("pool: accept chunk %v: bad chunk %d of %d", in, c.Num, c.Count)
	}
	sealed, err := s.seal(c.Data)
	if err != nil {
		return false, false, err
	}
	rec := chunkRec{stored: s.ceil(now), count: c.Count, sealed: sealed}.encode()
	key := chunkKey(c.MsgID, c.Num)

	var missing bool
	var buildErr error
	err = s.batch(func(tx *bolt.Tx) error {
		complete, buildErr = false, nil
		var err error
		missing, dup, err = s.consumeIncoming(tx, in, replayID, now)
		if err != nil || missing || dup {
			return err
		}
		cb := tx.Bucket(bChunks)
		if cb.Get(key) == nil {
			if err := cb.Put(key, rec); err != nil {
				return err
			}
		}
		parts, err := s.collect(cb, c.MsgID)
		if err != nil || parts == nil {
			return err
		}
		items, berr := build(parts)
		if err := deleteMessage(cb, c.MsgID); err != nil {
			return err
		}
		if berr != nil {
			buildErr = berr
			return bump(tx, CounterChunksRejected, 1)
		}
		// Inline: a spool write here would not be synced before the
		// commit. A reassembled message is mostly too large for a slot.
		entries, err := s.prepare(now, items, false)
		if err != nil {
			return err
		}
		complete = true
		return putPool(tx, entries)
	})
	switch {
	case err != nil:
		return false, false, fmt.Errorf("pool: accept chunk %v: %w", in, err)
	case missing:
		return false, false, fmt.Errorf("pool: accept chunk %v: %w", in, ErrNotFound)
	case buildErr != nil:
		return false, false, fmt.Errorf("pool: accept chunk %v: %w: %w", in, ErrRejected, buildErr)
	}
	return complete, dup, nil
}

// collect returns the data of chunks 1..count in order when all are
// present, count being chunk 1's; nil, nil when some are missing.
func (s *Store) collect(cb *bolt.Bucket, msg [16]byte) ([][]byte, error) {
	k1 := chunkKey(msg, 1)
	v1 := cb.Get(k1)
	if v1 == nil {
		return nil, nil
	}
	r1, err := decodeChunk(v1)
	if err != nil {
		return nil, corrupt(bChunks, k1, err)
	}
	if r1.count < 1 {
		return nil, corrupt(bChunks, k1, errors.New("chunk count 0"))
	}
	for i := 2; i <= r1.count; i++ {
		if cb.Get(chunkKey(msg, i)) == nil {
			return nil, nil
		}
	}
	parts := make([][]byte, r1.count)
	for i := range parts {
		k := chunkKey(msg, i+1)
		r, err := decodeChunk(cb.Get(k))
		if err != nil {
			return nil, corrupt(bChunks, k, err)
		}
		if parts[i], err = s.opt.Sealer.Open(r.sealed); err != nil {
			return nil, corrupt(bChunks, k, err)
		}
	}
	return parts, nil
}

// deleteMessage deletes every stored chunk of msg, also numbers beyond
// chunk 1's count, which can never be used.
func deleteMessage(cb *bolt.Bucket, msg [16]byte) error {
	var keys [][]byte
	c := cb.Cursor()
	for k, _ := c.Seek(msg[:]); k != nil && bytes.HasPrefix(k, msg[:]); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := cb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// ExpireChunks deletes chunks stored more than ChunkExpiry ago
// (PACKETEXP, §8.5; each chunk on its own, like 3.0.2d's file times) and
// returns how many.
func (s *Store) ExpireChunks(now time.Time) (int, error) {
	limit := now.Add(-s.opt.ChunkExpiry)
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		cb := tx.Bucket(bChunks)
		var old [][]byte
		err := cb.ForEach(func(k, v []byte) error {
			r, err := decodeChunk(v)
			if err != nil {
				return corrupt(bChunks, k, err)
			}
			if !r.stored.After(limit) {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := cb.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return bump(tx, CounterChunksExpired, uint64(n))
	})
	if err != nil {
		return 0, fmt.Errorf("pool: expire chunks: %w", err)
	}
	return n, nil
}
