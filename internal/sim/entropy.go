package sim

import (
	"math"
	"time"
)

// A Model is what the attacker knows about a strategy. The attacker is a
// global passive observer who knows the strategy and its parameters, sees
// every arrival and every departure with its time, and so counts the pool
// (n) and the departures of each round (k).
type Model interface {
	// Round applies a round at now (the previous one was at prev) in which
	// k of the n pooled messages left: it sets leave[i] to the probability
	// that input i leaves in this round and takes that off in[i]. Every
	// output of the round is input i with probability leave[i]/Σ leave.
	Round(in []mass, prev, now time.Duration, n, k int, leave []float64)
}

// mass is the attacker's belief about one input: s is the probability
// that it is still pooled, r the part of s in which its exponential delay
// has already run out (Exponential with a floor only).
type mass struct {
	arrived time.Duration
	s, r    float64
}

// Exchangeable is the model of strategies that pick uniformly among the
// pooled messages once they know how many leave: TimedDynamic (k is a
// function of n) and Binomial (k is random, but given k every k-subset is
// as likely). Every pooled message leaves with probability k/n, so an
// output is input i with probability s_i/n: the exact posterior.
type Exchangeable struct{}

func (Exchangeable) Round(in []mass, _, _ time.Duration, n, k int, leave []float64) {
	w := 0.0
	if n > 0 {
		w = min(float64(k)/float64(n), 1)
	}
	for i := range in {
		leave[i] = in[i].s * w
		in[i].s -= leave[i]
	}
}

// Exponential is the model of the Poisson mix with mean delay Mean and
// pool floor Floor. Without a floor a message leaves when its own delay,
// which started at its arrival, runs out: the probability that it does in
// (max(prev, arrived), now] is what the attacker assigns, ignoring what
// the other departures say (Danezis, "The traffic analysis of
// continuous-time mixes", PET 2004; the usual approximation, and exact
// for a lone message). With a floor, released messages may be held: when
// the round left exactly Floor pooled the floor was binding and each
// released message left with probability k / (expected released), else
// all released ones left.
type Exponential struct {
	Mean  time.Duration
	Floor int
}

func (e Exponential) Round(in []mass, prev, now time.Duration, n, k int, leave []float64) {
	released := 0.0
	for i := range in {
		m := &in[i]
		if from := max(prev, m.arrived); now > from {
			h := -math.Expm1(-float64(now-from) / float64(e.Mean))
			m.r += (m.s - m.r) * h
		}
		released += m.r
	}
	f := 1.0 // the share of the released messages that leave
	if e.Floor > 0 && n-k <= e.Floor {
		f = 0
		if released > 0 {
			f = min(float64(k)/released, 1)
		}
	}
	for i := range in {
		leave[i] = in[i].r * f
		in[i].s -= leave[i]
		in[i].r -= leave[i]
	}
}

// prune drops inputs whose remaining mass is below this: their share of
// any later output is negligible (its entropy term is < 1e-8 bits).
const prune = 1e-10

// tracker follows the attacker's probability mass of every input through
// the rounds, as the Model says.
type tracker struct {
	model Model
	prev  time.Duration
	in    []mass
	leave []float64
}

func (t *tracker) arrive(at time.Duration) { t.in = append(t.in, mass{arrived: at, s: 1}) }

// round applies a round at now with n pooled and k leaving. It returns the
// entropy in bits of each output's distribution over the inputs (all
// outputs of a round share it).
func (t *tracker) round(now time.Duration, n, k int) float64 {
	if cap(t.leave) < len(t.in) {
		t.leave = make([]float64, len(t.in), 2*len(t.in))
	}
	leave := t.leave[:len(t.in)]
	t.model.Round(t.in, t.prev, now, n, k, leave)
	var z, zlog float64
	for _, x := range leave {
		if x > 0 {
			z += x
			zlog += x * math.Log2(x)
		}
	}
	h := 0.0
	if z > 0 {
		h = max(math.Log2(z)-zlog/z, 0)
	}
	kept := t.in[:0]
	for _, m := range t.in {
		if m.s >= prune {
			kept = append(kept, m)
		}
	}
	t.in = kept
	t.prev = now
	return h
}

// Bound is the most sender-anonymity entropy, in bits, that any strategy
// can give the outputs on average, on Poisson arrivals at perHour with mean
// latency mean. Given the arrival times and an output's time, naming its
// input is naming J, the number of arrivals between that input and the
// output; whatever the strategy, E[J] = perHour·mean (Wald: a message's
// departure cannot depend on arrivals yet to come), and no distribution
// on 0, 1, 2, … with mean μ has more entropy than the geometric,
// (μ+1)·log2(μ+1) − μ·log2(μ) ≈ log2(e·(μ+½)). What the attacker knows
// beyond the output's time can only lower it. So one more bit costs about
// twice the latency, for every strategy.
func Bound(perHour float64, mean time.Duration) float64 {
	mu := perHour * mean.Hours()
	if mu <= 0 {
		return 0
	}
	return (mu+1)*math.Log2(mu+1) - mu*math.Log2(mu)
}
