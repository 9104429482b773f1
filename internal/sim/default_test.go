package sim

import (
	"testing"
	"time"
)

// shortSetup keeps the tests quick; docs/ANONYMITY.md comes from the long
// runs of mixd sim.
var shortSetup = Setup{Warmup: 12 * time.Hour, Measure: 48 * time.Hour, Tail: 48 * time.Hour, Seed: 5}

// TestNoStrategyBeatsBound is the reason no default can gain a bit over
// Mixmaster's at the same mean latency on steady traffic: every strategy
// stays under Bound, and Mixmaster's default already sits on it, so at
// its latency there is less than a tenth of a bit left to gain.
func TestNoStrategyBeatsBound(t *testing.T) {
	tr := PoissonTrace(30, shortSetup.Warmup+shortSetup.Measure+shortSetup.Tail, shortSetup.Seed)
	specs := []Spec{
		Mixmaster(),
		Chosen(),
		TimedDynamicSpec(10, 65, 15*time.Minute),
		BinomialSpec(45, 15, 65, 15*time.Minute),
		PoissonSpec(time.Hour, 0, 5*time.Minute),
	}
	res, err := Sweep([]Trace{tr}, specs, shortSetup.Options(""), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Unfinished > 0 || r.Measured < 1000 {
			t.Fatalf("%s: %d measured, %d unfinished", r.Spec.Label, r.Measured, r.Unfinished)
		}
		b := Bound(r.PerHour, r.MeanLatency)
		t.Logf("%-14s %-18s latency %-8v H %.3f bound %.3f", r.Spec.Family, r.Spec.Label, r.MeanLatency.Round(time.Minute), r.MeanEntropy, b)
		// Sampling noise of the rate and latency estimates: a few
		// hundredths of a bit.
		if r.MeanEntropy > b+0.1 {
			t.Errorf("%s %s: H %.3f above the bound %.3f", r.Spec.Family, r.Spec.Label, r.MeanEntropy, b)
		}
	}
	mm := res[0]
	if gap := Bound(mm.PerHour, mm.MeanLatency) - mm.MeanEntropy; gap > 0.1 {
		t.Errorf("Mixmaster's default is %.3f bits below the bound; a strategy could gain that much", gap)
	}
}

// TestDefaultAgainstFlood: at the same mean latency on the same steady
// trace as Mixmaster's default, the chosen default leaves the n−1
// attacker at least one bit more about the target when the remailer
// makes Mixmaster's dummies, and makes the attack last longer without
// them (where it always succeeds, against every strategy).
func TestDefaultAgainstFlood(t *testing.T) {
	// Same latency on the trace the attack's honest traffic follows.
	tr := PoissonTrace(30, shortSetup.Warmup+shortSetup.Measure+shortSetup.Tail, shortSetup.Seed)
	res, err := Sweep([]Trace{tr}, []Spec{Mixmaster(), Chosen()}, shortSetup.Options(""), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	lm, lc := res[0].MeanLatency, res[1].MeanLatency
	if r := float64(lc) / float64(lm); r < 0.85 || r > 1.15 {
		t.Fatalf("mean latency %v (default) vs %v (Mixmaster): not the same", lc, lm)
	}

	f := DefaultFlood()
	f.Warmup, f.Trials, f.Seed = 12*time.Hour, 5, 3
	var got [2][2]FloodResult // [dummies][strategy]
	for d, setup := range []FloodSetup{f, f.WithMixmasterDummies()} {
		for i, s := range []Spec{Mixmaster(), Chosen()} {
			r, err := Flood(s, setup, "")
			if err != nil {
				t.Fatal(err)
			}
			if r.GaveUp > 0 {
				t.Fatalf("%s: the attack gave up %d times", s.Label, r.GaveUp)
			}
			t.Logf("%-14s %-14s dummies=%-5v attack %-9v H %.2f (min %.2f) hit %.2f",
				s.Family, s.Label, r.Dummies, r.Duration.Round(time.Minute), r.Entropy, r.MinEntropy, r.Hit)
			got[d][i] = r
		}
	}
	for i := range 2 {
		if got[0][i].Entropy != 0 || got[0][i].Hit != 1 {
			t.Errorf("without dummies the attacker must always win: %+v", got[0][i])
		}
	}
	if got[0][1].Duration < 2*got[0][0].Duration {
		t.Errorf("without dummies the attack on the default takes %v, on Mixmaster's %v: want at least twice", got[0][1].Duration, got[0][0].Duration)
	}
	if gain := got[1][1].Entropy - got[1][0].Entropy; gain < 1 {
		t.Errorf("with dummies the default leaves %.2f bits, Mixmaster's %.2f: gain %.2f < 1", got[1][1].Entropy, got[1][0].Entropy, gain)
	}
}
