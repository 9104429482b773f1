package pool

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. meta holds the format version, the replay floor and the
// counters.
var (
	bIncoming = []byte("incoming")
	bPool     = []byte("pool")
	bOutgoing = []byte("outgoing")
	bReplay   = []byte("replay")
	bChunks   = []byte("chunks")
	bMeta     = []byte("meta")

	mFormat      = []byte("format")
	mKeyCheck    = []byte("key-check")
	mReplayFloor = []byte("replay-floor")
	counterPfx   = "count/"
)

const formatVersion = 1

// keyCheck is sealed into meta when the file is created, so that Open can
// tell a wrong Sealer from corrupt records.
const keyCheck = "mixgo pool key check"

// Counter names used in Stats.Counters.
const (
	CounterSent           = "sent"              // outgoing entries acknowledged
	CounterReplay         = "replay"            // packets dropped by the replay log (§13)
	CounterRejected       = "rejected"          // incoming entries dropped by DropIncoming
	CounterFailed         = "dropped-permanent" // outgoing entries dropped after a permanent failure
	CounterGaveUp         = "dropped-giveup"    // outgoing entries dropped after Options.GiveUp
	CounterChunksExpired  = "chunks-expired"    // partial chunks deleted by ExpireChunks
	CounterChunksRejected = "chunks-rejected"   // reassembled messages the build callback refused
	CounterReplayExpired  = "replay-expired"    // replay log records deleted by ExpireReplay
	CounterCorrupt        = "corrupt"           // records deleted by DropCorrupt
)

// ErrNotFound is returned (wrapped) for an ID that is not in the queue the
// call addresses.
var ErrNotFound = errors.New("pool: no such entry")

// ErrWrongKey is returned by Open when the Sealer cannot open the file's
// key check: another key than the one the file was created with.
var ErrWrongKey = errors.New("pool: wrong sealing key")

// ErrRejected is wrapped together with the build callback's error when
// AcceptChunk discarded a reassembled message.
var ErrRejected = errors.New("pool: reassembled message rejected")

// Options configures a Store. Zero fields take the defaults shown.
type Options struct {
	Sealer   Sealer   // required: seals every stored message body
	Strategy Strategy // default TimedDynamic(45, 65), what operators run (§17.2)

	RetryBase time.Duration // first retry delay, doubled per attempt; default 1 min
	RetryMax  time.Duration // cap of the retry delay; default 1 h
	GiveUp    time.Duration // drop an outgoing entry this long after it was queued; default 5 days
	Lease     time.Duration // a Due hand-out is not handed out again before this; default 10 min

	ChunkExpiry  time.Duration // PACKETEXP (§8.5); default 7 days
	ReplayExpiry time.Duration // IDEXP (§13); default 7 days

	// Granularity to which stored times of pool entries (down), chunks and
	// replay records (up) are rounded; default 1 h.
	Granularity time.Duration
	// BatchDelay is how long a Batch call waits for others to share its
	// commit (bbolt's MaxBatchDelay); default 10 ms.
	BatchDelay time.Duration
	// LockTimeout bounds the wait for the file lock; default 5 s.
	LockTimeout time.Duration

	Rand io.Reader // IDs and strategy randomness; default crypto/rand
}

func (o *Options) setDefaults() error {
	if o.Sealer == nil {
		return errors.New("pool: Options.Sealer is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Strategy == nil {
		o.Strategy = TimedDynamic(45, 65)
	}
	def(&o.RetryBase, time.Minute)
	def(&o.RetryMax, time.Hour)
	def(&o.GiveUp, 5*24*time.Hour)
	def(&o.Lease, 10*time.Minute)
	def(&o.ChunkExpiry, 7*24*time.Hour)
	def(&o.ReplayExpiry, 7*24*time.Hour)
	def(&o.Granularity, time.Hour)
	def(&o.BatchDelay, 10*time.Millisecond)
	def(&o.LockTimeout, 5*time.Second)
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return nil
}

// lockedReader lets concurrent calls share an io.Reader that may not be
// safe for concurrent use.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// Store is the durable state of one remailer. Its methods are safe for
// concurrent use. Only one process can open a file at a time.
type Store struct {
	db   *bolt.DB
	opt  Options
	rand io.Reader
}

// Open opens or creates the store file at path (mode 0600).
func Open(path string, opt Options) (*Store, error) {
	if err := opt.setDefaults(); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.LockTimeout})
	if err != nil {
		return nil, fmt.Errorf("pool: open %s: %w", path, err)
	}
	db.MaxBatchDelay = opt.BatchDelay
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bIncoming, bPool, bOutgoing, bReplay, bChunks, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bMeta)
		v := meta.Get(mFormat)
		if v == nil { // new file
			check, err := opt.Sealer.Seal([]byte(keyCheck))
			if err != nil {
				return fmt.Errorf("seal key check: %w", err)
			}
			if err := meta.Put(mKeyCheck, check); err != nil {
				return err
			}
			return meta.Put(mFormat, []byte{formatVersion})
		}
		if len(v) != 1 || v[0] != formatVersion {
			return fmt.Errorf("unsupported store format %x", v)
		}
		if plain, err := opt.Sealer.Open(meta.Get(mKeyCheck)); err != nil || string(plain) != keyCheck {
			return ErrWrongKey
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("pool: open %s: %w", path, err)
	}
	return &Store{db: db, opt: opt, rand: &lockedReader{r: opt.Rand}}, nil
}

