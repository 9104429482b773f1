package pool

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	testKey = [32]byte{0x42, 1, 2, 3}
	t0      = time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)
)

func testOptions(t testing.TB) Options {
	t.Helper()
	sealer, err := NewAESGCMSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	// Group commit is exercised by the concurrency test and the
	// benchmarks.
	return Options{Sealer: sealer}
}

func openT(t testing.TB, path string, o Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newStore(t testing.TB, mod func(*Options)) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pool.db")
	o := testOptions(t)
	if mod != nil {
		mod(&o)
	}
	s := openT(t, path, o)
	t.Cleanup(func() { s.Close() })
	return s, path
}

func replayOf(s string) (r [16]byte) {
	h := sha256.Sum256([]byte(s))
	copy(r[:], h[:])
	return r
}

func mustAdd(t testing.TB, s *Store, raw string) ID {
	t.Helper()
	id, err := s.AddIncoming([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustStats(t testing.TB, s *Store, now time.Time) Stats {
	t.Helper()
	st, err := s.Stats(now)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// contents opens every pool and outgoing entry: Data strings → count.
func contents(t testing.TB, s *Store) (incoming, pooled, outgoing map[string]int) {
	t.Helper()
	incoming, pooled, outgoing = map[string]int{}, map[string]int{}, map[string]int{}
	defer s.sp.beginRead()()
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bIncoming).ForEach(func(k, _ []byte) error {
			v, err := s.loadContents(tx, bIncoming, k)
			if err != nil {
				return err
			}
			raw, err := s.opt.Sealer.Open(v)
			if err != nil {
				return err
			}
			incoming[string(raw)]++
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bPool).ForEach(func(k, v []byte) error {
			if _, err := decodePool(v); err != nil {
				return err
			}
			sealed, err := s.loadContents(tx, bPool, k)
			if err != nil {
				return err
			}
			plain, err := s.opt.Sealer.Open(sealed)
			if err != nil {
				return err
			}
			it, err := decodePayload(plain)
			if err != nil {
				return err
			}
			pooled[string(it.Data)]++
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bOutgoing).ForEach(func(k, v []byte) error {
			if _, err := decodeOut(v); err != nil {
				return err
			}
			sealed, err := s.loadContents(tx, bOutgoing, k)
			if err != nil {
				return err
			}
			plain, err := s.opt.Sealer.Open(sealed)
			if err != nil {
				return err
			}
			it, err := decodePayload(plain)
			if err != nil {
				return err
			}
			outgoing[string(it.Data)]++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestOpenRequiresSealer(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{}); err == nil {
		t.Fatal("Open without Sealer succeeded")
	}
}

func TestDurabilityAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool.db")
	s := openT(t, path, testOptions(t))
	a := mustAdd(t, s, "raw-a")
	b := mustAdd(t, s, "raw-b")
	mustAdd(t, s, "raw-c")
	if dup, err := s.Accept(a, replayOf("a"), t0,
		Item{Kind: KindPacket, Dest: "next@example.org", Data: []byte("packet-a")},
		Item{Kind: KindMail, Data: []byte("mail-a")}); err != nil || dup {
		t.Fatalf("Accept: dup=%v err=%v", dup, err)
	}
	if err := s.DropIncoming(b); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPool(t0, Item{Kind: KindPacket, Dest: "d@x", Data: []byte("dummy")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openT(t, path, testOptions(t))
	defer s.Close()
	ids, err := s.Incoming()
	if err != nil || len(ids) != 1 {
		t.Fatalf("Incoming = %v, %v; want one", ids, err)
	}
	if raw, err := s.LoadIncoming(ids[0]); err != nil || string(raw) != "raw-c" {
		t.Fatalf("LoadIncoming = %q, %v", raw, err)
	}
	if seen, err := s.Seen(replayOf("a")); err != nil || !seen {
		t.Fatalf("replay ID lost across reopen: %v %v", seen, err)
	}
	if seen, _ := s.Seen(replayOf("b")); seen {
		t.Fatal("DropIncoming logged a replay ID")
	}
	_, pooled, _ := contents(t, s)
	want := map[string]int{"packet-a": 1, "mail-a": 1, "dummy": 1}
	if fmt.Sprint(pooled) != fmt.Sprint(want) {
		t.Fatalf("pool = %v, want %v", pooled, want)
	}
	st := mustStats(t, s, t0)
	if st.Incoming != 1 || st.Pooled != 3 || st.Counters[CounterRejected] != 1 || st.Replay != 1 {
		t.Fatalf("stats %+v", st)
	}
	if !st.OldestPooled.Equal(t0.Truncate(time.Hour)) {
		t.Fatalf("OldestPooled %v: pool times must be coarse", st.OldestPooled)
	}
	// The replayed packet is caught after the restart.
	c := mustAdd(t, s, "raw-a-again")
	if dup, err := s.Accept(c, replayOf("a"), t0, Item{Kind: KindMail, Data: []byte("x")}); err != nil || !dup {
		t.Fatalf("replay after reopen: dup=%v err=%v", dup, err)
	}
}

func TestAcceptDedup(t *testing.T) {
	s, _ := newStore(t, nil)
	r := replayOf("packet")
	first := mustAdd(t, s, "copy1")
	second := mustAdd(t, s, "copy2")
	it := Item{Kind: KindPacket, Dest: "n@x", Data: []byte("payload")}
	if dup, err := s.Accept(first, r, t0, it); err != nil || dup {
		t.Fatalf("first: dup=%v err=%v", dup, err)
	}
	if dup, err := s.Accept(second, r, t0, it); err != nil || !dup {
		t.Fatalf("second: dup=%v err=%v", dup, err)
	}
	st := mustStats(t, s, t0)
	if st.Incoming != 0 || st.Pooled != 1 || st.Counters[CounterReplay] != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Accepting an incoming entry that is gone changes nothing.
	if _, err := s.Accept(first, replayOf("other"), t0, it); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Accept of consumed entry: %v", err)
	}
	if seen, _ := s.Seen(replayOf("other")); seen {
		t.Fatal("failed Accept logged its replay ID")
	}
	if st := mustStats(t, s, t0); st.Pooled != 1 {
		t.Fatalf("failed Accept pooled items: %+v", st)
	}
	if err := s.DropIncoming(first); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DropIncoming of consumed entry: %v", err)
	}
}

func TestAcceptValidates(t *testing.T) {
	s, _ := newStore(t, nil)
	in := mustAdd(t, s, "x")
	for _, it := range []Item{{Kind: 7}, {Kind: KindPacket, Data: []byte("no dest")}} {
		if _, err := s.Accept(in, replayOf("x"), t0, it); err == nil {
			t.Fatalf("Accept(%+v) succeeded", it)
		}
	}
	if st := mustStats(t, s, t0); st.Incoming != 1 || st.Replay != 0 {
		t.Fatalf("a refused Accept changed the store: %+v", st)
	}
}

func concatBuild(parts [][]byte) ([]Item, error) {
	return []Item{{Kind: KindMail, Data: bytes.Join(parts, nil)}}, nil
}

func TestChunkReassembly(t *testing.T) {
	data := []string{"first|", "second|", ""} // an empty last chunk is legal (§8.5)
	for _, order := range [][]int{{1, 2, 3}, {3, 2, 1}, {2, 3, 1}, {3, 1, 2}} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			s, _ := newStore(t, nil)
			msg := [16]byte{9, 9}
			for i, n := range order {
				in := mustAdd(t, s, fmt.Sprint("chunk", n))
				complete, dup, err := s.AcceptChunk(in, replayOf(fmt.Sprint("p", n)), t0,
					Chunk{MsgID: msg, Num: n, Count: 3, Data: []byte(data[n-1])}, concatBuild)
				if err != nil || dup {
					t.Fatalf("chunk %d: dup=%v err=%v", n, dup, err)
				}
				if last := i == len(order)-1; complete != last {
					t.Fatalf("chunk %d (arrival %d): complete=%v", n, i+1, complete)
				}
			}
			st := mustStats(t, s, t0)
			if st.Chunks != 0 || st.Incoming != 0 || st.Pooled != 1 || st.Replay != 3 {
				t.Fatalf("stats %+v", st)
			}
			_, pooled, _ := contents(t, s)
			if pooled["first|second|"] != 1 {
				t.Fatalf("pool %v", pooled)
			}
		})
	}
}

func TestChunkDupAndStray(t *testing.T) {
	s, _ := newStore(t, nil)
	msg := [16]byte{1}
	add := func(n, count int, replay string) (bool, bool, error) {
		return s.AcceptChunk(mustAdd(t, s, replay), replayOf(replay), t0,
			Chunk{MsgID: msg, Num: n, Count: count, Data: []byte(fmt.Sprint(n))}, concatBuild)
	}
	if c, d, err := add(2, 2, "p2"); c || d || err != nil {
		t.Fatal(c, d, err)
	}
	if c, d, err := add(2, 2, "p2"); c || !d || err != nil { // replayed packet
		t.Fatal(c, d, err)
	}
	if c, d, err := add(5, 2, "p5"); c || d || err != nil { // beyond chunk 1's count
		t.Fatal(c, d, err)
	}
	if st := mustStats(t, s, t0); st.Chunks != 2 || st.ChunkSets != 1 || st.Incoming != 0 {
		t.Fatalf("stats %+v", st)
	}
	if c, d, err := add(1, 2, "p1"); !c || d || err != nil {
		t.Fatal(c, d, err)
	}
	_, pooled, _ := contents(t, s)
	if st := mustStats(t, s, t0); st.Chunks != 0 || pooled["12"] != 1 || st.Pooled != 1 {
		t.Fatalf("stats %+v pool %v", st, pooled)
	}
	if _, _, err := s.AcceptChunk(mustAdd(t, s, "bad"), replayOf("bad"), t0, Chunk{Num: 0, Count: 1}, concatBuild); err == nil {
		t.Fatal("chunk number 0 accepted")
	}
}

func TestChunkBuildRejected(t *testing.T) {
	s, _ := newStore(t, nil)
	msg := [16]byte{2}
	bad := errors.New("unparsable message")
	calls := 0
	build := func([][]byte) ([]Item, error) { calls++; return nil, bad }
	for n := 1; n <= 2; n++ {
		_, _, err := s.AcceptChunk(mustAdd(t, s, "c"), replayOf(fmt.Sprint(n)), t0,
			Chunk{MsgID: msg, Num: n, Count: 2, Data: []byte("x")}, build)
		if n == 1 && err != nil {
			t.Fatal(err)
		}
		if n == 2 && (!errors.Is(err, ErrRejected) || !errors.Is(err, bad)) {
			t.Fatalf("want ErrRejected wrapping build's error, got %v", err)
		}
	}
	if calls == 0 {
		t.Fatal("build not called")
	}
	st := mustStats(t, s, t0)
	if st.Chunks != 0 || st.Incoming != 0 || st.Pooled != 0 || st.Replay != 2 || st.Counters[CounterChunksRejected] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestChunkExpiry(t *testing.T) {
	s, _ := newStore(t, func(o *Options) { o.ChunkExpiry = 7 * 24 * time.Hour })
	_, _, err := s.AcceptChunk(mustAdd(t, s, "c1"), replayOf("c1"), t0,
		Chunk{MsgID: [16]byte{3}, Num: 1, Count: 2, Data: []byte("x")}, concatBuild)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpireChunks(t0.Add(7*24*time.Hour - time.Minute)); n != 0 || err != nil {
		t.Fatalf("expired early: %d %v", n, err)
	}
	if n, err := s.ExpireChunks(t0.Add(7*24*time.Hour + time.Hour)); n != 1 || err != nil {
		t.Fatalf("ExpireChunks = %d %v, want 1", n, err)
	}
	st := mustStats(t, s, t0)
	if st.Chunks != 0 || st.Counters[CounterChunksExpired] != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The late second chunk starts a new, incomplete set.
	complete, _, err := s.AcceptChunk(mustAdd(t, s, "c2"), replayOf("c2"), t0.Add(8*24*time.Hour),
		Chunk{MsgID: [16]byte{3}, Num: 2, Count: 2, Data: []byte("y")}, concatBuild)
	if err != nil || complete {
		t.Fatalf("late chunk: complete=%v err=%v", complete, err)
	}
}

func TestReplayExpiry(t *testing.T) {
	s, _ := newStore(t, nil) // default 7 days
	if _, ok, _ := s.ReplayFloor(); ok {
		t.Fatal("floor set on a new store")
	}
	if _, err := s.Accept(mustAdd(t, s, "a"), replayOf("a"), t0); err != nil {
		t.Fatal(err)
	}
	// A record dated far ahead (clock was wrong) is dropped (§13).
	if _, err := s.Accept(mustAdd(t, s, "f"), replayOf("f"), t0.Add(200*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpireReplay(t0.Add(6 * 24 * time.Hour)); n != 1 || err != nil {
		t.Fatalf("ExpireReplay = %d %v, want the future record only", n, err)
	}
	if seen, _ := s.Seen(replayOf("a")); !seen {
		t.Fatal("expired early")
	}
	now := t0.Add(7*24*time.Hour + time.Hour)
	if n, err := s.ExpireReplay(now); n != 1 || err != nil {
		t.Fatalf("ExpireReplay = %d %v", n, err)
	}
	if seen, _ := s.Seen(replayOf("a")); seen {
		t.Fatal("not expired")
	}
	floor, ok, err := s.ReplayFloor()
	if err != nil || !ok || !floor.Equal(now.Add(-7*24*time.Hour)) {
		t.Fatalf("floor %v %v %v", floor, ok, err)
	}
	// The floor never goes back.
	s.ExpireReplay(t0)
	if f2, _, _ := s.ReplayFloor(); !f2.Equal(floor) {
		t.Fatalf("floor moved back to %v", f2)
	}
}

func TestLifecycle(t *testing.T) {
	s, _ := newStore(t, func(o *Options) {
		o.Strategy = TimedDynamic(0, 100)
		o.RetryBase, o.RetryMax, o.GiveUp, o.Lease = time.Minute, 4*time.Minute, time.Hour, 10*time.Minute
	})
	var items []Item
	for _, d := range []string{"A", "B", "C"} {
		items = append(items, Item{Kind: KindPacket, Dest: "hop-" + d, Data: []byte(d)})
	}
	if err := s.AddPool(t0, items...); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RunPool(t0); n != 3 || err != nil {
		t.Fatalf("RunPool = %d %v", n, err)
	}
	due, err := s.Due(t0, 0)
	if err != nil || len(due) != 3 {
		t.Fatalf("Due = %d %v", len(due), err)
	}
	byData := map[string]Outgoing{}
	for _, o := range due {
		if o.Dest != "hop-"+string(o.Data) || o.Kind != KindPacket || o.Attempts != 0 {
			t.Fatalf("bad hand-out %+v", o)
		}
		byData[string(o.Data)] = o
	}
	if d, _ := s.Due(t0.Add(time.Minute), 0); len(d) != 0 {
		t.Fatalf("leased entries handed out again: %d", len(d))
	}
	if st := mustStats(t, s, t0); st.Outgoing != 3 || st.Leased != 3 || st.Pooled != 0 {
		t.Fatalf("stats %+v", st)
	}

	if err := s.Ack(byData["A"].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(byData["A"].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("double Ack: %v", err)
	}

	// B fails temporarily: 1, 2, 4, 4 minutes (capped) until GiveUp.
	b := byData["B"].ID
	now := t0
	for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 4 * time.Minute} {
		if dropped, err := s.Fail(b, now, false); dropped || err != nil {
			t.Fatalf("Fail %d: %v %v", i, dropped, err)
		}
		d, _ := s.Due(now.Add(wait-time.Second), 0)
		if slices.ContainsFunc(d, func(o Outgoing) bool { return o.ID == b }) {
			t.Fatalf("retry %d came early", i)
		}
		now = now.Add(wait)
		d, err := s.Due(now, 0)
		j := slices.IndexFunc(d, func(o Outgoing) bool { return o.ID == b })
		if err != nil || j < 0 || d[j].Attempts != i+1 {
			t.Fatalf("retry %d: %+v %v", i, d, err)
		}
	}
	if dropped, err := s.Fail(b, t0.Add(time.Hour), false); !dropped || err != nil {
		t.Fatalf("give-up: %v %v", dropped, err)
	}

	// C fails permanently; no bounce, just a counter.
	if dropped, err := s.Fail(byData["C"].ID, t0, true); !dropped || err != nil {
		t.Fatalf("permanent: %v %v", dropped, err)
	}
	if _, err := s.Fail(byData["C"].ID, t0, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Fail of dropped entry: %v", err)
	}
	st := mustStats(t, s, t0)
	if st.Outgoing != 0 || st.Counters[CounterSent] != 1 || st.Counters[CounterGaveUp] != 1 || st.Counters[CounterFailed] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLeaseExpiry(t *testing.T) {
	s, _ := newStore(t, func(o *Options) { o.Strategy = TimedDynamic(0, 100); o.Lease = 5 * time.Minute })
	s.AddPool(t0, Item{Kind: KindMail, Data: []byte("m")})
	s.RunPool(t0)
	if d, _ := s.Due(t0, 1); len(d) != 1 {
		t.Fatal("not due")
	}
	// The sender died without Ack or Fail: the entry comes back.
	d, err := s.Due(t0.Add(5*time.Minute), 0)
	if err != nil || len(d) != 1 || string(d[0].Data) != "m" {
		t.Fatalf("after lease: %+v %v", d, err)
	}
}

func TestDueMax(t *testing.T) {
	s, _ := newStore(t, func(o *Options) { o.Strategy = TimedDynamic(0, 100) })
	for i := 0; i < 5; i++ {
		s.AddPool(t0, Item{Kind: KindMail, Data: []byte{byte(i)}})
	}
	s.RunPool(t0)
	seen := map[ID]bool{}
	for i := 0; i < 3; i++ {
		d, err := s.Due(t0, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(2, 5-2*i); len(d) != want {
			t.Fatalf("round %d: %d due, want %d", i, len(d), want)
		}
		for _, o := range d {
			if seen[o.ID] {
				t.Fatal("handed out twice")
			}
			seen[o.ID] = true
		}
	}
}

func TestLatent(t *testing.T) {
	s, _ := newStore(t, func(o *Options) { o.Strategy = TimedDynamic(0, 100) })
	s.AddPool(t0, Item{Kind: KindMail, Data: []byte("later"), NotBefore: t0.Add(time.Hour)},
		Item{Kind: KindMail, Data: []byte("now")})
	if st := mustStats(t, s, t0); st.Latent != 1 || st.Pooled != 2 {
		t.Fatalf("stats %+v", st)
	}
	if n, _ := s.RunPool(t0); n != 1 {
		t.Fatalf("RunPool moved %d, want only the non-latent one", n)
	}
	if n, _ := s.RunPool(t0.Add(time.Hour)); n != 1 {
		t.Fatalf("latent entry not released: %d", n)
	}
}

func TestRunPoolStrategy(t *testing.T) {
	s, _ := newStore(t, func(o *Options) { o.Strategy = TimedDynamic(4, 65) })
	for i := 0; i < 10; i++ {
		s.AddPool(t0, Item{Kind: KindMail, Data: []byte{byte(i)}})
	}
	// n=10: min(10−4, ⌊6.5⌋) = 6; then n=4 ≤ POOLSIZE: 0.
	for _, want := range []int{6, 0} {
		if n, err := s.RunPool(t0); n != want || err != nil {
			t.Fatalf("RunPool = %d %v, want %d", n, err, want)
		}
	}
}

func TestDrainAll(t *testing.T) {
	s, _ := newStore(t, func(o *Options) { o.Strategy = TimedDynamic(100, 65) })
	for i := 0; i < 7; i++ {
		s.AddPool(t0, Item{Kind: KindMail, Data: []byte{byte(i)}, NotBefore: t0.Add(time.Duration(i) * time.Hour)})
	}
	if n, _ := s.RunPool(t0); n != 0 {
		t.Fatal("pool below POOLSIZE sent")
	}
	if n, err := s.DrainAll(t0); n != 7 || err != nil {
		t.Fatalf("DrainAll = %d %v", n, err)
	}
	if st := mustStats(t, s, t0); st.Pooled != 0 || st.Outgoing != 7 || !st.NextAttempt.Equal(t0) {
		t.Fatalf("stats %+v", st)
	}
}

// TestUnlinkable: the stages of one message share neither key nor
// ciphertext.
func TestUnlinkable(t *testing.T) {
	s, _ := newStore(t, func(o *Options) { o.Strategy = TimedDynamic(0, 100) })
	in := mustAdd(t, s, "raw")
	s.Accept(in, replayOf("raw"), t0, Item{Kind: KindPacket, Dest: "d", Data: []byte("same")})
	var poolKey, poolSealed []byte
	s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bPool).Cursor().First()
		v, err := s.loadContents(tx, bPool, k)
		poolKey, poolSealed = bytes.Clone(k), bytes.Clone(v)
		return err
	})
	s.RunPool(t0)
	s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bOutgoing).Cursor().First()
		if bytes.Equal(k, poolKey) || bytes.Equal(k, in[:]) {
			t.Error("outgoing key reuses an earlier key")
		}
		v, err := s.loadContents(tx, bOutgoing, k)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(v, poolSealed[:32]) {
			t.Error("outgoing record reuses the pool ciphertext")
		}
		return nil
	})
}

func TestBackup(t *testing.T) {
	s, _ := newStore(t, nil)
	mustAdd(t, s, "incoming")
	s.Accept(mustAdd(t, s, "x"), replayOf("x"), t0, Item{Kind: KindMail, Data: []byte("pooled")})
	dst := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Backup(f)
	if err != nil || n == 0 {
		t.Fatalf("Backup = %d %v", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	dump := func(db *bolt.DB) map[string]string {
		m := map[string]string{}
		db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error {
					m[string(name)+"/"+string(k)] = string(v)
					return nil
				})
			})
		})
		return m
	}
	bdb, err := bolt.Open(dst, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("bbolt cannot open the backup: %v", err)
	}
	got, want := dump(bdb), dump(s.db)
	bdb.Close()
	// The backup holds the same records, with the spooled contents inline.
	if len(want) < 4 || len(got) != len(want)+2 {
		t.Fatalf("backup has %d records, the store %d (+2 contents)", len(got), len(want))
	}
	for k, v := range want {
		if !strings.HasPrefix(k, "incoming/") && !strings.HasPrefix(k, "pool/") && got[k] != v {
			t.Fatalf("backup differs at %q", k)
		}
	}
	b := openT(t, dst, testOptions(t))
	defer b.Close()
	inc, pooled, _ := contents(t, b)
	if inc["incoming"] != 1 || pooled["pooled"] != 1 {
		t.Fatalf("backup contents %v %v", inc, pooled)
	}
}

