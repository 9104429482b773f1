package pool

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mixgo/mixgo/internal/parallel"
)

// Bucket names. incoming, pool and outgoing are the queues' indexes: small
// records (times, attempts) under the entry's ID; the sealed contents of
// every entry of the three queues are in data under the same ID (see
// record.go). meta holds the format version, the replay floor and the
// counters.
var (
	bIncoming = []byte("incoming")
	bPool     = []byte("pool")
	bOutgoing = []byte("outgoing")
	bData     = []byte("data")
	bReplay   = []byte("replay")
	bChunks   = []byte("chunks")
	bMeta     = []byte("meta")

	mFormat      = []byte("format")
	mKeyCheck    = []byte("key-check")
	mReplayFloor = []byte("replay-floor")
	counterPfx   = "count/"
)

// formatVersion 2 keeps contents apart from the queue indexes; Open
// converts a version 1 file (contents inline) in place.
const formatVersion = 2

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
	// BatchDelay makes each group commit wait this long for more calls
	// before it starts. The default, 0, commits at once: calls arriving
	// during a commit share the next one, which batches as much as the
	// load brings without adding latency (see commit.go).
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
	db    *bolt.DB
	opt   Options
	rand  io.Reader
	group committer
	sp    *spool
	path  string

	noSpool    bool // all contents inline: the layout BenchmarkLayout compares with
	batchDelay atomic.Int64

	takenMu sync.Mutex
	taken   map[ID]bool // pool entries TakePool handed out
}

// Open opens or creates the store file at path and its spool PATH.spool
// (mode 0600).
func Open(path string, opt Options) (*Store, error) {
	if err := opt.setDefaults(); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.LockTimeout})
	if err != nil {
		return nil, fmt.Errorf("pool: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bIncoming, bPool, bOutgoing, bData, bReplay, bChunks, bMeta} {
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
		if len(v) != 1 || (v[0] != 1 && v[0] != formatVersion) {
			return fmt.Errorf("unsupported store format %x", v)
		}
		if plain, err := opt.Sealer.Open(meta.Get(mKeyCheck)); err != nil || string(plain) != keyCheck {
			return ErrWrongKey
		}
		if v[0] == 1 {
			if err := migrateV1(tx); err != nil {
				return fmt.Errorf("converting from format 1: %w", err)
			}
			if err := meta.Put(mFormat, []byte{formatVersion}); err != nil {
				return err
			}
		}
		return releaseLeases(tx, opt.Lease)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("pool: open %s: %w", path, err)
	}
	s := &Store{db: db, opt: opt, rand: &lockedReader{r: opt.Rand}, path: path}
	s.SetBatchDelay(opt.BatchDelay)
	if s.sp, err = openSpool(path+".spool", db, s.rand); err != nil {
		db.Close()
		return nil, fmt.Errorf("pool: open %s.spool: %w", path, err)
	}
	return s, nil
}

// Close closes the files. Every call that returned before is durable.
func (s *Store) Close() error {
	err := s.db.Close()
	if cerr := s.sp.close(); err == nil {
		err = cerr
	}
	return err
}

// stash puts sealed contents where they will stay: a spool slot if they
// fit one (inline is then nil), else inline in the data bucket.
func (s *Store) stash(sealed []byte) (l loc, inline []byte, err error) {
	if len(sealed) <= slotSize && !s.noSpool {
		l, err = s.sp.store(sealed)
		return l, nil, err
	}
	return loc{inlineSlot, uint32(len(sealed))}, sealed, nil
}