// Close closes the file. Every call that returned before is durable.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) newID() (ID, error) {
	var id ID
	if _, err := io.ReadFull(s.rand, id[:]); err != nil {
		return id, fmt.Errorf("pool: random ID: %w", err)
	}
	return id, nil
}

func (s *Store) seal(plain []byte) ([]byte, error) {
	b, err := s.opt.Sealer.Seal(plain)
	if err != nil {
		return nil, fmt.Errorf("pool: seal: %w", err)
	}
	return b, nil
}

func (s *Store) floor(t time.Time) time.Time { return t.Truncate(s.opt.Granularity) }

func (s *Store) ceil(t time.Time) time.Time {
	f := t.Truncate(s.opt.Granularity)
	if f.Equal(t) {
		return f
	}
	return f.Add(s.opt.Granularity)
}

// putNew stores a value under a fresh key; a collision of random IDs is
// reported, not overwritten.
func putNew(b *bolt.Bucket, key, val []byte) error {
	if b.Get(key) != nil {
		return errors.New("pool: random ID collision")
	}
	return b.Put(key, val)
}

func bump(tx *bolt.Tx, name string, n uint64) error {
	if n == 0 {
		return nil
	}
	meta := tx.Bucket(bMeta)
	key := []byte(counterPfx + name)
	var cur uint64
	if v := meta.Get(key); len(v) == 8 {
		cur = binary.BigEndian.Uint64(v)
	}
	return meta.Put(key, binary.BigEndian.AppendUint64(nil, cur+n))
}

// DropCorrupt deletes the record an error of this package named as
// corrupt, so that one damaged record does not block its queue (counted as
// CounterCorrupt). Open has already checked the key, so such a record is
// damaged, not merely sealed with another key.
func (s *Store) DropCorrupt(e *CorruptError) error {
	name := []byte(e.Bucket)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		if b == nil || bytes.Equal(name, bMeta) {
			return fmt.Errorf("no data bucket %q", e.Bucket)
		}
		if b.Get(e.Key) == nil {
			return ErrNotFound
		}
		if err := b.Delete(e.Key); err != nil {
			return err
		}
		return bump(tx, CounterCorrupt, 1)
	})
	if err != nil {
		return fmt.Errorf("pool: drop corrupt %s record %x: %w", e.Bucket, e.Key, err)
	}
	return nil
}

// ---- incoming ----

// AddIncoming stores a received mail; it is durable (fsynced) when
// AddIncoming returns, so SMTP may answer 250 then.
func (s *Store) AddIncoming(raw []byte) (ID, error) {
	id, err := s.newID()
	if err != nil {
		return id, err
	}
	sealed, err := s.seal(raw)
	if err != nil {
		return id, err
	}
	rec := append([]byte{recordV1}, sealed...)
	err = s.db.Batch(func(tx *bolt.Tx) error {
		return putNew(tx.Bucket(bIncoming), id[:], rec)
	})
	if err != nil {
		return ID{}, fmt.Errorf("pool: add incoming: %w", err)
	}
	return id, nil
}

