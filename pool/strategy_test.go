package pool

import (
	"bytes"
	"crypto/rand"
	"io"
	"math"
	"testing"
	"time"
)

func TestTimedDynamicCount(t *testing.T) {
	for _, c := range []struct{ n, poolSize, rate, want int }{
		{0, 0, 100, 0},
		{1, 0, 100, 1},
		{1, 0, 65, 0}, // ⌊1·65/100⌋ = 0: a lone message waits (§12.2)
		{2, 0, 65, 1},
		{3, 0, 65, 1}, // ⌊1.95⌋
		{10, 0, 65, 6},
		{45, 45, 65, 0}, // n ≤ POOLSIZE
		{46, 45, 65, 1}, // n − POOLSIZE
		{50, 45, 65, 5},
		{100, 45, 65, 55}, // n − POOLSIZE = 55 < ⌊65⌋
		{200, 45, 65, 130},
		{1000, 45, 65, 650},
		{10, 5, 100, 5},
		{10, 0, 0, 0},
		{7, -3, 150, 7}, // clamped: poolsize 0, rate 100
	} {
		s := TimedDynamic(c.poolSize, c.rate)
		pool := make([]EntryInfo, c.n)
		sel, err := s.Select(t0, pool, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(sel) != c.want {
			t.Errorf("n=%d POOLSIZE=%d RATE=%d: sent %d, want %d", c.n, c.poolSize, c.rate, len(sel), c.want)
		}
		seen := map[int]bool{}
		for _, i := range sel {
			if i < 0 || i >= c.n || seen[i] {
				t.Fatalf("bad or repeated index %d", i)
			}
			seen[i] = true
		}
	}
}

// TestTimedDynamicUniform: every entry is picked with probability k/n.
func TestTimedDynamicUniform(t *testing.T) {
	const n, trials = 10, 20000
	s := TimedDynamic(0, 30) // k = 3
	var hits [n]int
	pairs := map[[2]int]int{}
	pool := make([]EntryInfo, n)
	for range trials {
		sel, err := s.Select(t0, pool, rand.Reader)
		if err != nil || len(sel) != 3 {
			t.Fatal(len(sel), err)
		}
		for _, i := range sel {
			hits[i]++
		}
		a, b := min(sel[0], sel[1]), max(sel[0], sel[1])
		pairs[[2]int{a, b}]++
	}
	want := float64(trials) * 3 / n // 6000, σ ≈ 65
	for i, h := range hits {
		if math.Abs(float64(h)-want) > 0.08*want {
			t.Errorf("entry %d picked %d times, want ≈ %.0f", i, h, want)
		}
	}
	if len(pairs) != n*(n-1)/2 {
		t.Errorf("only %d of %d pairs ever drawn together", len(pairs), n*(n-1)/2)
	}
}

func TestRandIntnUnbiased(t *testing.T) {
	// A reader that returns the top value first: it must be rejected for n=3
	// (2^64 mod 3 = 1, so MaxUint64 is in the partial range).
	r := bytes.NewReader(append(bytes.Repeat([]byte{0xff}, 8), 0, 0, 0, 0, 0, 0, 0, 5))
	v, err := randIntn(r, 3)
	if err != nil || v != 2 {
		t.Fatalf("randIntn = %d %v, want 5 mod 3 = 2 after one rejection", v, err)
	}
	if _, err := randIntn(bytes.NewReader(nil), 3); err == nil {
		t.Fatal("no error from an empty reader")
	}
	// Powers of two reject nothing.
	if v, _ := randIntn(bytes.NewReader(bytes.Repeat([]byte{0xff}, 8)), 4); v != 3 {
		t.Fatalf("randIntn(4) = %d", v)
	}
}

func TestDummyCount(t *testing.T) {
	if n, _ := DummyCount(0, rand.Reader); n != 0 {
		t.Fatal("dummies with p = 0")
	}
	const trials = 20000
	total := 0
	for range trials {
		n, err := DummyCount(50, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	// Mean p/(1−p) = 1, σ of the mean ≈ 0.01.
	if mean := float64(total) / trials; math.Abs(mean-1) > 0.1 {
		t.Fatalf("mean %.3f dummies, want ≈ 1", mean)
	}
	if n, _ := DummyCount(1000, rand.Reader); n > 10000 {
		t.Fatal("percent not clamped")
	}
}

// TestStrategyAdmit: a strategy's release time is stored and given back.
type releaseAfter struct{ d time.Duration }

func (r releaseAfter) Admit(now time.Time, _ io.Reader) (time.Time, error) { return now.Add(r.d), nil }
func (r releaseAfter) Select(now time.Time, pool []EntryInfo, _ io.Reader) ([]int, error) {
	var out []int
	for i, e := range pool {
		if !e.Release.After(now) {
			out = append(out, i)
		}
	}
	return out, nil
}

func TestStrategyAdmit(t *testing.T) {
	s, _ := newStore(t, func(o *Options) { o.Strategy = releaseAfter{90 * time.Minute} })
	s.AddPool(t0, Item{Kind: KindMail, Data: []byte("a")})
	if n, _ := s.RunPool(t0.Add(89 * time.Minute)); n != 0 {
		t.Fatal("released early")
	}
	if n, _ := s.RunPool(t0.Add(90 * time.Minute)); n != 1 {
		t.Fatal("not released")
	}
}
