package sim

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/mixgo/mixgo/pool"
)

// Mixmaster is the reference: the timed dynamic pool as Mixmaster's
// operators run it (§17.2: POOLSIZE 45, RATE 65, SENDPOOLTIME 15m).
func Mixmaster() Spec { return TimedDynamicSpec(45, 65, 15*time.Minute) }

// Chosen is the default docs/ANONYMITY.md chooses from the results: the
// Poisson mix with a mean delay of one hour and Mixmaster's pool floor,
// at Mixmaster's 15-minute rounds.
func Chosen() Spec { return PoissonSpec(time.Hour, 45, 15*time.Minute) }

// Grid is the parameter sweep of every strategy, one curve each in the
// entropy–latency plot, from fast and weak to slow and strong.
func Grid() []Spec {
	var g []Spec
	for _, size := range []int{0, 5, 15, 45, 100} {
		g = append(g, TimedDynamicSpec(size, 65, 15*time.Minute))
	}
	for _, mean := range []float64{5, 15, 45, 100} {
		g = append(g, BinomialSpec(mean, mean/3, 65, 15*time.Minute))
	}
	for _, mean := range []time.Duration{10 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour} {
		g = append(g, PoissonSpec(mean, 0, time.Minute))
	}
	for _, mean := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour} {
		g = append(g, PoissonSpec(mean, 45, 15*time.Minute))
	}
	return g
}

// Setup is the length of the traces of a sweep.
type Setup struct {
	Warmup  time.Duration // not measured: the pool fills
	Measure time.Duration // messages arriving in this window are measured
	Tail    time.Duration // more arrivals, so that the measured ones can leave
	Seed    uint64
}

// DefaultSetup is what docs/ANONYMITY.md reports: 2 days of warm-up, 10
// days measured, a week more traffic for the slow ones to leave.
func DefaultSetup() Setup {
	return Setup{Warmup: 48 * time.Hour, Measure: 240 * time.Hour, Tail: 168 * time.Hour, Seed: 1}
}

// Traces are the arrival traces of a sweep: steady Poisson traffic at a
// quiet, a middling and a busy remailer's rate, a day/night cycle and
// bursts.
func (s Setup) Traces() []Trace {
	length := s.Warmup + s.Measure + s.Tail
	return []Trace{
		PoissonTrace(6, length, s.Seed),
		PoissonTrace(30, length, s.Seed+1),
		PoissonTrace(120, length, s.Seed+2),
		DiurnalTrace(30, 0.9, length, s.Seed+3),
		BurstyTrace(30, 40, 5*time.Minute, length, s.Seed+4),
	}
}

// Options for one run of the sweep on trace number i.
func (s Setup) Options(dir string) Options {
	return Options{Dir: dir, Seed: s.Seed, Warmup: s.Warmup, MeasureEnd: s.Warmup + s.Measure}
}

// Sweep runs every spec on every trace, workers at a time (0 = one per
// CPU), and returns the results grouped by trace in the order given.
// progress, if set, is called after each run.
func Sweep(traces []Trace, specs []Spec, opt Options, workers int, progress func(Result)) ([]Result, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	type job struct{ t, s int }
	jobs := make(chan job)
	res := make([]Result, len(traces)*len(specs))
	errs := make([]error, len(res))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				o := opt
				o.Seed = opt.Seed*1000 + uint64(j.t*len(specs)+j.s)
				i := j.t*len(specs) + j.s
				res[i], errs[i] = Run(specs[j.s], traces[j.t], o)
				if errs[i] == nil && progress != nil {
					mu.Lock()
					progress(res[i])
					mu.Unlock()
				}
			}
		}()
	}
	for t := range traces {
		for s := range specs {
			jobs <- job{t, s}
		}
	}
	close(jobs)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("sim: %s on %s: %w", specs[i%len(specs)].Label, traces[i/len(specs)].Name, err)
		}
	}
	return res, nil
}

// Curve is one curve's results on one trace, by latency.
func Curve(results []Result, trace, curve string) []Result {
	var c []Result
	for _, r := range results {
		if r.Trace == trace && r.Spec.CurveName() == curve && r.Measured > 0 {
			c = append(c, r)
		}
	}
	sort.Slice(c, func(i, j int) bool { return c[i].MeanLatency < c[j].MeanLatency })
	return c
}

// EntropyAt interpolates a curve's mean entropy at a mean latency
// (linearly in log latency, where the curves are nearly straight). ok is
// false outside the curve.
func EntropyAt(curve []Result, latency time.Duration) (h float64, ok bool) {
	x := math.Log(float64(latency))
	for i := 1; i < len(curve); i++ {
		a, b := curve[i-1], curve[i]
		xa, xb := math.Log(float64(a.MeanLatency)), math.Log(float64(b.MeanLatency))
		if x >= xa && x <= xb && xb > xa {
			f := (x - xa) / (xb - xa)
			return a.MeanEntropy + f*(b.MeanEntropy-a.MeanEntropy), true
		}
	}
	return 0, false
}

// Curves are the plot's curves in order.
var Curves = []string{pool.StrategyTimedDynamic, pool.StrategyBinomial, pool.StrategyPoisson, pool.StrategyPoisson + ", pool_size 45"}
