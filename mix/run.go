package mix

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mixgo/mixgo/internal/counter"
	"github.com/mixgo/mixgo/internal/mailout"
	"github.com/mixgo/mixgo/internal/netlimit"
	"github.com/mixgo/mixgo/pool"
)

// worker state of a running node.
type workState struct {
	ch       chan pool.ID
	mu       sync.Mutex
	inflight map[pool.ID]bool
	kick     chan struct{} // wakes the sender
}

// enqueue hands an incoming entry to the decryption workers. When the
// queue is full the entry simply waits in the store for the next rescan.
func (n *Node) enqueue(id pool.ID) {
	w := n.work
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.inflight[id] {
		w.mu.Unlock()
		return
	}
	w.inflight[id] = true
	w.mu.Unlock()
	select {
	case w.ch <- id:
	default:
		w.mu.Lock()
		delete(w.inflight, id)
		w.mu.Unlock()
	}
}

func (n *Node) kickSender() {
	if n.work != nil {
		select {
		case n.work.kick <- struct{}{}:
		default:
		}
	}
}

// rescan queues every stored incoming entry (after a restart, or when the
// queue was full).
func (n *Node) rescan() {
	ids, err := n.Store.Incoming()
	if err != nil {
		n.Log.Error("listing incoming mail", "err", err)
		return
	}
	for _, id := range ids {
		n.enqueue(id)
	}
}

func (n *Node) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-n.work.ch:
			err := n.ProcessIncoming(id)
			if err != nil && !errors.Is(err, errDropped) && !errors.Is(err, pool.ErrNotFound) {
				n.Log.Error("processing incoming mail", "err", err)
				var ce *pool.CorruptError
				if errors.As(err, &ce) {
					n.Store.DropCorrupt(ce)
				}
			}
			n.work.mu.Lock()
			delete(n.work.inflight, id)
			n.work.mu.Unlock()
		}
	}
}

// PoolRound runs one pool round: outgoing dummies (§12.2 step 1), then the
// mixing strategy moves entries to the outgoing queue.
func (n *Node) PoolRound() (int, error) {
	now := n.Clock()
	if c, err := pool.DummyCount(n.Cfg.OutDummy, n.Rand); err == nil && c > 0 {
		n.addDummies(c, now)
	}
	return n.Store.RunPool(now)
}

// Run serves SMTP and the control socket, decrypts, mixes and sends until
// ctx ends. Whatever was accepted and not yet sent stays in the store.
func (n *Node) Run(ctx context.Context) error {
	sender, err := n.newSender()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", n.Cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", n.Cfg.Listen, err)
	}
	ctl, err := n.listenControl()
	if err != nil {
		ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.Store.SetBatchDelay(daemonBatchDelay)
	n.work = &workState{ch: make(chan pool.ID, 4096), inflight: map[pool.ID]bool{}, kick: make(chan struct{}, 1)}
	workers := n.workers()
	var wg sync.WaitGroup
	for range workers * pipelineDepth {
		wg.Add(1)
		go func() { defer wg.Done(); n.worker(ctx) }()
	}
	srv := n.newSMTPServer()
	go func() {
		if err := srv.Serve(netlimit.New(ln, n.Cfg.MaxConnections, errBusy)); err != nil && ctx.Err() == nil {
			n.Log.Error("SMTP server stopped", "err", err)
			cancel()
		}
	}()
	wg.Add(1)
	go func() { defer wg.Done(); n.serveControl(ctx, ctl, sender) }()
	wg.Add(1)
	go func() { defer wg.Done(); n.sendLoop(ctx, sender) }()

	n.Log.Info("mixd started", "name", n.Cfg.Name, "listen", ln.Addr().String(), "workers", workers,
		"pool", fmt.Sprintf("%s %d/%d%% every %v", n.Cfg.PoolStrategy, n.Cfg.PoolSize, n.Cfg.PoolRate, n.Cfg.PoolInterval))
	n.rescan()
	poolTick := time.NewTicker(n.Cfg.PoolInterval)
	rescanTick := time.NewTicker(time.Minute)
	maintTick := time.NewTicker(time.Hour)
	defer poolTick.Stop()
	defer rescanTick.Stop()
	defer maintTick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-poolTick.C:
			if _, err := n.PoolRound(); err != nil {
				n.Log.Error("pool round", "err", err)
			}
			n.kickSender()
		case <-rescanTick.C:
			n.rescan()
		case <-maintTick.C:
			n.maintenance()
		}
	}
	srv.Close()
	ctl.Close()
	wg.Wait()
	n.logCounts()
	n.Log.Info("mixd stopped")
	return nil
}

// sendLoop delivers due entries when kicked and every few seconds (for
// retries).
func (n *Node) sendLoop(ctx context.Context, s mailout.Sender) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.work.kick:
		}
		if _, _, err := n.SendDue(ctx, s); err != nil && ctx.Err() == nil {
			n.Log.Error("sending", "err", err)
		}
	}
}

