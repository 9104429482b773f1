// Package parallel runs independent pieces of work on several goroutines.
package parallel

import (
	"sync"
	"sync/atomic"
)

// For calls fn(0) … fn(count−1), at most workers at once (at least one),
// and returns when all calls have returned. The calls take indexes in
// order as they become free, so uneven pieces balance out.
func For(count, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(count, max(workers, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < count; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
