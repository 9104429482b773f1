package mix

import (
	"bytes"
	"fmt"
	"sort"
	"time"
)

// PoolReport is `mixd pool`: counts, coarse ages and the next delivery
// attempt, like mailq/qshape. It never shows addresses or IDs.
func (n *Node) PoolReport() (string, error) {
	now := n.Clock()
	st, err := n.Store.Stats(now)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	age := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return now.Sub(t).Truncate(time.Minute).String()
	}
	fmt.Fprintf(&b, "incoming (not yet decrypted)  %d\n", st.Incoming)
	fmt.Fprintf(&b, "pool                          %d (latent %d), oldest %s\n", st.Pooled, st.Latent, age(st.OldestPooled))
	fmt.Fprintf(&b, "outgoing queue                %d (in delivery %d), oldest %s\n", st.Outgoing, st.Leased, age(st.OldestOutgoing))
	next := "-"
	if !st.NextAttempt.IsZero() {
		next = "in " + st.NextAttempt.Sub(now).Truncate(time.Second).String()
		if !st.NextAttempt.After(now) {
			next = "now"
		}
	}
	fmt.Fprintf(&b, "next delivery attempt         %s\n", next)
	fmt.Fprintf(&b, "partial chunks                %d (of %d messages)\n", st.Chunks, st.ChunkSets)
	fmt.Fprintf(&b, "replay log                    %d packet IDs\n", st.Replay)
	keys := make([]string, 0, len(st.Counters))
	for k := range st.Counters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "counter %-22s%d\n", k, st.Counters[k])
	}
	return b.String(), nil
}