// Incoming lists the entries waiting for decryption, in random order (the
// key order of random IDs); after a restart the daemon processes them.
func (s *Store) Incoming() ([]ID, error) {
	var ids []ID
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bIncoming).ForEach(func(k, _ []byte) error {
			var id ID
			if len(k) != len(id) {
				return corrupt(bIncoming, k, errors.New("bad key length"))
			}
			copy(id[:], k)
			ids = append(ids, id)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("pool: list incoming: %w", err)
	}
	return ids, nil
}

// LoadIncoming returns the raw mail of an incoming entry.
func (s *Store) LoadIncoming(id ID) ([]byte, error) {
	var sealed []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bIncoming).Get(id[:])
		if v == nil {
			return ErrNotFound
		}
		if err := checkHeader(v, 1); err != nil {
			return corrupt(bIncoming, id[:], err)
		}
		sealed = bytes.Clone(v[1:])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pool: load incoming %v: %w", id, err)
	}
	raw, err := s.opt.Sealer.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("pool: load incoming %v: %w", id, corrupt(bIncoming, id[:], err))
	}
	return raw, nil
}

// DropIncoming deletes an incoming entry that is malformed or rejected
// (counted as CounterRejected). It does not touch the replay log.
func (s *Store) DropIncoming(id ID) error {
	var missing bool
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bIncoming)
		missing = b.Get(id[:]) == nil
		if missing {
			return nil
		}
		if err := b.Delete(id[:]); err != nil {
			return err
		}
		return bump(tx, CounterRejected, 1)
	})
	if err == nil && missing {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("pool: drop incoming %v: %w", id, err)
	}
	return nil
}

// ---- accept: replay log + pool, one transaction ----

// prepared is a pool entry ready to be put: everything random or sealed
// is computed before the transaction, because a Batch function may run
// more than once.
type prepared struct {
	key ID
	val []byte
}

func (s *Store) prepare(now time.Time, items []Item) ([]prepared, error) {
	out := make([]prepared, 0, len(items))
	for i, it := range items {
		if !it.Kind.valid() {
			return nil, fmt.Errorf("pool: item %d: unknown kind %d", i, it.Kind)
		}
		if it.Kind == KindPacket && it.Dest == "" {
			return nil, fmt.Errorf("pool: item %d: packet without destination", i)
		}
		id, err := s.newID()
		if err != nil {
			return nil, err
		}
		release, err := s.opt.Strategy.Admit(now, s.rand)
		if err != nil {
			return nil, fmt.Errorf("pool: strategy admit: %w", err)
		}
		sealed, err := s.seal(encodePayload(it))
		if err != nil {
			return nil, err
		}
		rec := poolRec{entered: s.floor(now), release: release, notBefore: it.NotBefore, sealed: sealed}
		out = append(out, prepared{id, rec.encode()})
	}
	return out, nil
}

func putPool(tx *bolt.Tx, entries []prepared) error {
	b := tx.Bucket(bPool)
	for _, e := range entries {
		if err := putNew(b, e.key[:], e.val); err != nil {
			return err
		}
	}
	return nil
}

// testAndSet is the replay check of §13 step 2 and the append of step 4.
// The time is rounded up so that expiry is never early.
func (s *Store) testAndSet(tx *bolt.Tx, replayID [16]byte, now time.Time) (seen bool, err error) {
	b := tx.Bucket(bReplay)
	if b.Get(replayID[:]) != nil {
		return true, nil
	}
	var v [8]byte
	putTime(v[:], s.ceil(now))
	return false, b.Put(replayID[:], v[:])
}

// consumeIncoming deletes the incoming entry and does the replay
// test-and-set: the common start of Accept and AcceptChunk.
func (s *Store) consumeIncoming(tx *bolt.Tx, in ID, replayID [16]byte, now time.Time) (missing, dup bool, err error) {
	inc := tx.Bucket(bIncoming)
	if inc.Get(in[:]) == nil {
		return true, false, nil
	}
	if err := inc.Delete(in[:]); err != nil {
		return false, false, err
	}
	seen, err := s.testAndSet(tx, replayID, now)
	if err != nil || !seen {
		return false, false, err
	}
	return false, true, bump(tx, CounterReplay, 1)
}

