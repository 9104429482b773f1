package pool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// The spool holds the sealed contents of queue entries, one fixed-size
// slot each, in one file beside the bbolt file (PATH.spool); the bbolt
// index records where (see record.go). Why not in bbolt itself, and why
// not one file per message: docs/PERFORMANCE.md, "Daemon". In short: bbolt
// rewrites a 20 KB value's neighbours on every insert and delete (a leaf
// holds at least two keys) and reads through mmap, so a daemon holding
// many packets would map most of the file into its memory; one file per
// message costs an fsync each, which the disk does not merge, and gives
// every message its own file times. The spool is written with pwrite,
// synced once per group commit before the index commit that refers to it,
// and read with pread.
//
// Crash safety: a slot is written only while free (no committed index
// record refers to it), so a crash before the index commit leaves an
// unreferenced slot, which Open finds free again. A slot freed by a
// committed transaction is reused only when no reader that might still
// follow the old index is active (quarantine, reclaim).

// slotSize is the size of a spool slot: a packet e-mail (about 28 KB) or a
// packet payload (about 20.6 KB) sealed fits; larger contents (big final
// messages, mails carrying several packets) stay inline in bbolt.
const slotSize = 32 << 10

// inlineSlot marks contents kept in the data bucket.
const inlineSlot = math.MaxUint32

// loc is where an entry's sealed contents are: spool slot and length.
type loc struct {
	slot uint32
	n    uint32
}

const locLen = 8

func (l loc) put(b []byte) {
	binary.BigEndian.PutUint32(b, l.slot)
	binary.BigEndian.PutUint32(b[4:], l.n)
}

func getLoc(b []byte) loc {
	return loc{binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])}
}

type spool struct {
	f    *os.File
	rand io.Reader
	// writes counts completed slot writes; synced, under syncMu, how many
	// of them the last finished sync covered.
	writes atomic.Uint64
	syncMu sync.Mutex
	synced uint64

	mu         sync.Mutex
	free       []uint32  // slots no committed record refers to
	size       uint32    // slots in the file
	quarantine []retired // freed by committed transactions, maybe still read
	// Epochs: retire advances the epoch; a reader that reads contents
	// outside a write transaction registers the epoch it started in. A
	// slot retired in epoch e is free once every active reader started
	// after e.
	epoch  uint64
	active map[uint64]int // readers by start epoch
}

type retired struct {
	slot  uint32
	epoch uint64
}

// openSpool opens the spool file and finds the free slots: every slot
// that no index record in db refers to. Trailing free slots are cut off.
func openSpool(path string, db *bolt.DB, rnd io.Reader) (*spool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	used := map[uint32]bool{}
	var top uint32
	err = db.View(func(tx *bolt.Tx) error {
		for _, q := range [][]byte{bIncoming, bPool, bOutgoing} {
			err := tx.Bucket(q).ForEach(func(_, v []byte) error {
				if l, ok := indexLoc(v); ok && l.slot != inlineSlot {
					used[l.slot] = true
					top = max(top, l.slot+1)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	sp := &spool{f: f, rand: rnd, size: top, active: map[uint64]int{}}
	if fi.Size() > int64(top)*slotSize {
		// Nothing refers to the tail: give the space back.
		if err := f.Truncate(int64(top) * slotSize); err != nil {
			f.Close()
			return nil, err
		}
	}
	for i := uint32(0); i < top; i++ {
		if !used[i] {
			sp.free = append(sp.free, i)
		}
	}
	return sp, nil
}

func (sp *spool) close() error { return sp.f.Close() }

// alloc returns a free slot, a random one among the free ones (so that a
// slot number tells nothing about when its contents arrived), or a new one
// at the end of the file.
func (sp *spool) alloc() (uint32, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if len(sp.free) == 0 {
		sp.reclaimLocked()
	}
	if n := len(sp.free); n > 0 {
		i, err := randIntn(sp.rand, n)
		if err != nil {
			return 0, err
		}
		s := sp.free[i]
		sp.free[i] = sp.free[n-1]
		sp.free = sp.free[:n-1]
		return s, nil
	}
	if sp.size == inlineSlot {
		return 0, errors.New("pool: spool full")
	}
	sp.size++
	return sp.size - 1, nil
}

// release returns slots no committed record ever referred to.
func (sp *spool) release(slots ...uint32) {
	sp.mu.Lock()
	sp.free = append(sp.free, slots...)
	sp.mu.Unlock()
}

// retire takes slots freed by a committed transaction: they are reused
// once no reader may still follow an older index.
func (sp *spool) retire(slots ...uint32) {
	sp.mu.Lock()
	for _, s := range slots {
		sp.quarantine = append(sp.quarantine, retired{s, sp.epoch})
	}
	sp.epoch++
	sp.mu.Unlock()
}

// reclaimLocked frees the quarantined slots no active reader can reach.
func (sp *spool) reclaimLocked() {
	oldest := uint64(math.MaxUint64)
	for e := range sp.active {
		oldest = min(oldest, e)
	}
	kept := sp.quarantine[:0]
	for _, r := range sp.quarantine {
		if r.epoch < oldest {
			sp.free = append(sp.free, r.slot)
		} else {
			kept = append(kept, r)
		}
	}
	sp.quarantine = kept
}

// beginRead registers a reader of contents outside a write transaction;
// call the returned function when done. Start it before the read
// transaction that finds the index records.
func (sp *spool) beginRead() (end func()) {
	sp.mu.Lock()
	e := sp.epoch
	sp.active[e]++
	sp.mu.Unlock()
	return func() {
		sp.mu.Lock()
		if sp.active[e]--; sp.active[e] == 0 {
			delete(sp.active, e)
		}
		sp.mu.Unlock()
	}
}

// store writes sealed contents into a new slot; the caller syncs (sync)
// before committing a record that refers to it.
func (sp *spool) store(sealed []byte) (loc, error) {
	s, err := sp.alloc()
	if err != nil {
		return loc{}, err
	}
	if _, err := sp.f.WriteAt(sealed, int64(s)*slotSize); err != nil {
		sp.release(s)
		return loc{}, fmt.Errorf("pool: spool write: %w", err)
	}
	sp.writes.Add(1)
	return loc{s, uint32(len(sealed))}, nil
}

// sync makes every slot write completed before the call durable. Callers
// may overlap: one that finds a sync covering its writes already done
// returns without another.
func (sp *spool) sync() error {
	target := sp.writes.Load()
	sp.syncMu.Lock()
	defer sp.syncMu.Unlock()
	if sp.synced >= target {
		return nil
	}
	w := sp.writes.Load()
	if err := sp.f.Sync(); err != nil {
		return fmt.Errorf("pool: spool sync: %w", err)
	}
	sp.synced = w
	return nil
}

// read returns the contents at l. Outside a write transaction the caller
// must be registered (beginRead).
func (sp *spool) read(l loc) ([]byte, error) {
	if l.n > slotSize {
		return nil, fmt.Errorf("slot length %d", l.n)
	}
	b := make([]byte, l.n)
	if _, err := sp.f.ReadAt(b, int64(l.slot)*slotSize); err != nil {
		return nil, fmt.Errorf("spool read: %w", err)
	}
	return b, nil
}