// identity is a Sealer that does not seal: the control case showing that
// the on-disk test can see plaintext at all.
type identity struct{}

func (identity) Seal(p []byte) ([]byte, error) { return bytes.Clone(p), nil }
func (identity) Open(p []byte) ([]byte, error) { return bytes.Clone(p), nil }

func TestSealedOnDisk(t *testing.T) {
	const marker = "MARKER-7c1e-PLAINTEXT"
	for _, sealed := range []bool{true, false} {
		t.Run(fmt.Sprint("sealed=", sealed), func(t *testing.T) {
			s, path := newStore(t, func(o *Options) {
				o.Strategy = TimedDynamic(0, 100)
				if !sealed {
					o.Sealer = identity{}
				}
			})
			count := func() int {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				return bytes.Count(b, []byte(marker))
			}
			mustAdd(t, s, "From: alice\n\n"+marker+" incoming")
			s.Accept(mustAdd(t, s, "x"), replayOf("x"), t0,
				Item{Kind: KindMail, Dest: marker + "@dest", Data: []byte("To: bob\n\n" + marker + " mail")})
			s.AcceptChunk(mustAdd(t, s, "c"), replayOf("c"), t0,
				Chunk{MsgID: [16]byte{1}, Num: 1, Count: 2, Data: []byte(marker + " chunk")}, concatBuild)
			s.AddPool(t0, Item{Kind: KindMail, Data: []byte(marker + " moved")})
			s.RunPool(t0) // moved entries leave freed pages behind
			n := count()
			if sealed && n != 0 {
				t.Fatalf("plaintext marker found %d times in the db file", n)
			}
			if !sealed && n == 0 {
				t.Fatal("control: plaintext marker not found without sealing")
			}
		})
	}
}

