package mix

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mixgo/mixgo/packet"
	"github.com/mixgo/mixgo/pool"
)

// dirNode is a node delivering to dir:out in its own directory.
func dirNode(t *testing.T) (*Node, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "node")
	out := filepath.Join(dir, "out")
	if _, err := Init(dir, InitOptions{Name: "batch", Address: "batch@example.test", KeyBits: 1024, Deliver: "dir:" + out}); err != nil {
		t.Fatal(err)
	}
	n, err := Open(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, out
}

// TestFlushAllBatches: 'flush --all' to dir: moves and sends the pool a
// batch at a time; every packet arrives once, armoured for its next hop,
// and the store is empty afterwards. With the directory gone, nothing is
// lost: the flush stops after the first failed batch and the entries wait
// for their retry.
func TestFlushAllBatches(t *testing.T) {
	n, out := dirNode(t)
	now := time.Now()
	const count = 2*dueBatch + 37
	want := map[string]bool{}
	var items []pool.Item
	for i := range count {
		p := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, packet.PacketSize/2)
		want[string(p)] = true
		items = append(items, pool.Item{Kind: pool.KindPacket, Dest: fmt.Sprintf("hop%d@example.net", i%3), Data: p})
	}
	// One entry already queued, as a previous flush would leave it.
	if err := n.Store.AddPool(now, items[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Store.DrainAll(now); err != nil {
		t.Fatal(err)
	}
	if err := n.Store.AddPool(now, items[1:]...); err != nil {
		t.Fatal(err)
	}

	// The directory replaced by a file: every write fails.
	if err := os.WriteFile(out, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := n.NewSender()
	if err == nil {
		t.Fatal("dir: accepted a file as its directory")
	}
	os.Remove(out)
	if s, err = n.NewSender(); err != nil {
		t.Fatal(err)
	}
	os.Remove(out)
	if err := os.WriteFile(out, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sent, failed, err := n.Flush(t.Context(), true, s)
	if err != nil || sent != 0 || failed == 0 || failed > dueBatch {
		t.Fatalf("flush to a broken directory: sent %d failed %d err %v; want one failed batch", sent, failed, err)
	}
	st, err := n.Store.Stats(now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pooled+st.Outgoing != count {
		t.Fatalf("after the failure %d pooled + %d queued, want %d in all", st.Pooled, st.Outgoing, count)
	}

	// Repaired, and later than the retry time: everything goes.
	os.Remove(out)
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	n.Clock = func() time.Time { return now.Add(2 * time.Hour) }
	sent, failed, err = n.Flush(t.Context(), true, s)
	if err != nil || sent != count || failed != 0 {
		t.Fatalf("flush: sent %d failed %d err %v; want %d sent", sent, failed, err, count)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != count {
		t.Fatalf("%d files, want %d", len(entries), count)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, mail, _ := bytes.Cut(b, []byte("\n\n"))
		pkts, err := packet.Dearmor(append(b[:0:0], mail...))
		if err != nil || len(pkts) != 1 || !want[string(pkts[0])] {
			t.Fatalf("%s: not one of the packets (%v)", e.Name(), err)
		}
		delete(want, string(pkts[0]))
	}
	st, err = n.Store.Stats(now.Add(2 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if st.Pooled != 0 || st.Outgoing != 0 || st.Counters[pool.CounterSent] != count {
		t.Fatalf("store after the flush: %+v", st)
	}
}
