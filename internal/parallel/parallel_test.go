package parallel

import (
	"sync/atomic"
	"testing"
)

// TestFor: every index runs exactly once, never more than workers at once.
func TestFor(t *testing.T) {
	for _, c := range []struct{ count, workers int }{{0, 4}, {1, 4}, {100, 1}, {100, 3}, {7, 0}, {5, 50}} {
		seen := make([]atomic.Int32, c.count)
		var running, peak atomic.Int32
		For(c.count, c.workers, func(i int) {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			seen[i].Add(1)
			running.Add(-1)
		})
		for i := range seen {
			if got := seen[i].Load(); got != 1 {
				t.Fatalf("count %d workers %d: index %d ran %d times", c.count, c.workers, i, got)
			}
		}
		if limit := int32(max(c.workers, 1)); peak.Load() > limit {
			t.Fatalf("count %d workers %d: %d at once", c.count, c.workers, peak.Load())
		}
	}
}
