// Package sim measures what a mixing strategy buys: it drives the real
// pool (pool.Store on a bbolt file, with the strategy the daemon would
// use) with a virtual clock and a synthetic arrival trace, and reports
// the latency of the messages and the sender-anonymity entropy of the
// outputs (Serjantov and Danezis, "Towards an information theoretic
// metric for anonymity"; Díaz et al., "Towards measuring anonymity",
// both PET 2002): for each output, the entropy of the attacker's
// probability distribution over which input it was.
//
// The store is the one the daemon runs, transactions and fsyncs
// included; on tmpfs (/dev/shm, used when present) a message costs about
// 0.1 ms, so a four-week trace of tens of thousands of messages runs in
// seconds and no shortcut around the store is needed.
package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mixgo/mixgo/pool"
)

// Spec is one strategy with its parameters as the simulator runs it.
type Spec struct {
	Family   string               // pool.StrategyTimedDynamic, …
	Curve    string               // the plot's curve; default Family
	Label    string               // the parameters, short (for tables and plots)
	Make     func() pool.Strategy // a fresh strategy (some keep state)
	Interval time.Duration        // time between pool rounds
	Model    Model                // the attacker's model of it
}

// TimedDynamicSpec is Mixmaster's pool: poolSize, rate %, rounds every interval.
func TimedDynamicSpec(poolSize, rate int, interval time.Duration) Spec {
	return Spec{
		Family:   pool.StrategyTimedDynamic,
		Label:    fmt.Sprintf("%d/%d%%/%v", poolSize, rate, short(interval)),
		Make:     func() pool.Strategy { return pool.TimedDynamic(poolSize, rate) },
		Interval: interval,
		Model:    Exchangeable{},
	}
}

// BinomialSpec is the binomial mix P(n) = max%·Φ((n−mean)/sd).
func BinomialSpec(mean, sd float64, maxPercent int, interval time.Duration) Spec {
	return Spec{
		Family:   pool.StrategyBinomial,
		Label:    fmt.Sprintf("μ%.3g/σ%.3g/%d%%/%v", mean, sd, maxPercent, short(interval)),
		Make:     func() pool.Strategy { return pool.Binomial(mean, sd, maxPercent) },
		Interval: interval,
		Model:    Exchangeable{},
	}
}

// PoissonSpec is the exponential-delay mix with the given mean and pool
// floor (0: none).
func PoissonSpec(mean time.Duration, floor int, interval time.Duration) Spec {
	label := fmt.Sprintf("%v/%v", short(mean), short(interval))
	curve := pool.StrategyPoisson
	if floor > 0 {
		label = fmt.Sprintf("%v/%d/%v", short(mean), floor, short(interval))
		curve = fmt.Sprintf("%s, pool_size %d", pool.StrategyPoisson, floor)
	}
	return Spec{
		Family:   pool.StrategyPoisson,
		Curve:    curve,
		Label:    label,
		Make:     func() pool.Strategy { return pool.Poisson(mean, floor) },
		Interval: interval,
		Model:    Exponential{Mean: mean, Floor: floor},
	}
}

// CurveName is the plot curve the spec belongs to.
func (s Spec) CurveName() string {
	if s.Curve != "" {
		return s.Curve
	}
	return s.Family
}

// short prints 15m0s as 15m and 2h0m0s as 2h.
func short(d time.Duration) string {
	s := d.String()
	for _, suf := range []string{"m0s", "h0m"} {
		if len(s) > len(suf) && s[len(s)-len(suf):] == suf {
			s = s[:len(s)-len(suf)+1]
		}
	}
	return s
}

// Options configure a run.
type Options struct {
	// Dir is where the run's store file is created (and removed); default
	// /dev/shm when it exists, else the system's temporary directory.
	Dir  string
	Seed uint64 // the store's randomness (IDs, strategy draws)
	// Messages arriving in [Warmup, MeasureEnd) are measured; the run
	// goes on (with the trace's later arrivals) until all of them have
	// left or the trace ends. MeasureEnd 0 means the trace's last arrival.
	Warmup, MeasureEnd time.Duration
	// Dummies as the daemon makes them (percent; 0 = none): OutDummy per
	// round (§12.2 step 1), InDummy per arriving message.
	OutDummy, InDummy int
	// OnRound, if set, is told of every round: its time, the pool size
	// the strategy saw, how many left and the entropy of those outputs.
	OnRound func(now time.Duration, n, k int, entropy float64)
}

