package mix

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// StatsFile holds the hourly samples the remailer-stats answer is made
// from: "unix-time packets-total pool-size" per line, where packets-total
// counts every packet ID the replay log ever held (what 3.0.2d counts,
// from its id.log). Samples are taken by the hourly maintenance, so the
// answer shows counts per hour and per day and nothing per message.
const StatsFile = "stats.log"

// statsKeep is how far back samples are kept (3.0.2d shows 80 days).
const statsKeep = 81 * 24 * time.Hour

type statSample struct {
	t     int64  // Unix seconds
	total uint64 // packets ever logged
	pool  int    // messages in the pool
}

// currentSample reads the counts from the store now.
func (n *Node) currentSample(now time.Time) (statSample, error) {
	st, err := n.Store.Stats(now)
	if err != nil {
		return statSample{}, err
	}
	return statSample{t: now.Unix(), total: uint64(st.Replay) + st.Counters["replay-expired"], pool: st.Pooled}, nil
}

func readStatSamples(path string) ([]statSample, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []statSample
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		t, e1 := strconv.ParseInt(f[0], 10, 64)
		total, e2 := strconv.ParseUint(f[1], 10, 64)
		p, e3 := strconv.Atoi(f[2])
		if e1 != nil || e2 != nil || e3 != nil {
			continue
		}
		out = append(out, statSample{t, total, p})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].t < out[j].t })
	return out, nil
}

func (s statSample) line() string { return fmt.Sprintf("%d %d %d\n", s.t, s.total, s.pool) }

// recordStats appends a sample to the stats file, and rewrites it without
// samples older than statsKeep when there are some.
func (n *Node) recordStats(now time.Time) error {
	cur, err := n.currentSample(now)
	if err != nil {
		return err
	}
	path := n.path(StatsFile)
	old, err := readStatSamples(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	cut := now.Add(-statsKeep).Unix()
	if len(old) > 0 && old[0].t < cut {
		var b bytes.Buffer
		for _, s := range old {
			if s.t >= cut {
				b.WriteString(s.line())
			}
		}
		b.WriteString(cur.line())
		return writeFileAtomic(path, b.Bytes(), 0o600)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(cur.line())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// renderStats writes the remailer-stats text as 3.0.2d's stats() does for
// a Mixmaster-only remailer (STATSDETAILS off): messages per hour for the
// last 24 hours with the average pool size of the hours that have a
// sample, then per day for up to 79 days before. cur is the live sample.
func renderStats(samples []statSample, cur statSample) []byte {
	const hour, day = 3600, 86400
	all := append(append([]statSample(nil), samples...), cur)
	now := (cur.t/hour + 1) * hour // the end of the current hour, as 3.0.2d
	today := now / day * day
	var msgd [24]int
	var msg [80]int
	var poold, poolsum [24]int
	var pool, poolsumd [80]int
	havestats := all[0].t
	add := func(then int64, count, poolSize int) {
		switch {
		case now-then < 0: // clock went back
		case now-then < day:
			i := (now - then) / hour
			msgd[i] += count
			poold[i]++
			poolsum[i] += poolSize
		case today-(then/day*day) < 80*day:
			// Per calendar day (UTC); 3.0.2d's index is off by one day
			// against its labels and never shows yesterday.
			i := (today - then/day*day) / day
			msg[i] += count
			pool[i]++
			poolsumd[i] += poolSize
		}
	}
	for i, s := range all {
		count := 0
		if i > 0 && s.total >= all[i-1].total {
			count = int(s.total - all[i-1].total)
		}
		add(s.t, count, s.pool)
	}
	var b bytes.Buffer
	b.WriteString("Number of messages in the past 24 hours:\n")
	h := time.Unix(now, 0).UTC().Hour()
	for i := 23; i >= 0; i-- {
		fmt.Fprintf(&b, "   %2dh: %4d", (24+h-i)%24, msgd[i])
		if poold[i] > 0 {
			fmt.Fprintf(&b, "  [Pool size:%4d]", poolsum[i]/poold[i])
		}
		b.WriteByte('\n')
	}
	days := (today - havestats/day*day) / day
	if days >= 1 {
		b.WriteString("\nNumber of messages per day:\n")
	}
	for i := min(days, 79); i >= 1; i-- {
		b.WriteString(time.Unix(today-i*day, 0).UTC().Format("02 Jan: "))
		fmt.Fprintf(&b, "%4d", msg[i])
		if pool[i] > 0 {
			fmt.Fprintf(&b, "  [Pool size:%4d]", poolsumd[i]/pool[i])
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// writeFileAtomic replaces path with data: a temporary file in the same
// folder, fsync'd, renamed over it, the folder fsync'd.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
