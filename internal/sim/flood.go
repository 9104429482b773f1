package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// FloodSetup describes the n−1 (flooding, "trickle") attack of Serjantov,
// Dingledine and Syverson ("From a trickle to a flood", IH 2002): an
// active attacker who controls the links into one remailer holds back
// every honest message, floods the pool with his own until none of the
// honest ones is left, lets the one target message in and keeps flooding
// until it has left. Whatever leaves that is not his own (he recognises
// his messages at their next hop) is the target — or a dummy, if the
// remailer makes them.
type FloodSetup struct {
	Honest  float64       // honest messages per hour before the attack
	Warmup  time.Duration // honest traffic before the attack starts
	PerHour float64       // attacker messages an hour, spread over the rounds
	GiveUp  time.Duration // the attack is abandoned after this long
	Trials  int
	Seed    uint64
	// Dummies per hour the remailer makes at its rounds (OUTDUMMYP; the
	// percentage per round is derived from it and the round interval so
	// that every strategy makes as many), and InDummy percent per arriving
	// message (INDUMMYP), as mixd does. 0 and 0: no dummies.
	OutDummiesPerHour float64
	InDummy           int
}

// DefaultFlood is what docs/ANONYMITY.md reports.
func DefaultFlood() FloodSetup {
	return FloodSetup{Honest: 30, Warmup: 24 * time.Hour, PerHour: 400, GiveUp: 72 * time.Hour, Trials: 20, Seed: 1}
}

// WithMixmasterDummies adds Mixmaster's operator dummies (§17.2: OUTDUMMYP
// 90 every 15 minutes, 9 a round or 36 an hour; INDUMMYP 10).
func (f FloodSetup) WithMixmasterDummies() FloodSetup {
	f.OutDummiesPerHour, f.InDummy = 36, 10
	return f
}

// FloodResult is the attack's outcome against one strategy, averaged
// over the trials.
type FloodResult struct {
	Spec    Spec
	Dummies bool
	Trials  int
	GaveUp  int // trials in which the target had not left by GiveUp

	Flush    time.Duration // mean time until no honest message is pooled
	Duration time.Duration // mean time from the attack's start until it ends
	Messages float64       // mean attacker messages sent

	// Entropy in bits of the attacker's distribution over the candidate
	// outputs (not his own) for the target, mean and minimum over the
	// trials, and how often his likeliest candidate was the target.
	Entropy, MinEntropy float64
	Hit                 float64
}

// outDummyPercent is the OUTDUMMYP that makes perHour dummies on average
// with rounds every interval: the count is geometric with mean p/(1−p).
func outDummyPercent(perHour float64, interval time.Duration) int {
	m := perHour * interval.Hours()
	return min(int(math.Round(100*m/(1+m))), 96)
}

const (
	attackerMark = math.MaxUint64 - 1
	targetMark   = math.MaxUint64 - 2
)

// Flood runs the n−1 attack against spec.
func Flood(spec Spec, f FloodSetup, dir string) (FloodResult, error) {
	res := FloodResult{Spec: spec, Dummies: f.OutDummiesPerHour > 0 || f.InDummy > 0, Trials: f.Trials}
	if f.Trials <= 0 {
		return res, errors.New("sim: no trials")
	}
	res.MinEntropy = math.Inf(1)
	var flush, dur time.Duration
	for trial := range f.Trials {
		t, err := floodTrial(spec, f, dir, f.Seed*1000+uint64(trial))
		if err != nil {
			return res, err
		}
		if t.gaveUp {
			res.GaveUp++
		}
		flush += t.flush
		dur += t.duration
		res.Messages += float64(t.messages)
		res.Entropy += t.entropy
		res.MinEntropy = min(res.MinEntropy, t.entropy)
		res.Hit += t.hit
	}
	n := float64(f.Trials)
	res.Flush, res.Duration = flush/time.Duration(f.Trials), dur/time.Duration(f.Trials)
	res.Messages /= n
	res.Entropy /= n
	res.Hit /= n
	return res, nil
}

type trialResult struct {
	flush, duration time.Duration
	messages        int
	entropy, hit    float64
	gaveUp          bool
}

// candidate is one round's outputs that are not the attacker's.
type candidate struct {
	weight float64 // probability that the target left in this round
	count  int     // outputs not the attacker's
	target bool    // the target is among them
}

