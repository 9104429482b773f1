package pool

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const benchSize = 20480 // one packet

// benchParallelism × GOMAXPROCS goroutines call at once in the parallel
// benchmarks, like concurrent SMTP sessions.
const benchParallelism = 16

func benchStore(b *testing.B, delay time.Duration) *Store {
	b.Helper()
	o := testOptions(b)
	o.BatchDelay = delay
	s := openT(b, filepath.Join(b.TempDir(), "pool.db"), o)
	b.Cleanup(func() { s.Close() })
	return s
}

// txid is the ID of the last committed transaction; it grows by one per
// commit, so its difference counts commits (fsyncs).
func txid(b *testing.B, s *Store) int {
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		b.Fatal(err)
	}
	return id
}

func reportCommits(b *testing.B, s *Store, before int) {
	if n := txid(b, s) - before; n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "ops/commit")
	}
}

// BenchmarkAddIncoming shows group commit: in parallel many calls share
// one fsync (ops/commit).
func BenchmarkAddIncoming(b *testing.B) {
	raw := make([]byte, benchSize)
	rand.Read(raw)
	for _, delay := range []time.Duration{0, time.Millisecond, 10 * time.Millisecond} {
		b.Run(fmt.Sprintf("serial/delay=%v", delay), func(b *testing.B) {
			s := benchStore(b, delay)
			b.SetBytes(benchSize)
			before := txid(b, s)
			b.ResetTimer()
			for range b.N {
				if _, err := s.AddIncoming(raw); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportCommits(b, s, before)
		})
		b.Run(fmt.Sprintf("parallel/delay=%v", delay), func(b *testing.B) {
			s := benchStore(b, delay)
			b.SetBytes(benchSize)
			b.SetParallelism(benchParallelism)
			before := txid(b, s)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.AddIncoming(raw); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			reportCommits(b, s, before)
		})
	}
}

// BenchmarkAccept: replay test-and-set + one 20 KB packet into the pool +
// delete of the incoming entry, per call.
func BenchmarkAccept(b *testing.B) {
	data := make([]byte, benchSize)
	rand.Read(data)
	setup := func(b *testing.B) (*Store, []ID) {
		s := benchStore(b, 0)
		ids := make([]ID, b.N)
		rec := append([]byte{recordV1}, make([]byte, 64)...)
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i := range ids {
				rand.Read(ids[i][:])
				if err := tx.Bucket(bIncoming).Put(ids[i][:], rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return s, ids
	}
	accept := func(s *Store, id ID) error {
		var r [16]byte
		rand.Read(r[:])
		_, err := s.Accept(id, r, t0, Item{Kind: KindPacket, Dest: "remailer@example.org", Data: data})
		return err
	}
	b.Run("serial", func(b *testing.B) {
		s, ids := setup(b)
		b.SetBytes(benchSize)
		b.ResetTimer()
		for i := range b.N {
			if err := accept(s, ids[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		s, ids := setup(b)
		b.SetBytes(benchSize)
		b.SetParallelism(benchParallelism)
		var next atomic.Int64
		before := txid(b, s)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := accept(s, ids[next.Add(1)-1]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		reportCommits(b, s, before)
	})
}

// BenchmarkSeal measures the cost of sealing a packet at rest (Seal and
// Open of 20 KB), to compare with a commit.
func BenchmarkSeal(b *testing.B) {
	s, err := NewAESGCMSealer(testKey)
	if err != nil {
		b.Fatal(err)
	}
	plain := make([]byte, benchSize)
	b.SetBytes(benchSize)
	for range b.N {
		sealed, err := s.Seal(plain)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Open(sealed); err != nil {
			b.Fatal(err)
		}
	}
}

// procIO returns the bytes this process has caused to be written to disk
// and its file-backed resident memory (Linux; zeros elsewhere).
func procIO() (written, rssFile int64) {
	if b, err := os.ReadFile("/proc/self/io"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
				written, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				rssFile = kb << 10
			}
		}
	}
	return
}

// BenchmarkLayout compares where 20 KB packets live, in the steady state
// of a store holding layoutLive of them: each op stores one packet
// durably (fsync) and deletes an older one, from benchParallelism ×
// GOMAXPROCS goroutines at once.
//
//	spool:  the Store as it is (bbolt index, contents in spool slots)
//	inline: the Store with every packet inside bbolt
//	files:  one file per packet, written, fsynced, renamed and the
//	        directory fsynced (a Maildir-style spool), unlinked to delete
//
// Besides ns/op it reports the bytes written to disk per op and the
// file-backed memory the process has mapped at the end (bbolt reads
// through mmap; the layouts run in this order, files first, so that each
// figure includes only the mappings of those before it).
func BenchmarkLayout(b *testing.B) {
	const layoutLive = 3000
	data := make([]byte, benchSize)
	rand.Read(data)
	report := func(b *testing.B, w0 int64) {
		w1, rss := procIO()
		b.ReportMetric(float64(w1-w0)/float64(b.N)/1024, "KB-written/op")
		b.ReportMetric(float64(rss)/(1<<20), "MB-mapped")
	}
	// One store per layout, preloaded once: b.Run calls each function
	// several times with growing b.N.
	type loaded struct {
		s   *Store
		ids chan ID
	}
	stores := map[string]*loaded{}
	parent := b
	preload := func(b *testing.B, layout string) *loaded {
		if l := stores[layout]; l != nil {
			return l
		}
		dir, err := os.MkdirTemp("", "pool-layout")
		if err != nil {
			b.Fatal(err)
		}
		o := testOptions(b)
		s, err := Open(filepath.Join(dir, "pool.db"), o)
		if err != nil {
			b.Fatal(err)
		}
		parent.Cleanup(func() { s.Close(); os.RemoveAll(dir) })
		s.noSpool = layout == "inline"
		l := &loaded{s, make(chan ID, 1<<20)}
		var wg sync.WaitGroup
		for range 16 { // concurrently, as the daemon would
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range layoutLive / 16 {
					id, err := s.AddIncoming(data)
					if err != nil {
						b.Error(err)
						return
					}
					l.ids <- id
				}
			}()
		}
		wg.Wait()
		stores[layout] = l
		return l
	}
	dir, err := os.MkdirTemp("", "pool-layout-files")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	var seq atomic.Int64
	names := make(chan string, 1<<20)
	filesLoaded := false
	b.Run("files", func(b *testing.B) {
		write := func() error {
			name := filepath.Join(dir, fmt.Sprintf("%d", seq.Add(1)))
			f, err := os.OpenFile(name+".tmp", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err := f.Write(data); err != nil {
				return err
			}
			if err := f.Sync(); err != nil {
				return err
			}
			f.Close()
			if err := os.Rename(name+".tmp", name); err != nil {
				return err
			}
			d, err := os.Open(dir)
			if err != nil {
				return err
			}
			defer d.Close()
			names <- name
			return d.Sync()
		}
		for ; !filesLoaded && len(names) < layoutLive; filesLoaded = len(names) >= layoutLive {
			if err := write(); err != nil {
				b.Fatal(err)
			}
		}
		w0, _ := procIO()
		b.SetBytes(benchSize)
		b.SetParallelism(benchParallelism)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := write(); err != nil {
					b.Error(err)
					return
				}
				if err := os.Remove(<-names); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		report(b, w0)
	})
	for _, layout := range []string{"spool", "inline"} {
		b.Run(layout, func(b *testing.B) {
			l := preload(b, layout)
			s, ids := l.s, l.ids
			w0, _ := procIO()
			b.SetBytes(benchSize)
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id, err := s.AddIncoming(data)
					if err != nil {
						b.Error(err)
						return
					}
					ids <- id
					if err := s.DropIncoming(<-ids); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			report(b, w0)
		})
	}
}