// maintenance is the hourly housekeeping: keys, expiry, counts.
func (n *Node) maintenance() {
	now := n.Clock()
	n.refreshKeys()
	n.serviceMaintenance(now) // keys, statistics, answers state (keys.go)
	if _, err := n.Store.ExpireReplay(now); err != nil {
		n.Log.Error("expiring the replay log", "err", err)
	}
	if _, err := n.Store.ExpireChunks(now); err != nil {
		n.Log.Error("expiring partial chunks", "err", err)
	}
	n.logCounts()
}

// logCounts writes the event counts at info level: aggregates only.
func (n *Node) logCounts() {
	n.Log.Info("counts", "events", counter.Format(n.Counts()))
	cs := n.Store.CommitStats()
	n.Log.Info("storage", "group_commits", cs.Commits, "calls", cs.Calls,
		"spool_sync", cs.SpoolSync.Round(time.Millisecond).String(), "index_commit", cs.Commit.Round(time.Millisecond).String())
}

// Flush runs a pool round (or, with all, moves the whole pool to the
// outgoing queue) and sends what is due. With all and a sender that takes
// batches (dir:), the pool is sent a shuffled batch at a time instead of
// being moved first.
func (n *Node) Flush(ctx context.Context, all bool, s mailout.Sender) (sent, failed int, err error) {
	if n.work == nil {
		// 'mixd flush' without a daemon: nobody waits for one mail.
		n.Store.SetBatchDelay(flushBatchDelay)
	}
	if bs, ok := s.(mailout.BatchSender); ok && all {
		// What is queued already, then the pool a batch at a time, each
		// sent while the next is read (pool.Store.TakePool).
		queued := true
		return n.sendBatches(ctx, bs, func() ([]pool.Outgoing, error) {
			if queued {
				due, err := n.Store.Due(n.Clock(), dueBatch)
				if err != nil || len(due) > 0 {
					return due, err
				}
				queued = false
			}
			return n.Store.TakePool(n.Clock(), dueBatch)
		})
	}
	if all {
		if _, err := n.Store.DrainAll(n.Clock()); err != nil {
			return 0, 0, err
		}
	} else if _, err := n.PoolRound(); err != nil {
		return 0, 0, err
	}
	return n.SendDue(ctx, s)
}

// ProcessAll decrypts every stored incoming entry now (for 'mixd process'
// without a running daemon).
func (n *Node) ProcessAll() error {
	workers := n.workers() * pipelineDepth
	// A mail with several packets adds one entry per packet: a second pass
	// takes those.
	for pass := 0; pass < 2; pass++ {
		ids, err := n.Store.Incoming()
		if err != nil {
			return err
		}
		ch := make(chan pool.ID)
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range ch {
					if err := n.ProcessIncoming(id); err != nil && !errors.Is(err, errDropped) {
						errs <- err
						return
					}
				}
			}()
		}
	feed:
		for _, id := range ids {
			select {
			case ch <- id:
			case err := <-errs:
				errs <- err
				break feed
			}
		}
		close(ch)
		wg.Wait()
		select {
		case err := <-errs:
			return err
		default:
		}
	}
	return nil
}

// daemonBatchDelay is the group commit delay of the running daemon: 2 ms
// more before a 250 or a pool entry is nothing for a mix, and it halved
// the commits and raised the end-to-end throughput by 10–20% in
// scripts/bench-daemon.sh (docs/PERFORMANCE.md).
const daemonBatchDelay = 2 * time.Millisecond

// processBatchDelay is the group commit delay of ProcessBatch: 5 ms made
// `mixd process` of 1000 packets 25% faster on one core than committing at
// once, with a third of the fsyncs; 20 ms, a quarter of those again, kept
// both cores busier (each fsync holds a Go scheduler P while it blocks)
// and made the batch of 2000 about 5% faster (docs/PERFORMANCE.md).
const processBatchDelay = 20 * time.Millisecond

// flushBatchDelay is the group commit delay of `mixd flush` without a
// daemon, whose commits (acknowledgements of whole batches) are few.
const flushBatchDelay = 5 * time.Millisecond

// ProcessBatch is 'mixd process FILE...': it processes count mails,
// read(i) giving the i-th, each as ProcessDirect does, workers ×
// pipelineDepth at once so that reading, decrypting and the shared commits
// overlap. It returns nil once every mail's result is stored (or the mail
// dropped), else the first error, after which it takes no more mails; the
// caller keeps the mails until then, and what was done is not done twice
// (the replay log drops a packet processed again).
func (n *Node) ProcessBatch(count int, read func(i int) ([]byte, error)) error {
	// Nobody waits for a single mail of the batch: larger, fewer commits.
	n.Store.SetBatchDelay(processBatchDelay)
	var next atomic.Int64
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(count, n.workers()*pipelineDepth) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < count; i = int(next.Add(1) - 1) {
				raw, err := read(i)
				if err == nil {
					n.counts.Inc("received")
					if err = n.ProcessDirect(raw); errors.Is(err, errDropped) {
						err = nil
					}
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					next.Store(int64(count)) // the others stop too
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	// Entries an earlier run or a stopped daemon left behind.
	return n.ProcessAll()
}

// NewSender builds the configured egress (for flush without a daemon).
func (n *Node) NewSender() (mailout.Sender, error) { return n.newSender() }

// readSecretFile reads a one-line secret.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