func TestConcurrentAddIncoming(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool.db")
	o := testOptions(t)
	o.BatchDelay = 5 * time.Millisecond
	s := openT(t, path, o)
	const n = 32
	ids := make([]ID, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s.AddIncoming([]byte(fmt.Sprint("msg-", i)))
			ids[i] = id
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := s.db.Stats()
	txn := st.TxStats.GetWrite()
	s.Close()
	t.Logf("%d concurrent AddIncoming in %d write transactions", n, txn)

	s = openT(t, path, testOptions(t))
	defer s.Close()
	for i, id := range ids {
		raw, err := s.LoadIncoming(id)
		if err != nil || string(raw) != fmt.Sprint("msg-", i) {
			t.Fatalf("entry %d: %q %v", i, raw, err)
		}
	}
	got, _ := s.Incoming()
	if len(got) != n {
		t.Fatalf("%d entries, want %d", len(got), n)
	}
}

func TestCorruptRecords(t *testing.T) {
	s, path := newStore(t, func(o *Options) { o.Strategy = TimedDynamic(0, 100) })
	in := mustAdd(t, s, "raw")
	s.AddPool(t0, Item{Kind: KindMail, Data: []byte("ok")})
	bad := ID{0xba, 0xd}
	s.db.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bPool).Put(bad[:], []byte{recordV1, 1, 2}) // short
		l, _ := indexLoc(tx.Bucket(bIncoming).Get(in[:]))
		_, err := s.sp.f.WriteAt([]byte{0xff}, int64(l.slot)*slotSize+int64(l.n)-1) // breaks the GCM tag
		return err
	})
	if _, err := s.LoadIncoming(in); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("LoadIncoming of tampered record: %v", err)
	}
	_, err := s.RunPool(t0)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("RunPool over corrupt record: %v", err)
	}
	if id, ok := ce.ID(); !ok || id != bad {
		t.Fatalf("CorruptError names %x", ce.Key)
	}
	if _, err := s.Stats(t0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Stats: %v", err)
	}
	// A corrupt outgoing record can be dropped by a permanent Fail.
	s.db.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bPool).Delete(bad[:])
		return tx.Bucket(bOutgoing).Put(bad[:], []byte{9})
	})
	if _, err := s.Due(t0, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Due: %v", err)
	}
	if dropped, err := s.Fail(bad, t0, true); !dropped || err != nil {
		t.Fatalf("Fail(permanent) of corrupt record: %v %v", dropped, err)
	}
	if d, err := s.Due(t0, 0); err != nil || len(d) != 0 {
		t.Fatalf("Due after cleanup: %d %v", len(d), err)
	}
	// DropCorrupt removes whatever record an error named.
	_, err = s.LoadIncoming(in)
	if !errors.As(err, &ce) {
		t.Fatalf("no CorruptError: %v", err)
	}
	if err := s.DropCorrupt(ce); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s, t0); st.Incoming != 0 || st.Counters[CounterCorrupt] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.DropCorrupt(&CorruptError{Bucket: "meta", Key: mFormat}); err == nil {
		t.Fatal("DropCorrupt deleted from meta")
	}
	// Another key is refused at Open, not reported record by record.
	s.Close()
	other, _ := NewAESGCMSealer([32]byte{7})
	o := testOptions(t)
	o.Sealer = other
	if _, err := Open(path, o); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with another key: %v", err)
	}
}

