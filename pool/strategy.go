package pool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// EntryInfo is what a Strategy learns about one pooled entry. It carries
// no content and no identity: only the coarse entry time and the release
// time the strategy itself drew at admission.
type EntryInfo struct {
	Entered time.Time // entry time rounded down to Options.Granularity
	Release time.Time // from Strategy.Admit; zero if the strategy drew none
}

// A Strategy decides which pooled entries leave the pool in a round.
//
// Admit is called once for every entry entering the pool; a strategy that
// delays each message individually (e.g. a Poisson mix drawing an
// exponential delay) returns the release time to store with the entry,
// others return the zero time. Select is called every round with the
// pooled entries (latent ones excluded) in random order and returns the
// indexes of those to send, each at most once. Both take their randomness
// from rnd, which is safe to read from and is crypto/rand unless the
// Store was opened with another Options.Rand.
type Strategy interface {
	Admit(now time.Time, rnd io.Reader) (release time.Time, err error)
	Select(now time.Time, pool []EntryInfo, rnd io.Reader) ([]int, error)
}

// TimedDynamic is Mixmaster's pool algorithm (§12.2): with n pooled
// entries, nothing is sent while n ≤ poolSize; otherwise
// min(n − poolSize, ⌊n·rate/100⌋) entries chosen uniformly at random
// without replacement. The integer floor is kept on purpose: a small pool
// with rate < 100 may send nothing (n = 1, rate 65 → 0), exactly like
// 3.0.2d. poolSize < 0 counts as 0; rate is clamped to 0..100.
func TimedDynamic(poolSize, ratePercent int) Strategy {
	return timedDynamic{poolSize: max(poolSize, 0), rate: min(max(ratePercent, 0), 100)}
}

type timedDynamic struct{ poolSize, rate int }

// count is §12.2 steps 3 and 4.
func (t timedDynamic) count(n int) int {
	if n <= t.poolSize {
		return 0
	}
	return min(n-t.poolSize, n*t.rate/100)
}

func (timedDynamic) Admit(time.Time, io.Reader) (time.Time, error) { return time.Time{}, nil }

func (t timedDynamic) Select(_ time.Time, pool []EntryInfo, rnd io.Reader) ([]int, error) {
	return sample(len(pool), t.count(len(pool)), rnd)
}

func (t timedDynamic) String() string {
	return fmt.Sprintf("timed-dynamic(poolsize=%d, rate=%d%%)", t.poolSize, t.rate)
}

// sample returns k distinct indexes out of 0..n-1, uniformly at random
// (partial Fisher–Yates).
func sample(n, k int, rnd io.Reader) ([]int, error) {
	if k <= 0 || n <= 0 {
		return nil, nil
	}
	k = min(k, n)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	for i := 0; i < k; i++ {
		j, err := randIntn(rnd, n-i)
		if err != nil {
			return nil, err
		}
		idx[i], idx[i+j] = idx[i+j], idx[i]
	}
	return idx[:k], nil
}

// randIntn returns a uniform integer in [0, n) read from rnd.
func randIntn(rnd io.Reader, n int) (int, error) {
	if n <= 0 {
		return 0, errors.New("pool: randIntn: n must be positive")
	}
	if n == 1 {
		return 0, nil
	}
	un := uint64(n)
	// 2^64 mod n values at the top would favour small results: reject them.
	rem := (math.MaxUint64%un + 1) % un
	top := uint64(math.MaxUint64) - rem
	var b [8]byte
	for {
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return 0, fmt.Errorf("pool: random: %w", err)
		}
		if v := binary.BigEndian.Uint64(b[:]); v <= top {
			return int(v % un), nil
		}
	}
}

// DummyCount implements "while random(0..99) < percent: create one dummy"
// (§12.2 step 1 with OUTDUMMYP, §12.3 with INDUMMYP): a geometric count
// with mean p/(1−p). percent is clamped to 0..96, the larger of the two
// caps of §12.3; the caller applies INDUMMYP's cap of 84.
func DummyCount(percent int, rnd io.Reader) (int, error) {
	percent = min(max(percent, 0), 96)
	n := 0
	for {
		r, err := randIntn(rnd, 100)
		if err != nil {
			return n, err
		}
		if r >= percent {
			return n, nil
		}
		n++
	}
}
