package pool

import (
	"crypto/rand"
	"math"
	"testing"
	"time"
)

var s0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestBinomialP(t *testing.T) {
	b := Binomial(45, 15, 65).(binomial)
	for _, c := range []struct {
		n    int
		want float64
	}{
		{45, 0.325},              // Φ(0) = ½
		{60, 0.65 * 0.841344746}, // Φ(1)
		{30, 0.65 * 0.158655254}, // Φ(−1)
		{1000, 0.65},
		{0, 0.65 * 0.001349898}, // Φ(−3)
	} {
		if got := b.P(c.n); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("P(%d) = %.6f, want %.6f", c.n, got, c.want)
		}
	}
	step := Binomial(10, 0, 150).(binomial) // sd 0: a step; max clamped to 100 %
	if step.P(10) != 0 || step.P(11) != 1 {
		t.Errorf("step: P(10) = %v, P(11) = %v", step.P(10), step.P(11))
	}
}

// TestBinomialSelect: each entry leaves independently with P(n).
func TestBinomialSelect(t *testing.T) {
	const n, trials = 60, 2000
	s := Binomial(45, 15, 65)
	p := s.(binomial).P(n)
	pool := make([]EntryInfo, n)
	var hits [n]int
	total := 0
	for range trials {
		sel, err := s.Select(s0, pool, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for _, i := range sel {
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("bad or repeated index %d", i)
			}
			seen[i] = true
			hits[i]++
		}
		total += len(sel)
	}
	// Mean count n·p ≈ 32.8 with σ of the mean ≈ 0.09.
	if mean := float64(total) / trials; math.Abs(mean-n*p) > 0.6 {
		t.Errorf("mean %.2f leave, want %.2f", mean, n*p)
	}
	for i, h := range hits {
		if want := trials * p; math.Abs(float64(h)-want) > 0.12*want {
			t.Errorf("entry %d left %d times, want ≈ %.0f", i, h, want)
		}
	}
	if sel, _ := Binomial(45, 0, 65).Select(s0, make([]EntryInfo, 45), rand.Reader); len(sel) != 0 {
		t.Error("a step binomial sent at its threshold")
	}
}

func TestPoissonAdmit(t *testing.T) {
	const trials = 20000
	mean := time.Hour
	s := Poisson(mean, 0)
	var sum, over float64
	for range trials {
		r, err := s.Admit(s0, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		d := r.Sub(s0)
		if d < 0 {
			t.Fatalf("negative delay %v", d)
		}
		sum += d.Hours()
		if d > 2*mean {
			over++
		}
	}
	// Exponential: mean 1 h (σ of the mean 0.007 h), P(> 2 means) = e^−2.
	if m := sum / trials; math.Abs(m-1) > 0.03 {
		t.Errorf("mean delay %.3f h, want 1", m)
	}
	if f := over / trials; math.Abs(f-math.Exp(-2)) > 0.015 {
		t.Errorf("P(delay > 2h) = %.3f, want %.3f", f, math.Exp(-2))
	}
	if _, err := s.Admit(s0, emptyReader{}); err == nil {
		t.Error("no error from a failing random source")
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, errEmpty }

var errEmpty = errorString("empty")

type errorString string

func (e errorString) Error() string { return string(e) }

func TestPoissonSelect(t *testing.T) {
	pool := make([]EntryInfo, 10)
	for i := range pool {
		pool[i].Release = s0.Add(time.Duration(i-7) * time.Minute) // 0..7 released at s0
	}
	sel, err := Poisson(time.Hour, 0).Select(s0, pool, rand.Reader)
	if err != nil || len(sel) != 8 {
		t.Fatalf("no floor: %v %v, want the 8 released", sel, err)
	}
	for _, i := range sel {
		if pool[i].Release.After(s0) {
			t.Fatalf("entry %d left before its release", i)
		}
	}
	// A floor of 5: only 10 − 5 leave, drawn among the released.
	for range 50 {
		sel, err = Poisson(time.Hour, 5).Select(s0, pool, rand.Reader)
		if err != nil || len(sel) != 5 {
			t.Fatalf("floor 5: %v %v", sel, err)
		}
		seen := map[int]bool{}
		for _, i := range sel {
			if i < 0 || i > 7 || seen[i] {
				t.Fatalf("floor 5: picked %d", i)
			}
			seen[i] = true
		}
	}
	if sel, _ := Poisson(time.Hour, 12).Select(s0, pool, rand.Reader); len(sel) != 0 {
		t.Errorf("floor above the pool: %v left", sel)
	}
}

// TestPoissonLegacy: entries pooled without a release time leave at the
// exponential's rate, from the second round on.
func TestPoissonLegacy(t *testing.T) {
	const n = 4000
	s := Poisson(time.Hour, 0)
	pool := make([]EntryInfo, n)
	if sel, _ := s.Select(s0, pool, rand.Reader); len(sel) != 0 {
		t.Fatalf("first round sent %d entries without release time", len(sel))
	}
	sel, err := s.Select(s0.Add(time.Hour), pool, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want := n * (1 - math.Exp(-1)) // σ ≈ 30
	if math.Abs(float64(len(sel))-want) > 150 {
		t.Errorf("%d of %d left after one mean, want ≈ %.0f", len(sel), n, want)
	}
}

func TestNewStrategy(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Params
		ok   bool
	}{
		{StrategyTimedDynamic, Params{PoolSize: 45, Rate: 65}, true},
		{StrategyBinomial, Params{BinomialMean: 45, BinomialSD: 15, BinomialMax: 65}, true},
		{StrategyPoisson, Params{PoissonMean: time.Hour, PoolSize: 45}, true},
		{StrategyPoisson, Params{}, false},
		{"threshold", Params{}, false},
	} {
		s, err := New(c.name, c.p)
		if (err == nil) != c.ok || (c.ok && s == nil) {
			t.Errorf("New(%q): %v, %v", c.name, s, err)
		}
	}
}