func TestDecodePayloadNoPanic(t *testing.T) {
	inputs := [][]byte{nil, {0}, {0, 0xff}, {1, 5, 'a'}, {3, 0}, {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}}
	for _, in := range inputs {
		decodePayload(in) // must not panic
	}
	it := Item{Kind: KindPost, Dest: "alt.anonymous", Data: []byte("body")}
	got, err := decodePayload(encodePayload(it))
	if err != nil || got.Kind != it.Kind || got.Dest != it.Dest || string(got.Data) != "body" {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, f := range []func([]byte) error{
		func(b []byte) error { _, err := decodePool(b); return err },
		func(b []byte) error { _, err := decodeOut(b); return err },
		func(b []byte) error { _, err := decodeChunk(b); return err },
	} {
		for _, b := range [][]byte{nil, {1}, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
			if f(b) == nil {
				t.Fatalf("decoded %x", b)
			}
		}
	}
}

func TestSealer(t *testing.T) {
	s, _ := NewAESGCMSealer(testKey)
	a, _ := s.Seal([]byte("hello"))
	b, _ := s.Seal([]byte("hello"))
	if bytes.Equal(a, b) {
		t.Fatal("Seal is not randomised")
	}
	if p, err := s.Open(a); err != nil || string(p) != "hello" {
		t.Fatalf("Open = %q %v", p, err)
	}
	for _, bad := range [][]byte{nil, a[:10], append(bytes.Clone(a[:len(a)-1]), a[len(a)-1]^1)} {
		if _, err := s.Open(bad); err == nil {
			t.Fatalf("Open(%x) succeeded", bad)
		}
	}
}

func TestIDsAreRandom(t *testing.T) {
	s, _ := newStore(t, nil)
	var ids []ID
	for i := 0; i < 12; i++ { // sorted by chance: 1 in 12! ≈ 5·10^8
		ids = append(ids, mustAdd(t, s, "x"))
	}
	sorted := slices.Clone(ids)
	sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i][:], sorted[j][:]) < 0 })
	if slices.Equal(ids, sorted) {
		t.Fatal("IDs come in ascending order: they leak arrival order")
	}
}