// unstash gives back the slot of contents no committed record refers to.
func (s *Store) unstash(l loc) {
	if l.slot != inlineSlot {
		s.sp.release(l.slot)
	}
}

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
		if isQueue(name) {
			if err := s.deleteEntry(tx, name, e.Key); err != nil {
				return err
			}
		} else if err := b.Delete(e.Key); err != nil {
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
	l, inline, err := s.stash(sealed)
	if err != nil {
		return id, err
	}
	err = s.batch(func(tx *bolt.Tx) error {
		return putEntry(tx, bIncoming, id, incomingRec(l), inline)
	})
	if err != nil {
		s.unstash(l)
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
	end := s.sp.beginRead()
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bIncoming).Get(id[:]) == nil {
			return ErrNotFound
		}
		v, err := s.loadContents(tx, bIncoming, id[:])
		sealed = bytes.Clone(v)
		return err
	})
	end()
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
	err := s.batch(func(tx *bolt.Tx) error {
		missing = tx.Bucket(bIncoming).Get(id[:]) == nil
		if missing {
			return nil
		}
		if err := s.deleteEntry(tx, bIncoming, id[:]); err != nil {
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
	key    ID
	hdr    []byte
	loc    loc
	inline []byte
	put    bool // set by putPool in the transaction that ran last
}

// prepare seals items and stashes their contents. With spooled false the
// contents stay inline: for callers inside a transaction, whose spool
// writes would not be synced before the commit.
func (s *Store) prepare(now time.Time, items []Item, spooled bool) ([]prepared, error) {
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
			s.unprepare(out)
			return nil, err
		}
		l, inline := loc{inlineSlot, uint32(len(sealed))}, sealed
		if spooled {
			if l, inline, err = s.stash(sealed); err != nil {
				s.unprepare(out)
				return nil, err
			}
		}
		rec := poolRec{entered: s.floor(now), release: release, notBefore: it.NotBefore, loc: l}
		out = append(out, prepared{key: id, hdr: rec.encode(), loc: l, inline: inline})
	}
	return out, nil
}

// unprepare gives back the slots of entries that did not enter the pool
// (err: none did).
func (s *Store) unprepare(entries []prepared) {
	for _, e := range entries {
		if !e.put {
			s.unstash(e.loc)
		}
	}
}

// unputAll marks entries as not stored: at the start of every run of a
// batch function, which may run more than once.
func unputAll(entries []prepared) {
	for i := range entries {
		entries[i].put = false
	}
}

