package pool

import (
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds the calls sharing one transaction, and so the dirty
// pages a commit holds in memory (a call writes about one 20 KB packet).
const maxGroup = 512

// committer is the group commit behind the concurrent calls. Unlike
// bbolt's DB.Batch, which always waits MaxBatchDelay before committing, a
// commit starts as soon as there is work: callers that arrive while a
// commit (and its fsync) is running queue up and share the next one. A
// lone caller pays one commit and no delay; under load the group grows by
// itself to whatever arrived during one fsync.
type committer struct {
	mu      sync.Mutex
	queue   []*groupCall
	running bool

	// Totals for CommitStats.
	commits, calls  atomic.Int64
	syncNs, writeNs atomic.Int64
}

// CommitStats are totals of the group commits since Open: how many
// commits, how many calls they carried, and the wall time spent making the
// spool durable and committing the index (bbolt's write and fsyncs).
type CommitStats struct {
	Commits, Calls int64
	SpoolSync      time.Duration
	Commit         time.Duration
}

// CommitStats returns the group commit totals (for the daemon's periodic
// counts and the benchmarks).
func (s *Store) CommitStats() CommitStats {
	g := &s.group
	return CommitStats{g.commits.Load(), g.calls.Load(), time.Duration(g.syncNs.Load()), time.Duration(g.writeNs.Load())}
}

type groupCall struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// SetBatchDelay changes Options.BatchDelay: how long each group commit
// waits for more calls before it starts. A batch whose caller waits for
// the whole (mixd process) gains from a few milliseconds: fewer, larger
// commits, fewer fsyncs.
func (s *Store) SetBatchDelay(d time.Duration) { s.batchDelay.Store(int64(max(d, 0))) }

// batch runs fn in a write transaction shared with other concurrent
// callers and returns once that transaction is durable. As with DB.Batch,
// fn may run more than once and must only depend on its inputs and the
// transaction; if it fails, it is retried alone and its error returned.
func (s *Store) batch(fn func(*bolt.Tx) error) error {
	c := &groupCall{fn: fn, done: make(chan error, 1)}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, c)
	start := !g.running
	g.running = true
	g.mu.Unlock()
	if start {
		go s.commitLoop()
	}
	return <-c.done
}

// commitLoop commits queued calls group by group until the queue is empty.
// A group goes through two stages: the spool sync (its slots durable),
// then the index commit (bbolt's write and two fsyncs). The spool sync of
// one group runs while the previous group's index commits, so a commit
// cycle costs the longer of the two, not their sum.
func (s *Store) commitLoop() {
	g := &s.group
	var prev chan struct{} // closed when the previous group's index commit is done
	for {
		if d := time.Duration(s.batchDelay.Load()); d > 0 {
			time.Sleep(d)
		}
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		if n == 0 {
			g.mu.Unlock()
			if prev != nil {
				// Calls may arrive while the last commit runs.
				<-prev
				prev = nil
				continue
			}
			g.mu.Lock()
			if len(g.queue) == 0 {
				g.running = false
				g.mu.Unlock()
				return
			}
			g.mu.Unlock()
			continue
		}
		calls := g.queue[:n:n]
		g.queue = append([]*groupCall(nil), g.queue[n:]...)
		g.mu.Unlock()

		g.commits.Add(1)
		g.calls.Add(int64(n))
		start := time.Now()
		// The spool slots the calls wrote must be durable before the
		// index that refers to them.
		err := s.sp.sync()
		g.syncNs.Add(int64(time.Since(start)))
		if prev != nil {
			<-prev
		}
		if err != nil {
			for _, c := range calls {
				c.done <- err
			}
			prev = nil
			continue
		}
		done := make(chan struct{})
		prev = done
		go func() {
			defer close(done)
			s.commitIndex(calls)
		}()
	}
}

// commitIndex runs calls in one transaction. A call whose function fails
// is taken out and run alone afterwards, so that one caller's error does
// not fail the others (DB.Batch does the same).
func (s *Store) commitIndex(calls []*groupCall) {
	g := &s.group
	start := time.Now()
	defer func() { g.writeNs.Add(int64(time.Since(start))) }()
	var solo []*groupCall
	for len(calls) > 0 {
		failed := -1
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			solo = append(solo, calls[failed])
			calls = append(calls[:failed:failed], calls[failed+1:]...)
			continue
		}
		for _, c := range calls {
			c.done <- err
		}
		break
	}
	for _, c := range solo {
		c.done <- s.db.Update(c.fn)
	}
}
