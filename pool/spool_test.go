package pool

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func slotsInUse(t *testing.T, s *Store) map[uint32]bool {
	t.Helper()
	used := map[uint32]bool{}
	s.db.View(func(tx *bolt.Tx) error {
		for _, q := range [][]byte{bIncoming, bPool, bOutgoing} {
			tx.Bucket(q).ForEach(func(k, v []byte) error {
				if l, ok := indexLoc(v); ok && l.slot != inlineSlot {
					if used[l.slot] {
						t.Errorf("slot %d referenced twice", l.slot)
					}
					used[l.slot] = true
				}
				return nil
			})
		}
		return nil
	})
	return used
}

// TestSpoolSlots: contents go to spool slots, freed slots are reused
// (not while a reader may still read them), large contents stay inline,
// and Open finds the free slots again and cuts off a free tail.
func TestSpoolSlots(t *testing.T) {
	s, path := newStore(t, func(o *Options) { o.Strategy = TimedDynamic(0, 100) })
	var ids []ID
	for i := range 6 {
		ids = append(ids, mustAdd(t, s, string(rune('a'+i))))
	}
	if n := len(slotsInUse(t, s)); n != 6 {
		t.Fatalf("%d slots in use, want 6", n)
	}
	big := bytes.Repeat([]byte("x"), slotSize+1)
	bigID := mustAdd(t, s, string(big))
	if n := len(slotsInUse(t, s)); n != 6 {
		t.Fatalf("a large mail took a slot (%d in use)", n)
	}
	if raw, err := s.LoadIncoming(bigID); err != nil || !bytes.Equal(raw, big) {
		t.Fatalf("large mail: %d bytes, %v", len(raw), err)
	}

	// A reader registered before a slot is freed keeps it from reuse.
	end := s.sp.beginRead()
	if err := s.DropIncoming(ids[0]); err != nil {
		t.Fatal(err)
	}
	s.sp.mu.Lock()
	held, free := len(s.sp.quarantine), len(s.sp.free)
	s.sp.mu.Unlock()
	if held != 1 || free != 0 {
		t.Fatalf("after a drop with a reader: quarantine %d free %d", held, free)
	}
	mustAdd(t, s, "new") // must not take the quarantined slot
	s.sp.mu.Lock()
	size := s.sp.size
	s.sp.mu.Unlock()
	if size != 7 {
		t.Fatalf("spool has %d slots, want 7 (the freed one is still held)", size)
	}
	end()
	mustAdd(t, s, "reuses") // the reader is gone: the freed slot is reused
	s.sp.mu.Lock()
	size = s.sp.size
	s.sp.mu.Unlock()
	if size != 7 {
		t.Fatalf("spool has %d slots, want 7 (reuse)", size)
	}
	if n := len(slotsInUse(t, s)); n != 7 {
		t.Fatalf("%d slots in use, want 7", n)
	}
	inc, _, _ := contents(t, s)
	for _, want := range []string{"b", "f", "new", "reuses"} {
		if inc[want] != 1 {
			t.Fatalf("incoming %q lost: %v", want, inc)
		}
	}

	// Through the pool and out: every slot is given back.
	for _, id := range append(ids[1:], bigID) {
		raw, _ := s.LoadIncoming(id)
		if _, err := s.Accept(id, replayOf(string(raw)), t0, Item{Kind: KindPacket, Dest: "d", Data: raw}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RunPool(t0); err != nil {
		t.Fatal(err)
	}
	due, err := s.Due(t0, 0)
	if err != nil || len(due) != 6 {
		t.Fatalf("Due = %d %v", len(due), err)
	}
	for _, o := range due {
		if err := s.Ack(o.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(slotsInUse(t, s)); n != 2 { // "new" and "reuses"
		t.Fatalf("%d slots in use after delivery, want 2", n)
	}

	// Reopen: the free slots are found from the index; a tail nobody
	// refers to is cut off.
	s.Close()
	s2 := openT(t, path, testOptions(t))
	defer s2.Close()
	used := slotsInUse(t, s2)
	var top uint32
	for sl := range used {
		top = max(top, sl+1)
	}
	fi, err := os.Stat(path + ".spool")
	if err != nil || fi.Size() > int64(top)*slotSize {
		t.Fatalf("spool of %d bytes, highest slot in use %d (%v)", fi.Size(), top, err)
	}
	if int(s2.sp.size)-len(s2.sp.free) != len(used) {
		t.Fatalf("reopened spool: %d slots, %d free, %d used", s2.sp.size, len(s2.sp.free), len(used))
	}
	inc, _, _ = contents(t, s2)
	if inc["new"] != 1 || inc["reuses"] != 1 {
		t.Fatalf("after reopen: %v", inc)
	}
}

// TestSpoolUnreferencedSlot: a slot written but never committed (a crash
// between the spool write and the index commit) is free after Open.
func TestSpoolUnreferencedSlot(t *testing.T) {
	s, path := newStore(t, nil)
	mustAdd(t, s, "kept")
	l, err := s.sp.store([]byte("never committed"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openT(t, path, testOptions(t))
	defer s2.Close()
	if used := slotsInUse(t, s2); used[l.slot] {
		t.Fatal("the uncommitted slot is referenced")
	}
	if fi, _ := os.Stat(filepath.Join(filepath.Dir(path), "pool.db.spool")); fi.Size() != slotSize {
		t.Fatalf("spool of %d bytes after reopen, want one slot", fi.Size())
	}
}

// TestLeasesReleasedAtOpen: entries handed out by a process that ended
// without reporting them are due again at once in the next.
func TestLeasesReleasedAtOpen(t *testing.T) {
	s, path := newStore(t, func(o *Options) { o.Strategy = TimedDynamic(0, 100) })
	if err := s.AddPool(t0, Item{Kind: KindMail, Data: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	s.RunPool(t0)
	if due, err := s.Due(t0, 0); err != nil || len(due) != 1 {
		t.Fatalf("Due = %d %v", len(due), err)
	}
	if due, _ := s.Due(t0, 0); len(due) != 0 {
		t.Fatal("a leased entry was handed out twice")
	}
	s.Close()
	s2 := openT(t, path, testOptions(t))
	defer s2.Close()
	due, err := s2.Due(t0, 0)
	if err != nil || len(due) != 1 || string(due[0].Data) != "m" {
		t.Fatalf("after reopen: Due = %d %v", len(due), err)
	}
}

// TestAcceptNoEntry: a packet that was never stored as incoming is
// accepted (replay log + pool) and its replay dropped.
func TestAcceptNoEntry(t *testing.T) {
	s, _ := newStore(t, nil)
	item := Item{Kind: KindPacket, Dest: "d", Data: []byte("direct")}
	if dup, err := s.Accept(NoEntry, replayOf("direct"), t0, item); dup || err != nil {
		t.Fatalf("Accept(NoEntry) = %v %v", dup, err)
	}
	if dup, err := s.Accept(NoEntry, replayOf("direct"), t0, item); !dup || err != nil {
		t.Fatalf("replayed Accept(NoEntry) = %v %v", dup, err)
	}
	if _, pooled, _ := contents(t, s); pooled["direct"] != 1 {
		t.Fatalf("pool %v", pooled)
	}
	if _, _, err := s.AcceptChunk(NoEntry, replayOf("chunk"), t0, Chunk{MsgID: [16]byte{1}, Num: 1, Count: 1, Data: []byte("c")}, concatBuild); err != nil {
		t.Fatal(err)
	}
	if _, pooled, _ := contents(t, s); pooled["c"] != 1 {
		t.Fatalf("pool after chunk %v", pooled)
	}
}
