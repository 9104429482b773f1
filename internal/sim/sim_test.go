package sim

import (
	"math"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestThresholdMix: a pool that sends everything every round (timed
// dynamic with POOLSIZE 0, RATE 100) fed exactly n messages per round is a
// threshold mix of n: every output is any of the round's n inputs, log2 n.
func TestThresholdMix(t *testing.T) {
	for _, n := range []int{1, 2, 5, 16, 37} {
		var arr []time.Duration
		for r := 0; r < 6; r++ {
			for j := 0; j < n; j++ {
				arr = append(arr, time.Duration(r)*time.Hour+time.Duration(j+1)*time.Minute)
			}
		}
		res, err := Run(TimedDynamicSpec(0, 100, time.Hour), FixedTrace("threshold", arr...), Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		want := math.Log2(float64(n))
		if res.Unfinished != 0 || res.Measured != 6*n {
			t.Fatalf("n=%d: measured %d, unfinished %d", n, res.Measured, res.Unfinished)
		}
		if !near(res.MeanEntropy, want) || !near(res.MinEntropy, want) {
			t.Errorf("n=%d: entropy mean %.6f min %.6f, want log2 n = %.6f", n, res.MeanEntropy, res.MinEntropy, want)
		}
	}
}

// h is the entropy of a distribution given as (count, probability) pairs.
func h(groups ...[2]float64) float64 {
	var sum, x float64
	for _, g := range groups {
		sum += g[0] * g[1]
		x -= g[0] * g[1] * math.Log2(g[1])
	}
	if !near(sum, 1) {
		panic("not a distribution")
	}
	return x
}

// TestTimedDynamicByHand: POOLSIZE 2, RATE 50, four arrivals per round.
// Round 1: n = 4, min(2, 2) = 2 leave, each any of 4: 2 bits; each input
// stays with probability 1/2. Round 2: n = 6, min(4, 3) = 3 leave; the 4
// old inputs have mass 1/2, the 4 new ones 1: an output is an old one
// with 1/12, a new one with 1/6. Round 3: n = 7, 3 leave; masses 1/4, 1/2
// and 1 give 1/28, 1/14 and 1/7.
func TestTimedDynamicByHand(t *testing.T) {
	checkRounds(t, TimedDynamicSpec(2, 50, time.Hour), []roundWant{
		{4, 2, 2},
		{6, 3, h([2]float64{4, 1.0 / 12}, [2]float64{4, 1.0 / 6})},
		{7, 3, h([2]float64{4, 1.0 / 28}, [2]float64{4, 1.0 / 14}, [2]float64{4, 1.0 / 7})},
	})
}

// TestPoissonFloorByHand: a Poisson mix whose delays (mean 1 s) always
// run out before the hourly round, with a floor of 2, is a timed dynamic
// pool with POOLSIZE 2 and RATE 100: n − 2 leave, uniformly. Round 1 as
// above; round 2: n = 6, 4 leave, 1/12 and 1/6 again (the distribution
// does not depend on k); then the 4 old inputs keep 1/2·1/3, the 4 newer
// 1/3: round 3 has n = 6 and gives 1/36, 1/18 and 1/6.
func TestPoissonFloorByHand(t *testing.T) {
	checkRounds(t, PoissonSpec(time.Second, 2, time.Hour), []roundWant{
		{4, 2, 2},
		{6, 4, h([2]float64{4, 1.0 / 12}, [2]float64{4, 1.0 / 6})},
		{6, 4, h([2]float64{4, 1.0 / 36}, [2]float64{4, 1.0 / 18}, [2]float64{4, 1.0 / 6})},
	})
}

type roundWant struct {
	n, k int
	h    float64
}

// checkRounds runs spec on three rounds of four arrivals each (at :05,
// :15, :25 and :35 of each hour) and compares the hourly rounds.
func checkRounds(t *testing.T, spec Spec, want []roundWant) {
	t.Helper()
	var arr []time.Duration
	for r := 0; r < 3; r++ {
		for j := 0; j < 4; j++ {
			arr = append(arr, time.Duration(r)*time.Hour+time.Duration(10*j+5)*time.Minute)
		}
	}
	got := 0
	_, err := Run(spec, FixedTrace("by hand", arr...), Options{
		Seed: 7,
		OnRound: func(now time.Duration, n, k int, e float64) {
			if got < len(want) {
				w := want[got]
				if now != time.Duration(got+1)*time.Hour || n != w.n || k != w.k || !near(e, w.h) {
					t.Errorf("round %d at %v: n=%d k=%d H=%.6f, want n=%d k=%d H=%.6f", got+1, now, n, k, e, w.n, w.k, w.h)
				}
			}
			got++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != 3 {
		t.Fatalf("%d rounds, want 3 (the trace ends)", got)
	}
}

// TestPoissonByHand: with an exponential delay of mean μ, an output at t
// is input i with probability ∝ exp(−(t − a_i)/μ) (memoryless). Two
// inputs 30 minutes apart, μ = 1 h: once both are in, every output is the
// earlier one with p = e^{−½}/(e^{−½}+1) = 1/(1+e^{½}).
func TestPoissonByHand(t *testing.T) {
	mu := time.Hour
	a1, a2 := 10*time.Minute, 40*time.Minute
	p := 1 / (1 + math.Exp(0.5)) // the earlier input's share
	want := h([2]float64{1, p}, [2]float64{1, 1 - p})
	rounds := 0
	res, err := Run(PoissonSpec(mu, 0, time.Minute), FixedTrace("two", a1, a2, 100*time.Hour), Options{
		Seed: 3, MeasureEnd: time.Hour,
		OnRound: func(now time.Duration, n, k int, e float64) {
			if k > 0 && now > a2 && now < 50*time.Hour && !near(e, want) {
				t.Errorf("output at %v: H=%.6f, want %.6f", now, e, want)
			}
			rounds++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Measured != 2 || res.Unfinished != 0 {
		t.Fatalf("measured %d unfinished %d", res.Measured, res.Unfinished)
	}
	// A message alone in the mix has no anonymity at all.
	res, err = Run(PoissonSpec(mu, 0, time.Minute), FixedTrace("one", a1, 100*time.Hour), Options{Seed: 3, MeasureEnd: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Measured != 1 || res.Unfinished != 0 || res.MeanEntropy != 0 {
		t.Errorf("lone message: %+v", res)
	}
}