func putPool(tx *bolt.Tx, entries []prepared) error {
	for i := range entries {
		e := &entries[i]
		if err := putEntry(tx, bPool, e.key, e.hdr, e.inline); err != nil {
			return err
		}
		e.put = true
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

// NoEntry, given to Accept or AcceptChunk as the incoming entry, means
// that the packet was never stored as one: its caller keeps the input
// until the call returns (`mixd process FILE...`, an MTA pipe, whose
// exit status tells the MTA whether to keep the mail). Random IDs are
// never all zero.
var NoEntry ID

// consumeIncoming deletes the incoming entry and does the replay
// test-and-set: the common start of Accept and AcceptChunk.
func (s *Store) consumeIncoming(tx *bolt.Tx, in ID, replayID [16]byte, now time.Time) (missing, dup bool, err error) {
	if in != NoEntry {
		if tx.Bucket(bIncoming).Get(in[:]) == nil {
			return true, false, nil
		}
		if err := s.deleteEntry(tx, bIncoming, in[:]); err != nil {
			return false, false, err
		}
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
// entry is deleted. items may be empty (a dummy that reached its exit).
// The age and timestamp checks of §13 are the caller's. Accept on an
// incoming ID that is not there changes nothing and returns ErrNotFound;
// with in = NoEntry there is no incoming entry to delete.
func (s *Store) Accept(in ID, replayID [16]byte, now time.Time, items ...Item) (dup bool, err error) {
	entries, err := s.prepare(now, items, true)
	if err != nil {
		return false, err
	}
	var missing bool
	err = s.batch(func(tx *bolt.Tx) error {
		unputAll(entries)
		var err error
		missing, dup, err = s.consumeIncoming(tx, in, replayID, now)
		if err != nil || missing || dup {
			return err
		}
		return putPool(tx, entries)
	})
	if err != nil {
		unputAll(entries)
	}
	s.unprepare(entries)
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
	entries, err := s.prepare(now, items, true)
	if err != nil {
		return err
	}
	err = s.batch(func(tx *bolt.Tx) error { unputAll(entries); return putPool(tx, entries) })
	if err != nil {
		unputAll(entries)
		s.unprepare(entries)
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

// moveBatch is how many entries one transaction of RunPool or DrainAll
// moves: the transaction holds their new records in memory until commit.
const moveBatch = 256

// move re-seals a pool entry into a new outgoing entry under a fresh ID,
// so that neither key nor ciphertext links the two. An entry that is no
// longer in the pool (a concurrent round took it) is skipped: moved is
// false.
func (s *Store) move(tx *bolt.Tx, key []byte, now time.Time, stashed *[]loc) (moved bool, err error) {
	if tx.Bucket(bPool).Get(key) == nil || s.isTaken(key) {
		return false, nil
	}
	v, err := s.loadContents(tx, bPool, key)
	if err != nil {
		return false, err
	}
	plain, err := s.opt.Sealer.Open(v)
	if err != nil {
		return false, corrupt(bPool, key, err)
	}
	sealed, err := s.seal(plain)
	if err != nil {
		return false, err
	}
	id, err := s.newID()
	if err != nil {
		return false, err
	}
	l, inline, err := s.stash(sealed)
	if err != nil {
		return false, err
	}
	*stashed = append(*stashed, l)
	out := outRec{queued: now, next: now, loc: l}
	if err := putEntry(tx, bOutgoing, id, out.encode(), inline); err != nil {
		return false, err
	}
	return true, s.deleteEntry(tx, bPool, key)
}

// TakePool hands out up to limit pool entries (all if limit ≤ 0) for
// sending at once, in random order, as 'mixd flush --all' sends the whole
// pool: unlike RunPool it does not move them to the outgoing queue under
// a new ID and slot, which for a pool leaving whole, a batch at a time,
// would hide nothing more and cost a write and a sync of every packet.
// The entries stay in the pool, skipped by RunPool, DrainAll and later
// TakePool calls, until the sender reports them: Ack (or AckMany) deletes
// them; Fail drops them if the failure is permanent and otherwise leaves
// them pooled for a later round. A crash leaves them pooled too (sent
// again: the next hop's replay log drops a repeat). The contents are
// opened on all cores.
func (s *Store) TakePool(now time.Time, limit int) ([]Outgoing, error) {
	type entry struct {
		out    Outgoing
		sealed []byte
		err    error
	}
	var list []*entry
	end := s.sp.beginRead()
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bPool).Cursor()
		for k, _ := c.First(); k != nil && (limit <= 0 || len(list) < limit); k, _ = c.Next() {
			if len(k) != len(ID{}) {
				return corrupt(bPool, k, errors.New("bad key length"))
			}
			if !s.take(ID(k)) {
				continue
			}
			e := &entry{out: Outgoing{ID: ID(k)}}
			list = append(list, e) // from here on untaken on failure
			v, err := s.loadContents(tx, bPool, k)
			if err != nil {
				return err
			}
			e.sealed = bytes.Clone(v)
		}
		return nil
	})
	end()
	untakeAll := func() {
		for _, e := range list {
			s.untake(e.out.ID)
		}
	}
	if err == nil {
		err = s.shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	}
	if err != nil {
		untakeAll()
		return nil, fmt.Errorf("pool: take: %w", err)
	}
	parallel.For(len(list), runtime.GOMAXPROCS(0), func(i int) {
		e := list[i]
		plain, err := s.opt.Sealer.Open(e.sealed)
		if err == nil {
			e.out.Item, err = decodePayload(plain)
		}
		if err != nil {
			e.err = corrupt(bPool, e.out.ID[:], err)
		}
	})
	out := make([]Outgoing, 0, len(list))
	for _, e := range list {
		if e.err != nil {
			untakeAll()
			return nil, fmt.Errorf("pool: take: %w", e.err)
		}
		out = append(out, e.out)
	}
	return out, nil
}

// take marks a pool entry as handed out; false if it already is.
func (s *Store) take(id ID) bool {
	s.takenMu.Lock()
	defer s.takenMu.Unlock()
	if s.taken[id] {
		return false
	}
	if s.taken == nil {
		s.taken = map[ID]bool{}
	}
	s.taken[id] = true
	return true
}

func (s *Store) untake(id ID) {
	s.takenMu.Lock()
	delete(s.taken, id)
	s.takenMu.Unlock()
}

func (s *Store) isTaken(id []byte) bool {
	if len(id) != len(ID{}) {
		return false
	}
	s.takenMu.Lock()
	defer s.takenMu.Unlock()
	return s.taken[ID(id)]
}

// shuffle puts n things in a random order (Fisher–Yates with the store's
// randomness): the order of moves must not follow the pool's keys, which
// the index links to arrival times.
func (s *Store) shuffle(n int, swap func(i, j int)) error {
	var seed [32]byte
	if _, err := io.ReadFull(s.rand, seed[:]); err != nil {
		return fmt.Errorf("random order: %w", err)
	}
	mathrand.New(mathrand.NewChaCha8(seed)).Shuffle(n, swap)
	return nil
}

// moveAll moves the pool entries with these keys to the outgoing queue,
// moveBatch per transaction. Each entry moves atomically; a crash between
// transactions leaves the rest in the pool, for the next round.
func (s *Store) moveAll(keys []ID, now time.Time) (int, error) {
	keys = slices.Clone(keys)
	if err := s.shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] }); err != nil {
		return 0, err
	}
	moved := 0
	for len(keys) > 0 {
		part := keys[:min(len(keys), moveBatch)]
		keys = keys[len(part):]
		n := 0
		var stashed []loc
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, k := range part {
				ok, err := s.move(tx, k[:], now, &stashed)
				if err != nil {
					return err
				}
				if ok {
					n++
				}
			}
			// The new contents must be durable before the commit that
			// refers to them.
			return s.sp.sync()
		})
		if err != nil {
			for _, l := range stashed {
				s.unstash(l)
			}
			return moved, err
		}
		moved += n
	}
	return moved, nil
}