// Accept finishes the processing of an incoming entry in one transaction:
// if replayID is already in the replay log the entry is a replay (dup =
// true, counted as CounterReplay) and only the incoming entry is deleted;
// otherwise replayID is logged, items enter the pool and the incoming
// entry is deleted. items may be empty (a dummy that reached its exit). The age and timestamp checks of §13 are the caller's.
// Accept on an incoming ID that is not there changes nothing and returns
// ErrNotFound.
func (s *Store) Accept(in ID, replayID [16]byte, now time.Time, items ...Item) (dup bool, err error) {
	entries, err := s.prepare(now, items)
	if err != nil {
		return false, err
	}
	var missing bool
	err = s.db.Batch(func(tx *bolt.Tx) error {
		var err error
		missing, dup, err = s.consumeIncoming(tx, in, replayID, now)
		if err != nil || missing || dup {
			return err
		}
		return putPool(tx, entries)
	})
	if err == nil && missing {
		err = ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("pool: accept %v: %w", in, err)
	}
	return dup, nil
}

// AddPool puts items into the pool directly: dummies, replies to
// administrative requests.
func (s *Store) AddPool(now time.Time, items ...Item) error {
	entries, err := s.prepare(now, items)
	if err != nil {
		return err
	}
	if err := s.db.Batch(func(tx *bolt.Tx) error { return putPool(tx, entries) }); err != nil {
		return fmt.Errorf("pool: add: %w", err)
	}
	return nil
}

// Seen tells whether a packet ID is in the replay log (diagnostics, and
// the caller's choice between "redundant" and "future timestamp" in §13).
func (s *Store) Seen(replayID [16]byte) (bool, error) {
	var seen bool
	err := s.db.View(func(tx *bolt.Tx) error {
		seen = tx.Bucket(bReplay).Get(replayID[:]) != nil
		return nil
	})
	return seen, err
}

// ReplayFloor is the sentinel time of §13: packets dated at or before it
// may have had their IDs expired from the log, so the caller drops them
// (together with its now − 5 days rule). ok is false until the first
// ExpireReplay.
func (s *Store) ReplayFloor() (floor time.Time, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(mReplayFloor); len(v) == 8 {
			floor, ok = getTime(v), true
		}
		return nil
	})
	return floor, ok, err
}

// ExpireReplay deletes replay records older than ReplayExpiry, and those
// dated more than 180 days ahead (a clock that was wrong), and raises the
// replay floor to now − ReplayExpiry. It returns how many it deleted.
func (s *Store) ExpireReplay(now time.Time) (int, error) {
	limit := now.Add(-s.opt.ReplayExpiry)
	future := now.Add(180 * 24 * time.Hour)
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bReplay)
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return corrupt(bReplay, k, errors.New("bad length"))
			}
			if t := getTime(v); !t.After(limit) || t.After(future) {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Deleting while iterating would upset the cursor: collect first.
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		meta := tx.Bucket(bMeta)
		if v := meta.Get(mReplayFloor); len(v) == 8 && !getTime(v).Before(limit) {
			return bump(tx, CounterReplayExpired, uint64(n))
		}
		var fv [8]byte
		putTime(fv[:], limit)
		if err := meta.Put(mReplayFloor, fv[:]); err != nil {
			return err
		}
		return bump(tx, CounterReplayExpired, uint64(n))
	})
	if err != nil {
		return 0, fmt.Errorf("pool: expire replay log: %w", err)
	}
	return n, nil
}

// ---- pool → outgoing ----

// move re-seals a pool entry into a new outgoing entry under a fresh ID,
// so that neither key nor ciphertext links the two.
func (s *Store) move(tx *bolt.Tx, key []byte, now time.Time) error {
	pb, ob := tx.Bucket(bPool), tx.Bucket(bOutgoing)
	rec, err := decodePool(pb.Get(key))
	if err != nil {
		return corrupt(bPool, key, err)
	}
	plain, err := s.opt.Sealer.Open(rec.sealed)
	if err != nil {
		return corrupt(bPool, key, err)
	}
	sealed, err := s.seal(plain)
	if err != nil {
		return err
	}
	id, err := s.newID()
	if err != nil {
		return err
	}
	out := outRec{queued: now, next: now, sealed: sealed}
	if err := putNew(ob, id[:], out.encode()); err != nil {
		return err
	}
	return pb.Delete(key)
}

