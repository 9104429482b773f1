package pool

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// Names of the strategies New builds, as the configuration spells them.
const (
	StrategyTimedDynamic = "timed-dynamic"
	StrategyBinomial     = "binomial"
	StrategyPoisson      = "poisson"
)

// Params carries the parameters of every named strategy; each strategy
// reads its own and ignores the others.
type Params struct {
	PoolSize int // timed-dynamic and poisson: POOLSIZE, the least kept
	Rate     int // timed-dynamic: RATE (percent)

	// binomial: P(n) = BinomialMax/100 · Φ((n − BinomialMean)/BinomialSD)
	BinomialMean, BinomialSD float64
	BinomialMax              int

	PoissonMean time.Duration // poisson: mean of the exponential delay
}

// New returns the strategy called name with its parameters from p.
func New(name string, p Params) (Strategy, error) {
	switch name {
	case StrategyTimedDynamic:
		return TimedDynamic(p.PoolSize, p.Rate), nil
	case StrategyBinomial:
		return Binomial(p.BinomialMean, p.BinomialSD, p.BinomialMax), nil
	case StrategyPoisson:
		if p.PoissonMean <= 0 {
			return nil, fmt.Errorf("pool: poisson strategy needs a positive mean delay")
		}
		return Poisson(p.PoissonMean, p.PoolSize), nil
	}
	return nil, fmt.Errorf("pool: unknown strategy %q (known: %s, %s, %s)",
		name, StrategyTimedDynamic, StrategyBinomial, StrategyPoisson)
}

// Binomial is the binomial mix of Díaz and Serjantov ("Generalising
// Mixes", PET 2003): at every round each of the n pooled entries leaves
// independently with probability
//
//	P(n) = maxPercent/100 · Φ((n − mean)/sd)
//
// where Φ is the standard normal distribution function. Unlike
// TimedDynamic, how many leave is random, so an attacker flooding the
// pool cannot know when it holds only his own messages. sd ≤ 0 makes Φ a
// step: P(n) = maxPercent/100 for n > mean, 0 otherwise. maxPercent is
// clamped to 0..100.
func Binomial(mean, sd float64, maxPercent int) Strategy {
	return binomial{mean: mean, sd: sd, max: float64(min(max(maxPercent, 0), 100)) / 100}
}

type binomial struct{ mean, sd, max float64 }

// P is the probability with which each entry of a pool of n leaves.
func (b binomial) P(n int) float64 {
	if b.sd <= 0 {
		if float64(n) > b.mean {
			return b.max
		}
		return 0
	}
	return b.max * 0.5 * math.Erfc(-(float64(n)-b.mean)/(b.sd*math.Sqrt2))
}

func (binomial) Admit(time.Time, io.Reader) (time.Time, error) { return time.Time{}, nil }

func (b binomial) Select(_ time.Time, pool []EntryInfo, rnd io.Reader) ([]int, error) {
	p := b.P(len(pool))
	if p <= 0 {
		return nil, nil
	}
	var out []int
	for i := range pool {
		u, err := randFloat(rnd)
		if err != nil {
			return nil, err
		}
		if u < p {
			out = append(out, i)
		}
	}
	return out, nil
}

func (b binomial) String() string {
	return fmt.Sprintf("binomial(mean=%g, sd=%g, max=%g%%)", b.mean, b.sd, b.max*100)
}

// Poisson is the continuous-time mix (Kesdogan's Stop-and-Go mix, and
// Loopix's Poisson mix): Admit draws for each entry an exponential delay
// of the given mean, independently of everything else, and the entry is
// released at the first round at or after that time. The delay is
// memoryless, so how long an entry has waited tells nothing about when it
// leaves, and flooding the pool does not make anyone leave sooner. Rounds
// should come often compared with mean: pool_interval is the granularity
// of the delays.
//
// poolSize > 0 adds Mixmaster's floor: released entries leave only while
// more than poolSize entries stay; when fewer would, poolSize stay and
// the ones that leave are drawn uniformly among the released. At low
// traffic this keeps the timed dynamic pool's anonymity set; at high
// traffic it does nothing.
//
// Entries without a release time (pooled under another strategy before a
// restart) are released with the exponential's probability for the time
// since the previous round, 1 − exp(−Δ/mean): the same process.
func Poisson(mean time.Duration, poolSize int) Strategy {
	return &poisson{mean: mean, floor: max(poolSize, 0)}
}

type poisson struct {
	mean  time.Duration
	floor int

	mu   sync.Mutex
	last time.Time // previous Select, for entries without a release time
}

func (p *poisson) Admit(now time.Time, rnd io.Reader) (time.Time, error) {
	u, err := randFloat(rnd)
	if err != nil {
		return time.Time{}, err
	}
	// 1 − u is in (0, 1]: the logarithm is finite, the delay at most
	// ≈ 37 means.
	d := -math.Log(1-u) * float64(p.mean)
	return now.Add(time.Duration(d)), nil
}

func (p *poisson) Select(now time.Time, pool []EntryInfo, rnd io.Reader) ([]int, error) {
	p.mu.Lock()
	var legacy float64 // release probability of an entry without release time
	if !p.last.IsZero() && now.After(p.last) {
		legacy = -math.Expm1(-float64(now.Sub(p.last)) / float64(p.mean))
	}
	p.last = now
	p.mu.Unlock()
	var released []int
	for i, e := range pool {
		if e.Release.IsZero() {
			u, err := randFloat(rnd)
			if err != nil {
				return nil, err
			}
			if u < legacy {
				released = append(released, i)
			}
			continue
		}
		if !e.Release.After(now) {
			released = append(released, i)
		}
	}
	if len(pool)-len(released) >= p.floor {
		return released, nil
	}
	pick, err := sample(len(released), len(pool)-p.floor, rnd)
	if err != nil {
		return nil, err
	}
	for j, i := range pick {
		pick[j] = released[i]
	}
	return pick, nil
}

func (p *poisson) String() string {
	return fmt.Sprintf("poisson(mean=%v, poolsize=%d)", p.mean, p.floor)
}

// randFloat returns a uniform float64 in [0, 1) with 53 random bits.
func randFloat(rnd io.Reader) (float64, error) {
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return 0, fmt.Errorf("pool: random: %w", err)
	}
	return float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53), nil
}
