// Package counter keeps in-memory event counts by name (drop reasons,
// deliveries, pings), for logs and metrics: aggregates only, never anything
// about a single message.
package counter

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Set is a set of counters; the zero value is ready to use.
type Set struct {
	mu sync.Mutex
	m  map[string]uint64
}

// Inc adds one to the named counter.
func (s *Set) Inc(name string) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]uint64{}
	}
	s.m[name]++
	s.mu.Unlock()
}

// Snapshot returns a copy of every counter.
func (s *Set) Snapshot() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.m))
	for k, v := range s.m {
		out[k] = v
	}
	return out
}

// Format renders counts as "name=value" pairs sorted by name, for one log
// line.
func Format(counts map[string]uint64) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, counts[k])
	}
	return strings.Join(parts, " ")
}
