package mailout

import "sync"

// groupSync makes many writes durable with few sync calls: each writer,
// once its data is written, waits for a sync that started after its write;
// one waiter runs the sync for everyone waiting. With 8 concurrent
// deliveries this turns 8 fsyncs (plus 8 directory fsyncs) into one.
type groupSync struct {
	sync func() error

	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	seq     uint64 // writes registered so far
	done    uint64 // writes covered by a completed sync
	failed  uint64 // writes covered by the last failed sync
	err     error
}

func newGroupSync(fn func() error) *groupSync {
	g := &groupSync{sync: fn}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// wait returns once a sync that started after this call has completed, or
// that sync's error.
func (g *groupSync) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seq++
	me := g.seq
	for g.done < me {
		if me <= g.failed {
			return g.err
		}
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		target := g.seq
		g.mu.Unlock()
		err := g.sync()
		g.mu.Lock()
		g.running = false
		if err != nil {
			g.failed, g.err = target, err
		} else {
			g.done = target
		}
		g.cond.Broadcast()
	}
	return nil
}
