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

func TestFormat(t *testing.T) {
	if got := Format(map[string]uint64{"b": 2, "a": 10}); got != "a=10 b=2" {
		t.Fatalf("Format = %q", got)
	}
	if got := Format(nil); got != "" {
		t.Fatalf("Format(nil) = %q", got)
	}
}