// RunPool is one round of §12.2 steps 2–4: entries whose NotBefore has
// come take part, the Strategy selects, and the selected entries move to
// the outgoing queue. The selection reads the pool's index only (times,
// never contents), so a large pool costs little memory; the moves are
// then committed moveBatch at a time. Dummies of step 1 are the caller's
// (DummyCount, AddPool) before it calls RunPool. It returns how many
// entries moved.
func (s *Store) RunPool(now time.Time) (int, error) {
	var keys []ID
	err := s.db.View(func(tx *bolt.Tx) error {
		var infos []EntryInfo
		err := tx.Bucket(bPool).ForEach(func(k, v []byte) error {
			rec, err := decodePool(v)
			if err != nil {
				return corrupt(bPool, k, err)
			}
			if !rec.notBefore.IsZero() && rec.notBefore.After(now) {
				return nil // latent
			}
			if len(k) != len(ID{}) {
				return corrupt(bPool, k, errors.New("bad key length"))
			}
			if s.isTaken(k) {
				return nil // being sent by TakePool's caller
			}
			keys = append(keys, ID(k))
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
		chosen := make([]ID, 0, len(sel))
		for _, i := range sel {
			if i < 0 || i >= len(keys) || done[i] {
				return fmt.Errorf("strategy selected bad index %d of %d", i, len(keys))
			}
			done[i] = true
			chosen = append(chosen, keys[i])
		}
		keys = chosen
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pool: run: %w", err)
	}
	moved, err := s.moveAll(keys, now)
	if err != nil {
		return moved, fmt.Errorf("pool: run: %w", err)
	}
	return moved, nil
}

// DrainAll moves every pool entry, latent ones included, to the outgoing
// queue (flush --all).
func (s *Store) DrainAll(now time.Time) (int, error) {
	var keys []ID
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bPool).ForEach(func(k, _ []byte) error {
			if len(k) != len(ID{}) {
				return corrupt(bPool, k, errors.New("bad key length"))
			}
			keys = append(keys, ID(k))
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("pool: drain: %w", err)
	}
	moved, err := s.moveAll(keys, now)
	if err != nil {
		return moved, fmt.Errorf("pool: drain: %w", err)
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
		c := ob.Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(list) < limit); k, v = c.Next() {
			rec, err := decodeOut(v)
			if err != nil {
				return corrupt(bOutgoing, k, err)
			}
			if rec.next.After(now) {
				continue
			}
			list = append(list, due{bytes.Clone(k), rec})
		}
		for _, d := range list {
			sealed, err := s.loadContents(tx, bOutgoing, d.key)
			if err != nil {
				return err
			}
			plain, err := s.opt.Sealer.Open(sealed)
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

// releaseLeases makes the entries a previous process had handed out due
// again (at Open): only one process opens the store, so nobody holds them now (the
// delivery was cut short by a crash or a stop, and may or may not have
// happened: the next hop's replay log drops a repeat).
func releaseLeases(tx *bolt.Tx, lease time.Duration) error {
	ob := tx.Bucket(bOutgoing)
	type entry struct {
		k   []byte
		rec outRec
	}
	var held []entry
	err := ob.ForEach(func(k, v []byte) error {
		if rec, err := decodeOut(v); err == nil && rec.leased {
			held = append(held, entry{bytes.Clone(k), rec})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, h := range held {
		// Due set next to the hand-out time + lease: back to the
		// hand-out time, when it was due.
		h.rec.leased = false
		h.rec.next = h.rec.next.Add(-lease)
		if err := ob.Put(h.k, h.rec.encode()); err != nil {
			return err
		}
	}
	return nil
}

// Ack deletes an outgoing entry the next hop has accepted.
func (s *Store) Ack(id ID) error {
	var found bool
	err := s.batch(func(tx *bolt.Tx) (err error) {
		found, err = s.ackIn(tx, id)
		if found && err == nil {
			err = bump(tx, CounterSent, 1)
		}
		return err
	})
	s.untake(id)
	if err == nil && !found {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("pool: ack %v: %w", id, err)
	}
	return nil
}

// ackIn deletes an acknowledged entry: from the outgoing queue, or from
// the pool if TakePool handed it out. found is false if it is in neither.
func (s *Store) ackIn(tx *bolt.Tx, id ID) (found bool, err error) {
	q := bOutgoing
	if tx.Bucket(q).Get(id[:]) == nil {
		if q = bPool; !s.isTaken(id[:]) || tx.Bucket(q).Get(id[:]) == nil {
			return false, nil
		}
	}
	return true, s.deleteEntry(tx, q, id[:])
}

// AckMany is Ack for many entries (from Due or TakePool), in one commit.
// Entries already gone are skipped.
func (s *Store) AckMany(ids []ID) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.batch(func(tx *bolt.Tx) error {
		acked := 0
		for _, id := range ids {
			found, err := s.ackIn(tx, id)
			if err != nil {
				return err
			}
			if found {
				acked++
			}
		}
		return bump(tx, CounterSent, uint64(acked))
	})
	// Even after a failed commit: the entries are pooled again.
	for _, id := range ids {
		s.untake(id)
	}
	if err != nil {
		return fmt.Errorf("pool: ack %d entries: %w", len(ids), err)
	}
	return nil
}

// Release gives back entries handed out by Due or TakePool that were not
// sent after all: they are due again at once (outgoing), or back in the
// pool (TakePool's).
func (s *Store) Release(now time.Time, ids []ID) error {
	var leased []ID
	for _, id := range ids {
		if s.isTaken(id[:]) {
			s.untake(id)
		} else {
			leased = append(leased, id)
		}
	}
	if len(leased) == 0 {
		return nil
	}
	err := s.batch(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bOutgoing)
		for _, id := range leased {
			v := ob.Get(id[:])
			if v == nil {
				continue
			}
			rec, err := decodeOut(v)
			if err != nil || !rec.leased {
				continue // left as it is: Due or DropCorrupt deals with it
			}
			rec.next, rec.leased = now, false
			if err := ob.Put(id[:], rec.encode()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pool: release: %w", err)
	}
	return nil
}

// failTaken is Fail for an entry TakePool handed out: dropped if the
// failure is permanent, else back in the pool for a later round.
func (s *Store) failTaken(id ID, permanent bool) (dropped bool, err error) {
	defer s.untake(id)
	if !permanent {
		return false, nil
	}
	var missing bool
	err = s.batch(func(tx *bolt.Tx) error {
		missing = tx.Bucket(bPool).Get(id[:]) == nil
		if missing {
			return nil
		}
		if err := s.deleteEntry(tx, bPool, id[:]); err != nil {
			return err
		}
		return bump(tx, CounterFailed, 1)
	})
	if err == nil && missing {
		err = ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("pool: fail %v: %w", id, err)
	}
	return true, nil
}

// Fail records a failed delivery. A permanent failure, or one more than
// GiveUp after the entry was queued, drops the entry (counted as
// CounterFailed or CounterGaveUp; nothing bounces: the sender is
// anonymous). Otherwise the next attempt is after
// min(RetryBase·2^(attempts−1), RetryMax).
func (s *Store) Fail(id ID, now time.Time, permanent bool) (dropped bool, err error) {
	if s.isTaken(id[:]) {
		return s.failTaken(id, permanent)
	}
	var missing bool
	err = s.batch(func(tx *bolt.Tx) error {
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
			if err := s.deleteEntry(tx, bOutgoing, id[:]); err != nil {
				return err
			}
			return bump(tx, CounterFailed, 1)
		}
		rec.attempts++
		if permanent || now.Sub(rec.queued) >= s.opt.GiveUp {
			dropped = true
			if err := s.deleteEntry(tx, bOutgoing, id[:]); err != nil {
				return err
			}
			if permanent {
				return bump(tx, CounterFailed, 1)
			}
			return bump(tx, CounterGaveUp, 1)
		}
		rec.next, rec.leased = now.Add(s.backoff(rec.attempts)), false
		return ob.Put(id[:], rec.encode())
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

// Stats counts the queues; it reads their indexes only, never contents.
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

// Backup writes a consistent copy of the store to w while it stays in use
// (a read transaction; writers are not blocked). The copy is one bbolt
// file that Open accepts with the same Sealer: the contents of the spool
// are put inline, so it needs no spool file beside it. It is built in a
// temporary file beside the store, committed every backupBatch records
// so that memory stays small.
func (s *Store) Backup(w io.Writer) (int64, error) {
	n, err := s.backup(w)
	if err != nil {
		return n, fmt.Errorf("pool: backup: %w", err)
	}
	return n, nil
}

const backupBatch = 512

func (s *Store) backup(w io.Writer) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".backup-*")
	if err != nil {
		return 0, err
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	dst, err := bolt.Open(name, 0o600, &bolt.Options{NoSync: true, Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer dst.Close()
	dtx, err := dst.Begin(true)
	if err != nil {
		return 0, err
	}
	defer func() { dtx.Rollback() }()
	puts := 0
	put := func(bucket, k, v []byte) error {
		if puts++; puts%backupBatch == 0 {
			if err := dtx.Commit(); err != nil {
				return err
			}
			if dtx, err = dst.Begin(true); err != nil {
				return err
			}
		}
		b, err := dtx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	}
	end := s.sp.beginRead()
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if _, err := dtx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
			return b.ForEach(func(k, v []byte) error {
				if l, ok := indexLoc(v); ok && isQueue(name) && l.slot != inlineSlot {
					contents, err := s.sp.read(l)
					if err != nil {
						return corrupt(name, k, err)
					}
					if err := put(bData, k, dataRecord(contents)); err != nil {
						return err
					}
					v = bytes.Clone(v)
					loc{inlineSlot, l.n}.put(v[len(v)-locLen:])
				}
				return put(name, k, v)
			})
		})
	})
	end()
	if err == nil {
		err = dtx.Commit()
	}
	if err == nil {
		err = dst.Close()
	}
	if err != nil {
		return 0, err
	}
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, f)
}
