package pool

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
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
	for _, delay := range []time.Duration{time.Millisecond, 10 * time.Millisecond} {
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
		s := benchStore(b, 10*time.Millisecond)
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
