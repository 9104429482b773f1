// Package pinger owns the remailer pinger's statistics and the lists it
// publishes, compatible with Echolot 2.1.9, the standard pinger:
//
//   - stats.go: the pure core — reliability ("uptime"), median latency and
//     the 12-day histories of single-remailer pings, and broken-chain
//     detection from two-hop chain pings;
//   - lists.go: mlist2.txt / rlist2.txt (v2) and mlist.txt (v1) rendered
//     byte-exact, and tolerant parsers of what real pingers publish (the
//     part a client needs), plus the $remailer capability lines.
//
// Nothing here does I/O or reads the clock: callers pass the time. Sending
// pings, receiving them, scheduling and serving the files belong in other
// files of this package or in other packages. Section numbers (§) refer to
// docs/spec/echolot-pinger.md; DIFFERENCES.md lists every deliberate
// departure from Echolot.
package pinger

import (
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Days is the statistics window in days (Echolot's stats_days). The list
// formats have one history character per day, so it is fixed.
const Days = 12

const day = 24 * time.Hour

// NoLatency is the latency of a remailer none of whose pings came back.
// Lists print it as 99:59 (v2) or 99:59:59 (v1).
const NoLatency = time.Duration(math.MinInt64)

// Ping is one single-remailer ping: sent to Remailer at Sent, back at
// Received. A zero Received means still outstanding. Pings to all keys of
// a remailer are pooled, as Echolot does (§4).
type Ping struct {
	Remailer string
	Sent     time.Time
	Received time.Time
}

// ChainPing is one two-hop chain ping, entering at First and leaving
// through Second (§5). A zero Received means still outstanding.
type ChainPing struct {
	First, Second string
	Sent          time.Time
	Received      time.Time
}

// Options are the tunables of the statistics, named after Echolot's
// configuration keys. The zero value means DefaultOptions.
type Options struct {
	// Weights[d] weighs pings sent d days ago in the overall reliability
	// (pings_weight).
	Weights [Days]float64
	// An outstanding ping of age a counts as received with the probability
	// that a returned latency exceeds (a - SkewAbs) / SkewFactor. Echolot's
	// code divides by 0.8; its methodology text multiplies (see
	// DIFFERENCES.md). We follow the code.
	SkewAbs    time.Duration
	SkewFactor float64

	// Chain pings (§5).
	ChainPeriod    time.Duration // chainping_period: judge pings this recent
	ChainGrace     float64       // chainping_grace: ignore outstanding pings younger than this × (lat A + lat B)
	ChainMinSample int           // chainping_minsample
	ChainFudge     float64       // chainping_fudge: broken if done/out ≤ rel A × rel B × this
	AllBadFactor   float64       // chainping_allbad_factor: share of remailers that collapses pairs to (* X)
}

// DefaultOptions returns Echolot 2.1.9's defaults.
func DefaultOptions() Options {
	return Options{
		Weights:        [Days]float64{0.5, 1, 1, 1, 1, 0.9, 0.8, 0.5, 0.3, 0.2, 0.2, 0.1},
		SkewAbs:        15 * time.Minute,
		SkewFactor:     0.8,
		ChainPeriod:    10 * day,
		ChainGrace:     1.5,
		ChainMinSample: 3,
		ChainFudge:     0.3,
		AllBadFactor:   0.5,
	}
}

func (o Options) orDefault() Options {
	if o == (Options{}) {
		return DefaultOptions()
	}
	return o
}

// DayStats are the statistics of the pings sent on one day (d days ago:
// sent between now-(d+1)·24h and now-d·24h). They are unweighted.
type DayStats struct {
	Sent     int           // pings sent that day
	Returned int           // of which came back
	Received float64       // Returned plus the model's share of the outstanding ones
	Latency  time.Duration // median latency of the returned ones; valid if Returned > 0
}

// Uptime is Received/Sent, or 0 when nothing was sent that day.
func (d DayStats) Uptime() float64 {
	if d.Sent == 0 {
		return 0
	}
	return d.Received / float64(d.Sent)
}

// Stats are one remailer's statistics over the last Days days. The zero
// value is the statistics of a remailer with no pings at all.
type Stats struct {
	Sent, Returned int // unweighted counts in the window

	// SentWeight and ReceivedWeight are the weighted sums behind
	// Reliability (outstanding pings weigh their probability of return).
	SentWeight, ReceivedWeight float64
	// Reliability is ReceivedWeight/SentWeight, 0 when nothing was sent.
	Reliability float64
	// Latency is the median of all returned pings' latencies; valid if
	// Returned > 0 (see RowLatency).
	Latency time.Duration
	// Day[d] is the day d days ago; Day[0] is today.
	Day [Days]DayStats
	// Histogram counts returned pings by latency class, one per character
	// of LatencyClasses (Latent-Hist's alphabet). Not in Echolot.
	Histogram [len(LatencyClasses)]int
}

// LatencyClasses is the alphabet of v2 Latent-Hist, fastest first; see
// latencyClass for the bounds.
const LatencyClasses = "0123456789ABCDEFGH"

// latencyBounds[i] is the exclusive upper bound of LatencyClasses[i]; the
// last class has none.
var latencyBounds = [len(LatencyClasses) - 1]time.Duration{
	20 * time.Minute, 1 * time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour,
	5 * time.Hour, 6 * time.Hour, 7 * time.Hour, 8 * time.Hour, 9 * time.Hour,
	12 * time.Hour, 18 * time.Hour, 24 * time.Hour, 30 * time.Hour, 36 * time.Hour,
	42 * time.Hour, 48 * time.Hour,
}

// latencyClass is the index in LatencyClasses of a latency.
func latencyClass(lat time.Duration) int {
	for i, b := range latencyBounds {
		if lat < b {
			return i
		}
	}
	return len(latencyBounds)
}

// latency1Class is the v1 (mlist.txt) history character of a latency.
func latency1Class(lat time.Duration) byte {
	switch {
	case lat < 5*time.Minute:
		return '#'
	case lat < time.Hour:
		return '*'
	case lat < 4*time.Hour:
		return '+'
	case lat < 24*time.Hour:
		return '-'
	case lat < 48*time.Hour:
		return '.'
	}
	return '_'
}

// Compute returns the statistics of every remailer that has a ping in
// pings, as Echolot computes them at now (§4):
//
//   - only pings sent in the last Days days count (sent > now - 12 d);
//     pings sent after now are ignored, and a ping received after now
//     counts as outstanding, so stats can be recomputed for a past moment;
//   - a returned ping weighs w = Weights[d] in sent and received, where d is
//     the number of whole days since it was sent;
//   - an outstanding ping weighs w in sent and w·p in received, p being the
//     fraction of the remailer's returned latencies strictly greater than
//     (age - SkewAbs) / SkewFactor (0 if none returned);
//   - latency is the median of the returned pings' latencies; per day, the
//     median of those sent that day; per-day uptime is unweighted.
func Compute(pings []Ping, now time.Time, opts Options) map[string]Stats {
	opts = opts.orDefault()
	byRemailer := make(map[string][]Ping)
	for _, p := range pings {
		byRemailer[p.Remailer] = append(byRemailer[p.Remailer], p)
	}
	out := make(map[string]Stats, len(byRemailer))
	for name, ps := range byRemailer {
		out[name] = computeOne(ps, now, opts)
	}
	return out
}

// dayIndex is the number of whole days between sent and now, or -1 if the
// ping is outside the window [now-Days·24h exclusive, now inclusive].
func dayIndex(sent, now time.Time, days int) int {
	age := now.Sub(sent)
	if age < 0 || age >= time.Duration(days)*day {
		return -1
	}
	return int(age / day)
}

func returned(p Ping, now time.Time) bool {
	return !p.Received.IsZero() && !p.Received.After(now)
}

func computeOne(pings []Ping, now time.Time, opts Options) Stats {
	var s Stats
	var all []time.Duration
	var perDay [Days][]time.Duration
	type outstanding struct {
		d   int
		age time.Duration
	}
	var pending []outstanding

	for _, p := range pings {
		d := dayIndex(p.Sent, now, Days)
		if d < 0 {
			continue
		}
		s.Sent++
		s.Day[d].Sent++
		s.SentWeight += opts.Weights[d]
		if !returned(p, now) {
			pending = append(pending, outstanding{d, now.Sub(p.Sent)})
			continue
		}
		lat := p.Received.Sub(p.Sent)
		all = append(all, lat)
		perDay[d] = append(perDay[d], lat)
		s.Returned++
		s.Day[d].Returned++
		s.Day[d].Received++
		s.ReceivedWeight += opts.Weights[d]
		s.Histogram[latencyClass(lat)]++
	}

	slices.Sort(all)
	s.Latency = median(all)
	for d := range perDay {
		slices.Sort(perDay[d])
		s.Day[d].Latency = median(perDay[d])
	}

	for _, o := range pending {
		p := survival(o.age, all, opts)
		s.ReceivedWeight += opts.Weights[o.d] * p
		s.Day[o.d].Received += p
	}
	if s.SentWeight > 0 {
		s.Reliability = s.ReceivedWeight / s.SentWeight
	}
	return s
}

// median of sorted durations as Echolot takes it: the mean of the two middle
// values for an even count; 0 for none.
func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case n%2 == 0:
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return sorted[n/2]
}

// survival is the share of sorted latencies strictly greater than the
// threshold (age - SkewAbs)/SkewFactor: how likely a ping of this age still
// comes back. Computed in float seconds, as Perl does.
func survival(age time.Duration, sorted []time.Duration, opts Options) float64 {
	if len(sorted) == 0 {
		return 0
	}
	thr := (age.Seconds() - opts.SkewAbs.Seconds()) / opts.SkewFactor
	i := sort.Search(len(sorted), func(i int) bool { return sorted[i].Seconds() > thr })
	return float64(len(sorted)-i) / float64(len(sorted))
}

// RowLatency is Latency, or NoLatency when no ping came back.
func (s Stats) RowLatency() time.Duration {
	if s.Returned == 0 {
		return NoLatency
	}
	return s.Latency
}

// history builds a Days-character history, today rightmost.
func (s Stats) history(f func(DayStats) byte) string {
	var b [Days]byte
	for d, ds := range s.Day {
		b[Days-1-d] = f(ds)
	}
	return string(b[:])
}

// LatentHist is the v2 Latent-Hist: each day's median latency class, '?'
// for a day without a returned ping.
func (s Stats) LatentHist() string {
	return s.history(func(d DayStats) byte {
		if d.Returned == 0 {
			return '?'
		}
		return LatencyClasses[latencyClass(d.Latency)]
	})
}

// History is the v1 (mlist.txt) history: '#' < 5 min, '*' < 1 h, '+' < 4 h,
// '-' < 24 h, '.' < 48 h, '_' more, ' ' for a day without a returned ping.
func (s Stats) History() string {
	return s.history(func(d DayStats) byte {
		if d.Returned == 0 {
			return ' '
		}
		return latency1Class(d.Latency)
	})
}

// UptimeHist is the v2 Uptime-Hist: '+' for ≥ 99.99 %, else the tens digit
// of the day's uptime, '?' for a day without a ping sent.
func (s Stats) UptimeHist() string {
	return s.history(func(d DayStats) byte {
		if d.Sent == 0 {
			return '?'
		}
		u := d.Uptime()
		if u >= 0.9999 {
			return '+'
		}
		return byte('0' + min(max(int(u*10), 0), 9))
	})
}

// Pair is one broken chain (From → To) as lists print it, "(from to)";
// either side may be "*", any remailer.
type Pair struct {
	From, To string
}

// Any is the wildcard side of a Pair.
const Any = "*"

func (p Pair) String() string { return "(" + p.From + " " + p.To + ")" }

// ChainVerdict is the judgement of chain pings at one moment (§5).
type ChainVerdict struct {
	// Broken are the pairs whose chain pings came back too rarely, sorted.
	// They are not compressed; see CompressBroken.
	Broken []Pair
	// IntensiveCare are the pairs to chain-ping daily: the broken ones and
	// those with too few samples and none back, sorted.
	IntensiveCare []Pair
}

// JudgeChains finds broken chains as Echolot does (§5). stats holds the
// single-ping statistics of the remailers to judge; chain pings through
// any other remailer are ignored. For every ordered pair it counts the
// chain pings sent in the last ChainPeriod (out) and those back (done),
// skipping outstanding pings younger than ChainGrace × (latency A +
// latency B). A pair with fewer than ChainMinSample pings and none back is
// not judged (only put in intensive care); otherwise it is broken if
// done/out ≤ rel A × rel B × ChainFudge. Echolot publishes a pair only if
// both remailers are listed; filter Broken for that.
func JudgeChains(pings []ChainPing, stats map[string]Stats, now time.Time, opts Options) ChainVerdict {
	opts = opts.orDefault()
	type count struct{ out, done int }
	counts := make(map[Pair]*count)
	for _, p := range pings {
		if p.Sent.Before(now.Add(-opts.ChainPeriod)) || p.Sent.After(now) {
			continue
		}
		a, okA := stats[p.First]
		b, okB := stats[p.Second]
		if !okA || !okB {
			continue
		}
		back := !p.Received.IsZero() && !p.Received.After(now)
		if !back {
			grace := float64(chainLatency(a)+chainLatency(b)) * opts.ChainGrace
			if float64(now.Sub(p.Sent)) < grace {
				continue
			}
		}
		k := Pair{p.First, p.Second}
		c := counts[k]
		if c == nil {
			c = new(count)
			counts[k] = c
		}
		c.out++ // Echolot's .out file keeps returned pings too
		if back {
			c.done++
		}
	}

	var v ChainVerdict
	for k, c := range counts {
		if c.out < opts.ChainMinSample && c.done == 0 {
			v.IntensiveCare = append(v.IntensiveCare, k)
			continue
		}
		expected := stats[k.From].Reliability * stats[k.To].Reliability * opts.ChainFudge
		if float64(c.done)/float64(c.out) > expected {
			continue
		}
		v.Broken = append(v.Broken, k)
		v.IntensiveCare = append(v.IntensiveCare, k)
	}
	sortPairs(v.Broken)
	sortPairs(v.IntensiveCare)
	return v
}

// chainLatency is a remailer's latency for the chain grace period; 0 when
// none of its pings came back, as in Echolot.
func chainLatency(s Stats) time.Duration {
	if s.Returned == 0 {
		return 0
	}
	return s.Latency
}

// sortPairs sorts by the printed form, as Echolot sorts its lines.
func sortPairs(ps []Pair) {
	slices.SortFunc(ps, func(a, b Pair) int { return strings.Compare(a.String(), b.String()) })
}

// CompressBroken merges and shortens broken pairs for publication as
// Echolot does (§5): duplicates go; a remailer on the right of at least
// factor × remailers pairs becomes "(* X)" replacing them, likewise "(X *)"
// on the left; a pair that already has a "*" counts as remailers pairs.
// remailers is the number of remailers with statistics (Echolot counts
// hidden ones too, even for the public list). Operator-supplied pairs
// (broken2.txt) are simply included in pairs. The result is sorted.
func CompressBroken(pairs []Pair, remailers int, factor float64) []Pair {
	uniq := slices.Clone(pairs)
	sortPairs(uniq)
	uniq = slices.Compact(uniq)

	right := make(map[string]int)
	left := make(map[string]int)
	for _, p := range uniq {
		right[p.To]++
		if p.From == Any {
			right[p.To] += remailers
		}
		left[p.From]++
		if p.To == Any {
			left[p.From] += remailers
		}
	}
	threshold := float64(remailers) * factor
	var out []Pair
	badRight := make(map[string]bool)
	badLeft := make(map[string]bool)
	// Echolot would also collapse on the name "*" itself and could print
	// "(* *)", which makes clients avoid every chain; we never do.
	for name, n := range right {
		if name != Any && float64(n) >= threshold {
			badRight[name] = true
			out = append(out, Pair{Any, name})
		}
	}
	for name, n := range left {
		if name != Any && float64(n) >= threshold {
			badLeft[name] = true
			out = append(out, Pair{name, Any})
		}
	}
	for _, p := range uniq {
		if !badRight[p.To] && !badLeft[p.From] {
			out = append(out, p)
		}
	}
	sortPairs(out)
	return slices.Compact(out)
}