func floodTrial(spec Spec, f FloodSetup, dir string, seed uint64) (trialResult, error) {
	var tr trialResult
	opt := Options{Dir: dir, Seed: seed, InDummy: f.InDummy}
	if f.OutDummiesPerHour > 0 {
		opt.OutDummy = outDummyPercent(f.OutDummiesPerHour, spec.Interval)
	}
	m, err := openMixer(spec, opt)
	if err != nil {
		return tr, err
	}
	defer m.close()
	// A pure Poisson mix needs no flood: holding the honest messages back
	// is enough, since everyone's delay runs out on its own.
	perRound := int(math.Round(f.PerHour * spec.Interval.Hours()))
	if e, ok := spec.Model.(Exponential); ok && e.Floor == 0 {
		perRound = 0
	}

	// Honest traffic until the attack starts, at a round.
	r := newRand(seed)
	start := (f.Warmup / spec.Interval) * spec.Interval
	arr := poissonTimes(r, f.Honest, start, nil)
	honest, next := 0, 0 // honest messages pooled; next arrival
	for now := spec.Interval; now <= start; now += spec.Interval {
		for ; next < len(arr) && arr[next] < now; next++ {
			if err := m.add(arr[next], 0); err != nil {
				return tr, err
			}
			honest++
		}
		if honest, err = m.floodRound(now, honest, nil); err != nil {
			return tr, err
		}
	}

	// Flush: honest messages are held back, the attacker's flood in.
	now := start
	deadline := start + f.GiveUp
	for honest > 0 && now < deadline {
		if err := m.flood(now+spec.Interval, perRound, r); err != nil {
			return tr, err
		}
		tr.messages += perRound
		now += spec.Interval
		if honest, err = m.floodRound(now, honest, nil); err != nil {
			return tr, err
		}
	}
	tr.flush = now - start

	// The target goes in just after the flush's last round.
	targetAt := now + time.Second
	if err := m.add(targetAt, targetMark); err != nil {
		return tr, err
	}
	// The attacker's belief about the target, as in tracker.
	target, prev := []mass{{arrived: targetAt, s: 1}}, now
	leave := make([]float64, 1)
	var cands []candidate
	left := false
	for now < deadline {
		if err := m.flood(now+spec.Interval, perRound, r); err != nil {
			return tr, err
		}
		tr.messages += perRound
		now += spec.Interval
		var c candidate
		if _, err = m.floodRound(now, 0, &c); err != nil {
			return tr, err
		}
		spec.Model.Round(target, prev, now, m.rec.n, m.rec.k, leave)
		c.weight = leave[0]
		prev = now
		if c.count > 0 {
			cands = append(cands, c)
		}
		left = left || c.target
		// Without dummies the attacker sees the target leave. With them he
		// stops once he believes it gone with 99 %.
		if left && (!m.dummyful() || target[0].s < 0.01) {
			break
		}
	}
	tr.duration = now - start
	tr.gaveUp = !left
	tr.entropy, tr.hit = targetEntropy(cands)
	return tr, nil
}

// targetEntropy: an output in a round with c.count candidates is the
// target with probability ∝ c.weight / c.count. It returns the entropy in
// bits and the chance that the attacker's likeliest output is the target.
func targetEntropy(cands []candidate) (h, hit float64) {
	var z float64
	for _, c := range cands {
		z += c.weight
	}
	if z <= 0 {
		return 0, 0
	}
	best, ties, targetP := 0.0, 0, 0.0
	for _, c := range cands {
		p := c.weight / z / float64(c.count)
		if p > 0 {
			h -= float64(c.count) * p * math.Log2(p)
		}
		switch {
		case p > best*(1+1e-12):
			best, ties = p, c.count
		case p >= best*(1-1e-12):
			ties += c.count
		}
		if c.target {
			targetP = p
		}
	}
	if targetP >= best*(1-1e-12) && ties > 0 {
		hit = 1 / float64(ties)
	}
	return max(h, 0), hit
}

func (m *mixer) dummyful() bool { return m.opt.OutDummy > 0 || m.opt.InDummy > 0 }

// flood puts n attacker messages in just before the round at now.
func (m *mixer) flood(now time.Duration, n int, r *rand.Rand) error {
	for range n {
		at := now - time.Duration(1+r.IntN(int(time.Minute/time.Second)))*time.Second
		if err := m.add(at, attackerMark); err != nil {
			return err
		}
	}
	return nil
}

// floodRound runs a round and sorts what left: it returns the honest
// messages still pooled and, if c is set, counts the outputs that are not
// the attacker's there.
func (m *mixer) floodRound(now time.Duration, honest int, c *candidate) (int, error) {
	tags, _, _, err := m.runRound(now)
	if err != nil {
		return 0, fmt.Errorf("sim: flood: %w", err)
	}
	for _, tag := range tags {
		switch tag {
		case attackerMark:
			continue
		case dummyMark:
		case targetMark:
			if c != nil {
				c.target = true
			}
		default:
			honest--
		}
		if c != nil {
			c.count++
		}
	}
	return honest, nil
}
