package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Trace is a synthetic arrival trace: when messages reach the pool,
// counted from the start of a run.
type Trace struct {
	Name     string
	PerHour  float64         // mean arrivals per hour
	Steady   bool            // a homogeneous Poisson process (the entropy bound applies)
	Arrivals []time.Duration // sorted
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6d69786d6173)) }

// poissonTimes draws a Poisson process of rate(t) per hour over [0, length)
// by thinning a process of rate peak.
func poissonTimes(r *rand.Rand, peak float64, length time.Duration, rate func(time.Duration) float64) []time.Duration {
	var out []time.Duration
	t := 0.0 // hours
	end := length.Hours()
	for {
		t += r.ExpFloat64() / peak
		if t >= end {
			return out
		}
		at := time.Duration(t * float64(time.Hour))
		if rate == nil || r.Float64()*peak < rate(at) {
			out = append(out, at)
		}
	}
}

// PoissonTrace has arrivals at a constant rate.
func PoissonTrace(perHour float64, length time.Duration, seed uint64) Trace {
	return Trace{
		Name:     fmt.Sprintf("poisson %g/h", perHour),
		PerHour:  perHour,
		Steady:   true,
		Arrivals: poissonTimes(newRand(seed), perHour, length, nil),
	}
}

// DiurnalTrace has a rate that follows the day:
// perHour·(1 + swing·sin(2πt/24h)), swing in [0, 1).
func DiurnalTrace(perHour, swing float64, length time.Duration, seed uint64) Trace {
	rate := func(t time.Duration) float64 {
		return perHour * (1 + swing*math.Sin(2*math.Pi*t.Hours()/24))
	}
	return Trace{
		Name:     fmt.Sprintf("diurnal %g/h ±%g%%", perHour, swing*100),
		PerHour:  perHour,
		Arrivals: poissonTimes(newRand(seed), perHour*(1+swing), length, rate),
	}
}

// BurstyTrace sends half of its traffic as a Poisson background and half
// in bursts of burstSize messages spread over spread (a multi-chunk
// message, a mailing list through the remailer, a flood), the bursts
// themselves a Poisson process.
func BurstyTrace(perHour float64, burstSize int, spread, length time.Duration, seed uint64) Trace {
	r := newRand(seed)
	out := poissonTimes(r, perHour/2, length, nil)
	for _, b := range poissonTimes(r, perHour/2/float64(burstSize), length, nil) {
		for range burstSize {
			if at := b + time.Duration(r.Float64()*float64(spread)); at < length {
				out = append(out, at)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return Trace{
		Name:     fmt.Sprintf("bursty %g/h (bursts of %d)", perHour, burstSize),
		PerHour:  perHour,
		Arrivals: out,
	}
}

// FixedTrace is a trace given by hand (tests, worked examples).
func FixedTrace(name string, arrivals ...time.Duration) Trace {
	a := append([]time.Duration(nil), arrivals...)
	sort.Slice(a, func(i, j int) bool { return a[i] < a[j] })
	return Trace{Name: name, Arrivals: a}
}