// Result is what one run measured.
type Result struct {
	Spec  Spec
	Trace string

	Measured   int     // messages arriving in the measuring window
	PerHour    float64 // their rate
	Unfinished int     // of those, still pooled when the trace ended

	MeanLatency, P95Latency time.Duration
	// Entropy in bits of the measured outputs' distributions over inputs:
	// mean, 5th percentile and minimum over the outputs.
	MeanEntropy, P5Entropy, MinEntropy float64
	Rounds                             int
}

// recorder passes everything to the strategy and notes the size of the
// last round: the pool the strategy saw and how many it picked.
type recorder struct {
	pool.Strategy
	n, k int
}

func (r *recorder) Select(now time.Time, p []pool.EntryInfo, rnd io.Reader) ([]int, error) {
	sel, err := r.Strategy.Select(now, p, rnd)
	r.n, r.k = len(p), len(sel)
	return sel, err
}

// epoch is the virtual clock's start: a round time, so rounds fall on it.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const dummyMark = math.MaxUint64

// simSealer is a fixed key: the run's store is thrown away.
func simSealer() (pool.Sealer, error) {
	return pool.NewAESGCMSealer(sha256.Sum256([]byte("mixgo simulator")))
}

func defaultDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// mixer is the real store with a virtual clock and a recording strategy.
type mixer struct {
	st    *pool.Store
	rec   *recorder
	rnd   *rand.ChaCha8
	dir   string
	opt   Options
	spec  Spec
	round int // rounds run
}

func openMixer(spec Spec, opt Options) (*mixer, error) {
	if spec.Interval <= 0 {
		return nil, errors.New("sim: round interval must be positive")
	}
	if opt.Dir == "" {
		opt.Dir = defaultDir()
	}
	dir, err := os.MkdirTemp(opt.Dir, "mixgo-sim-")
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	sealer, err := simSealer()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var seed [32]byte
	binary.BigEndian.PutUint64(seed[:], opt.Seed)
	m := &mixer{rec: &recorder{Strategy: spec.Make()}, rnd: rand.NewChaCha8(seed), dir: dir, opt: opt, spec: spec}
	m.st, err = pool.Open(filepath.Join(dir, "pool.db"), pool.Options{Sealer: sealer, Strategy: m.rec, Rand: m.rnd})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("sim: %w", err)
	}
	return m, nil
}

func (m *mixer) close() {
	m.st.Close()
	os.RemoveAll(m.dir)
}

func item(tag uint64) pool.Item {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], tag)
	return pool.Item{Kind: pool.KindPacket, Dest: "next@sim.invalid", Data: b[:]}
}

// add puts one message (tag) into the pool at virtual time at, with the
// in-dummies the daemon would make for it.
func (m *mixer) add(at time.Duration, tag uint64) error {
	if err := m.st.AddPool(epoch.Add(at), item(tag)); err != nil {
		return err
	}
	if m.opt.InDummy > 0 {
		return m.dummies(at, m.opt.InDummy)
	}
	return nil
}

func (m *mixer) dummies(at time.Duration, percent int) error {
	c, err := pool.DummyCount(percent, m.rnd)
	if err != nil {
		return err
	}
	for range c {
		if err := m.st.AddPool(epoch.Add(at), item(dummyMark)); err != nil {
			return err
		}
	}
	return nil
}