// TestTakePool: flush --all's hand-out takes the pool a batch at a time
// without moving it; taken entries are invisible to pool rounds and later
// batches; AckMany deletes them in one commit, a temporary failure puts
// one back, a permanent one drops it; a crash leaves the taken ones
// pooled.
func TestTakePool(t *testing.T) {
	s, path := newStore(t, func(o *Options) { o.Strategy = TimedDynamic(0, 100) })
	want := map[string]bool{}
	for i := 0; i < 7; i++ {
		d := fmt.Sprintf("packet %d", i)
		want[d] = true
		if err := s.AddPool(t0, Item{Kind: KindPacket, Dest: "hop@example.net", Data: []byte(d)}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]ID{}
	for round, size := range []int{3, 3, 1, 0} {
		b, err := s.TakePool(t0, 3)
		if err != nil || len(b) != size {
			t.Fatalf("round %d: TakePool = %d entries, %v; want %d", round, len(b), err, size)
		}
		for _, o := range b {
			if o.Dest != "hop@example.net" || o.Kind != KindPacket || !want[string(o.Data)] {
				t.Fatalf("entry %+v", o)
			}
			if _, dup := got[string(o.Data)]; dup {
				t.Fatalf("%q handed out twice", o.Data)
			}
			got[string(o.Data)] = o.ID
		}
	}
	if n, err := s.RunPool(t0); n != 0 || err != nil {
		t.Fatalf("RunPool moved %d taken entries (%v)", n, err)
	}
	if n, err := s.DrainAll(t0); n != 0 || err != nil {
		t.Fatalf("DrainAll moved %d taken entries (%v)", n, err)
	}
	var acked []ID
	for _, d := range []string{"packet 0", "packet 1", "packet 2", "packet 3"} {
		acked = append(acked, got[d])
	}
	// An unknown ID is skipped, not an error.
	if err := s.AckMany(append(acked, ID{1})); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s, t0); st.Pooled != 3 || st.Counters[CounterSent] != 4 {
		t.Fatalf("after AckMany: %+v", st)
	}
	if dropped, err := s.Fail(got["packet 4"], t0, false); dropped || err != nil {
		t.Fatalf("temporary failure: dropped %v, %v", dropped, err)
	}
	if dropped, err := s.Fail(got["packet 5"], t0, true); !dropped || err != nil {
		t.Fatalf("permanent failure: dropped %v, %v", dropped, err)
	}
	if st := mustStats(t, s, t0); st.Pooled != 2 || st.Counters[CounterFailed] != 1 {
		t.Fatalf("after the failures: %+v", st)
	}
	// packet 4 is back: a pool round may take it; packet 6 is still taken.
	if n, err := s.RunPool(t0); n != 1 || err != nil {
		t.Fatalf("RunPool = %d %v, want packet 4 only", n, err)
	}
	s.Close()
	s = openT(t, path, testOptions(t))
	t.Cleanup(func() { s.Close() })
	b, err := s.TakePool(t0, 0)
	if err != nil || len(b) != 1 || string(b[0].Data) != "packet 6" {
		t.Fatalf("after restart: %+v, %v; want packet 6 pooled", b, err)
	}
}

