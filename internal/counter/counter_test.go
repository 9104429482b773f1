package counter

import (
	"sync"
	"testing"
)

func TestSet(t *testing.T) {
	var s Set
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				s.Inc("a")
			}
		}()
	}
	wg.Wait()
	s.Inc("b")
	snap := s.Snapshot()
	if snap["a"] != 800 || snap["b"] != 1 || len(snap) != 2 {
		t.Fatalf("snapshot %v", snap)
	}
	s.Inc("b")
	if snap["b"] != 1 {
		t.Fatal("snapshot changed with the set")
	}
}