// RunPool is one round of §12.2 steps 2–4: entries whose NotBefore has
// come take part, the Strategy selects, and the selected entries move to
// the outgoing queue, all in one transaction. Dummies of step 1 are the
// caller's (DummyCount, AddPool) before it calls RunPool. It returns how
// many entries moved.
func (s *Store) RunPool(now time.Time) (int, error) {
	moved := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		var keys [][]byte
		var infos []EntryInfo
		err := tx.Bucket(bPool).ForEach(func(k, v []byte) error {
			rec, err := decodePool(v)
			if err != nil {
				return corrupt(bPool, k, err)
			}
			if !rec.notBefore.IsZero() && rec.notBefore.After(now) {
				return nil // latent
			}
			keys = append(keys, bytes.Clone(k))
			infos = append(infos, EntryInfo{Entered: rec.entered, Release: rec.release})
			return nil
		})
		if err != nil {
			return err
		}
		sel, err := s.opt.Strategy.Select(now, infos, s.rand)
		if err != nil {
			return fmt.Errorf("strategy: %w", err)
		}
		done := make([]bool, len(keys))
		for _, i := range sel {
			if i < 0 || i >= len(keys) || done[i] {
				return fmt.Errorf("strategy selected bad index %d of %d", i, len(keys))
			}
			done[i] = true
			if err := s.move(tx, keys[i], now); err != nil {
				return err
			}
		}
		moved = len(sel)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pool: run: %w", err)
	}
	return moved, nil
}

// DrainAll moves every pool entry, latent ones included, to the outgoing
// queue (flush --all).
func (s *Store) DrainAll(now time.Time) (int, error) {
	moved := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		var keys [][]byte
		err := tx.Bucket(bPool).ForEach(func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := s.move(tx, k, now); err != nil {
				return err
			}
		}
		moved = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pool: drain: %w", err)
	}
	return moved, nil
}

// ---- outgoing ----

// Outgoing is an entry handed to the sender.
type Outgoing struct {
	ID ID
	Item
	Attempts int // failed attempts so far
}

// Due hands out at most limit (all if limit ≤ 0) outgoing entries whose next
// attempt has come and leases them: they are not handed out again until
// now + Lease unless Fail reschedules them. The sender reports each with
// Ack or Fail.
func (s *Store) Due(now time.Time, limit int) ([]Outgoing, error) {
	var out []Outgoing
	err := s.db.Update(func(tx *bolt.Tx) error {
		out = out[:0]
		ob := tx.Bucket(bOutgoing)
		type due struct {
			key []byte
			rec outRec
		}
		var list []due
		err := ob.ForEach(func(k, v []byte) error {
			if limit > 0 && len(list) >= limit {
				return nil
			}
			rec, err := decodeOut(v)
			if err != nil {
				return corrupt(bOutgoing, k, err)
			}
			if rec.next.After(now) {
				return nil
			}
			rec.sealed = bytes.Clone(rec.sealed)
			list = append(list, due{bytes.Clone(k), rec})
			return nil
		})
		if err != nil {
			return err
		}
		for _, d := range list {
			plain, err := s.opt.Sealer.Open(d.rec.sealed)
			if err != nil {
				return corrupt(bOutgoing, d.key, err)
			}
			it, err := decodePayload(plain)
			if err != nil {
				return corrupt(bOutgoing, d.key, err)
			}
			o := Outgoing{Item: it, Attempts: int(d.rec.attempts)}
			copy(o.ID[:], d.key)
			out = append(out, o)
			d.rec.next, d.rec.leased = now.Add(s.opt.Lease), true
			if err := ob.Put(d.key, d.rec.encode()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pool: due: %w", err)
	}
	return out, nil
}

// Ack deletes an outgoing entry the next hop has accepted.
func (s *Store) Ack(id ID) error {
	var missing bool
	err := s.db.Batch(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bOutgoing)
		missing = ob.Get(id[:]) == nil
		if missing {
			return nil
		}
		if err := ob.Delete(id[:]); err != nil {
			return err
		}
		return bump(tx, CounterSent, 1)
	})
	if err == nil && missing {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("pool: ack %v: %w", id, err)
	}
	return nil
}

// Fail records a failed delivery. A permanent failure, or one more than
// GiveUp after the entry was queued, drops the entry (counted as
// CounterFailed or CounterGaveUp; nothing bounces: the sender is
// anonymous). Otherwise the next attempt is after
// min(RetryBase·2^(attempts−1), RetryMax).
func (s *Store) Fail(id ID, now time.Time, permanent bool) (dropped bool, err error) {
	var missing bool
	err = s.db.Batch(func(tx *bolt.Tx) error {
		missing, dropped = false, false
		ob := tx.Bucket(bOutgoing)
		v := ob.Get(id[:])
		if v == nil {
			missing = true
			return nil
		}
		rec, err := decodeOut(v)
		if err != nil {
			// Undecodable: a permanent failure may still drop it.
			if !permanent {
				return corrupt(bOutgoing, id[:], err)
			}
			dropped = true
			if err := ob.Delete(id[:]); err != nil {
				return err
			}
			return bump(tx, CounterFailed, 1)
		}
		rec.attempts++
		if permanent || now.Sub(rec.queued) >= s.opt.GiveUp {
			dropped = true
			if err := ob.Delete(id[:]); err != nil {
				return err
			}
			if permanent {
				return bump(tx, CounterFailed, 1)
			}
			return bump(tx, CounterGaveUp, 1)
		}
		rec.next, rec.leased = now.Add(s.backoff(rec.attempts)), false
		return ob.Put(id[:], rec.encode()) // encode copies rec.sealed out of v

	})
	if err == nil && missing {
		err = ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("pool: fail %v: %w", id, err)
	}
	return dropped, nil
}

func (s *Store) backoff(attempts uint32) time.Duration {
	d := s.opt.RetryBase
	for i := uint32(1); i < attempts && d < s.opt.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.opt.RetryMax)
}