// runRound is one pool round at now (dummies, RunPool, then everything
// moved is taken from the outgoing queue and acknowledged). It returns
// the tags that left, the pool size the strategy saw and how many left.
func (m *mixer) runRound(now time.Duration) (tags []uint64, n, k int, err error) {
	if m.opt.OutDummy > 0 {
		if err := m.dummies(now, m.opt.OutDummy); err != nil {
			return nil, 0, 0, err
		}
	}
	moved, err := m.st.RunPool(epoch.Add(now))
	if err != nil {
		return nil, 0, 0, err
	}
	m.round++
	n, k = m.rec.n, m.rec.k
	if moved != k {
		return nil, 0, 0, fmt.Errorf("sim: RunPool moved %d, strategy picked %d", moved, k)
	}
	if moved == 0 {
		return nil, n, k, nil
	}
	out, err := m.st.Due(epoch.Add(now), 0)
	if err != nil {
		return nil, 0, 0, err
	}
	if len(out) != moved {
		return nil, 0, 0, fmt.Errorf("sim: %d due after moving %d", len(out), moved)
	}
	// Acknowledge concurrently: the calls share a group commit.
	var wg sync.WaitGroup
	errs := make([]error, len(out))
	for i, o := range out {
		if len(o.Data) != 8 {
			return nil, 0, 0, fmt.Errorf("sim: unexpected outgoing entry of %d bytes", len(o.Data))
		}
		tags = append(tags, binary.BigEndian.Uint64(o.Data))
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = m.st.Ack(o.ID) }()
	}
	wg.Wait()
	return tags, n, k, errors.Join(errs...)
}

// Run drives one strategy through one trace and measures it.
func Run(spec Spec, tr Trace, opt Options) (Result, error) {
	res := Result{Spec: spec, Trace: tr.Name}
	if len(tr.Arrivals) == 0 {
		return res, errors.New("sim: empty trace")
	}
	last := tr.Arrivals[len(tr.Arrivals)-1]
	end := opt.MeasureEnd
	if end <= 0 || end > last {
		end = last + 1
	}
	m, err := openMixer(spec, opt)
	if err != nil {
		return res, err
	}
	defer m.close()

	tk := &tracker{model: spec.Model}
	measured := func(i int) bool { a := tr.Arrivals[i]; return a >= opt.Warmup && a < end }
	pending := 0
	for i := range tr.Arrivals {
		if measured(i) {
			pending++
		}
	}
	res.Measured = pending
	if w := end - opt.Warmup; w > 0 {
		res.PerHour = float64(pending) / w.Hours()
	}
	var lat []time.Duration
	var ent []float64
	next, left := 0, 0 // next arrival; messages that left
	for now := spec.Interval; pending > 0 && now-spec.Interval <= last; now += spec.Interval {
		for ; next < len(tr.Arrivals) && tr.Arrivals[next] < now; next++ {
			if err := m.add(tr.Arrivals[next], uint64(next)); err != nil {
				return res, err
			}
			tk.arrive(tr.Arrivals[next])
		}
		tags, n, k, err := m.runRound(now)
		if err != nil {
			return res, err
		}
		// Without dummies the attacker's count of the pool is exact; the
		// Exchangeable model relies on it.
		if opt.OutDummy == 0 && opt.InDummy == 0 && n != next-left {
			return res, fmt.Errorf("sim: strategy saw %d pooled, %d arrived and %d left", n, next, left)
		}
		left += k
		h := tk.round(now, n, k)
		if opt.OnRound != nil {
			opt.OnRound(now, n, k, h)
		}
		for _, tag := range tags {
			if tag == dummyMark {
				continue
			}
			if tag >= uint64(len(tr.Arrivals)) {
				return res, fmt.Errorf("sim: unknown message %d left the pool", tag)
			}
			if i := int(tag); measured(i) {
				lat = append(lat, now-tr.Arrivals[i])
				ent = append(ent, h)
				pending--
			}
		}
	}
	res.Rounds = m.round
	res.Unfinished = pending
	summarize(&res, lat, ent)
	return res, nil
}

func summarize(res *Result, lat []time.Duration, ent []float64) {
	if len(lat) == 0 {
		return
	}
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	res.MeanLatency = sum / time.Duration(len(lat))
	slices.Sort(lat)
	res.P95Latency = lat[quantile(len(lat), 0.95)]
	var hs float64
	for _, h := range ent {
		hs += h
	}
	res.MeanEntropy = hs / float64(len(ent))
	slices.Sort(ent)
	res.P5Entropy = ent[quantile(len(ent), 0.05)]
	res.MinEntropy = ent[0]
}

// quantile is the index of the q-quantile of n sorted values.
func quantile(n int, q float64) int {
	return min(max(int(math.Ceil(q*float64(n)))-1, 0), n-1)
}