// TestRelease: entries handed out but not sent are due again at once.
func TestRelease(t *testing.T) {
	s, _ := newStore(t, func(o *Options) { o.Strategy = TimedDynamic(0, 100); o.Lease = time.Hour })
	for _, d := range []string{"queued", "pooled"} {
		if err := s.AddPool(t0, Item{Kind: KindMail, Data: []byte(d)}); err != nil {
			t.Fatal(err)
		}
		if d == "queued" {
			if n, err := s.DrainAll(t0); n != 1 || err != nil {
				t.Fatal(n, err)
			}
		}
	}
	due, err := s.Due(t0, 0)
	if err != nil || len(due) != 1 {
		t.Fatal(due, err)
	}
	taken, err := s.TakePool(t0, 0)
	if err != nil || len(taken) != 1 {
		t.Fatal(taken, err)
	}
	if d, _ := s.Due(t0, 0); len(d) != 0 {
		t.Fatal("leased entry handed out again")
	}
	if tk, _ := s.TakePool(t0, 0); len(tk) != 0 {
		t.Fatal("taken entry handed out again")
	}
	if err := s.Release(t0.Add(time.Minute), []ID{due[0].ID, taken[0].ID}); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Due(t0.Add(time.Minute), 0); err != nil || len(d) != 1 || string(d[0].Data) != "queued" {
		t.Fatalf("after Release, Due = %+v %v", d, err)
	}
	if tk, err := s.TakePool(t0, 0); err != nil || len(tk) != 1 || string(tk[0].Data) != "pooled" {
		t.Fatalf("after Release, TakePool = %+v %v", tk, err)
	}
}