// ---- stats, backup ----

// Stats is a snapshot of the store for monitoring.
type Stats struct {
	Incoming  int // waiting for decryption
	Pooled    int // in the pool, latent ones included
	Latent    int // in the pool with NotBefore still ahead
	Outgoing  int // queued for sending
	Leased    int // of Outgoing, handed out by Due and not yet reported
	Chunks    int // partial chunks stored
	ChunkSets int // messages those chunks belong to
	Replay    int // records in the replay log

	OldestPooled   time.Time // coarse entry time of the oldest pool entry
	OldestOutgoing time.Time // queue time of the oldest outgoing entry
	NextAttempt    time.Time // earliest next attempt in the outgoing queue

	Counters map[string]uint64 // see the Counter constants
}

// Stats counts the buckets; it reads record headers only, no contents.
func (s *Store) Stats(now time.Time) (Stats, error) {
	st := Stats{Counters: map[string]uint64{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		st.Incoming = tx.Bucket(bIncoming).Stats().KeyN
		st.Replay = tx.Bucket(bReplay).Stats().KeyN
		err := tx.Bucket(bPool).ForEach(func(k, v []byte) error {
			rec, err := decodePool(v)
			if err != nil {
				return corrupt(bPool, k, err)
			}
			st.Pooled++
			if rec.notBefore.After(now) {
				st.Latent++
			}
			if st.OldestPooled.IsZero() || rec.entered.Before(st.OldestPooled) {
				st.OldestPooled = rec.entered
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bOutgoing).ForEach(func(k, v []byte) error {
			rec, err := decodeOut(v)
			if err != nil {
				return corrupt(bOutgoing, k, err)
			}
			st.Outgoing++
			if rec.leased {
				st.Leased++
			}
			if st.OldestOutgoing.IsZero() || rec.queued.Before(st.OldestOutgoing) {
				st.OldestOutgoing = rec.queued
			}
			if st.NextAttempt.IsZero() || rec.next.Before(st.NextAttempt) {
				st.NextAttempt = rec.next
			}
			return nil
		})
		if err != nil {
			return err
		}
		var last []byte
		err = tx.Bucket(bChunks).ForEach(func(k, _ []byte) error {
			if len(k) != chunkKeyLen {
				return corrupt(bChunks, k, errors.New("bad key length"))
			}
			st.Chunks++
			if last == nil || !bytes.Equal(last, k[:16]) {
				st.ChunkSets++
				last = k[:16]
			}
			return nil
		})
		if err != nil {
			return err
		}
		c := tx.Bucket(bMeta).Cursor()
		for k, v := c.Seek([]byte(counterPfx)); k != nil && bytes.HasPrefix(k, []byte(counterPfx)); k, v = c.Next() {
			if len(v) == 8 {
				st.Counters[string(k[len(counterPfx):])] = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("pool: stats: %w", err)
	}
	return st, nil
}

// Backup writes a consistent copy of the whole file to w while the store
// stays in use (a read transaction; writers are not blocked). The copy is
// a bbolt file that Open accepts with the same Sealer.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("pool: backup: %w", err)
	}
	return n, nil
}
