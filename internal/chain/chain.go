// Package chain chooses the chain of remailers a message travels through,
// as the client of Mixmaster 3.0.2d does (§15.4): the client `mix send`,
// remailers sending dummies (§12.4) and re-routing as middlemen (§11), and
// the pinger all use it.
//
// A chain specification is a list of remailer names or addresses in sending
// order, "*" standing for a remailer chosen at random (Parse reads the
// textual form "a,*,b"). Select fills the random entries: the exit first,
// then the other hops backwards from the next-to-last one to the first, each
// chosen uniformly among the remailers that pass the rules of §15.4 —
// reliability and latency limits from the pinger statistics (§15.2), the
// starex exclusion list, broken chains, the distance rule, and for the exit
// the middleman and news-posting rules. Hops the user named are kept as they
// are, even when they fail those rules; a name the key ring does not know is
// an error. Explain gives a person the account of which rules excluded
// which remailers.
//
// Section numbers (§) refer to docs/spec/mixmaster-type2.md.
package chain

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/packet"
)

// Defaults of Mixmaster's client configuration (§15.4).
const (
	DefaultMinRel   = 98.0            // MINREL: reliability (%) of a random intermediate hop
	DefaultRelFinal = 99.0            // RELFINAL: reliability (%) of a random exit
	DefaultMinLat   = 5 * time.Minute // MINLAT
	DefaultMaxLat   = 36 * time.Hour  // MAXLAT
	DefaultDistance = 2               // DISTANCE
	DefaultChain    = "*,*,*,*"       // CHAIN
	MaxEntries      = packet.MaxSlots // entries of a chain specification
	Random          = "*"             // a hop chosen at random
	minListed       = 4               // fewer statistics entries are not trusted (§15.2)
	maxRandomTries  = 64              // rejection-sampling bound (a draw is rejected with p < n/2⁶⁴)
	defaultRandSize = 8               // bytes read per random draw
)

// Stat is what the pinger statistics (mlist.txt, §15.2) say of a remailer.
type Stat struct {
	Reliability float64       // percent, 0–100
	Latency     time.Duration // average latency
	Known       bool          // false: the entry carries no data and counts as absent
}

// Options are the client settings that steer the random choice. The zero
// value means Mixmaster's defaults; for the numeric limits a zero field
// means the default and a negative one switches the limit off.
type Options struct {
	// MinRel is the reliability (%) a random intermediate hop needs and
	// RelFinal the one a random exit needs (defaults 98 and 99; negative:
	// no limit).
	MinRel, RelFinal float64
	// MinLat and MaxLat bound the latency of every random hop (defaults
	// 5 min and 36 h; negative: no limit).
	MinLat, MaxLat time.Duration
	// Distance: a random hop differs from every remailer up to Distance
	// positions away (default 2; negative: 0, no rule).
	Distance int
	// Exclude is the content of starex.txt, one entry per line or element:
	// a remailer is never chosen at random when its name occurs, compared
	// case-insensitively, as a substring of an entry (Mixmaster searches the
	// whole file for the name). Named hops are not affected.
	Exclude []string
	// Broken lists broken chains (§15.2) as (from, to) pairs of remailer
	// names; either may be "*" (any). Random hops never form a listed pair
	// with their neighbours. Names the key ring does not know are ignored.
	Broken [][2]string
	// Stats holds the statistics by remailer name (exact name first, then
	// compared case-insensitively). With nil there are no statistics and
	// the reliability and latency limits are not applied (Mixmaster would
	// read every latency as 0, so MINLAT would exclude every remailer).
	// With fewer than 4 remailers of the key ring listed (Known), every
	// reliability counts as 100 % as in Mixmaster; known latencies are
	// still checked, unknown ones are not. With 4 or more, a remailer
	// without statistics counts as 0 % and latency 0, as in Mixmaster.
	Stats map[string]Stat
	// Post: the message is posted to Usenet, so the exit needs the N
	// capability.
	Post bool
	// Dummy: the message is a dummy, so a middleman may be the exit.
	Dummy bool
	// Exit forces the exit (a name or address, as a chain entry), for the
	// copies and chunks of one message that must share their exit (§8.5):
	// select the first chain, then pass its exit's Name here. It replaces
	// a "*" at the end of the chain; a named last hop must be the same
	// remailer.
	Exit string
	// Relax: when no remailer passes the reliability and latency limits
	// for a random hop, drop those limits from that hop on instead of
	// failing, as a middleman re-routing a message does (§11 step 2;
	// Mixmaster's ignore_constraints_if_necessary). Other rules stay.
	Relax bool
	// Logf, when set, is told when Relax drops the limits.
	Logf func(format string, args ...any)
	// Rand supplies the randomness; crypto/rand.Reader when nil.
	Rand io.Reader
}

// limits are the resolved numeric settings; a negative maxLat means none.
type limits struct {
	minRel, relFinal float64
	minLat, maxLat   time.Duration
	distance         int
}

func (o *Options) limits() limits {
	l := limits{
		minRel:   pick(o.MinRel, DefaultMinRel),
		relFinal: pick(o.RelFinal, DefaultRelFinal),
		minLat:   pick(o.MinLat, DefaultMinLat),
		maxLat:   DefaultMaxLat,
		distance: pick(o.Distance, DefaultDistance),
	}
	switch {
	case o.MaxLat < 0:
		l.maxLat = -1
	case o.MaxLat > 0:
		l.maxLat = o.MaxLat
	}
	return l
}

// pick resolves a setting: zero means def, negative means 0 (no limit).
func pick[T int | float64 | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Errors; test with errors.Is. A *NoCandidateError also matches
// ErrNoCandidate; unknown remailers wrap keyring.ErrUnknownRemailer (or
// keyring.ErrNoValidKey) and chains too long for the header wrap
// packet.ErrChainTooLong.
var (
	ErrSyntax      = errors.New("chain: bad chain")
	ErrNoCandidate = errors.New("chain: no remailer qualifies")
	ErrNoKey       = errors.New("chain: remailer listed without its public key")
	ErrExit        = errors.New("chain: chain does not end at the required exit")
)

// Parse reads a chain specification: remailer names or addresses separated
// by ',' (also ';' or ':'), "*" for a random remailer, at most 20 entries,
// in sending order (the last one is the exit). Blanks around entries are
// ignored; "Name <addr>" stands for addr. An empty specification, an empty
// entry or one with blanks inside is an error (callers use DefaultChain when
// the user gave none).
func Parse(spec string) ([]string, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("%w: empty chain", ErrSyntax)
	}
	parts := splitAny(spec, ",;:")
	if len(parts) > MaxEntries {
		return nil, fmt.Errorf("%w: %d entries, at most %d", ErrSyntax, len(parts), MaxEntries)
	}
	out := make([]string, 0, len(parts))
	for i, p := range parts {
		e := strings.TrimSpace(p)
		if lt := strings.IndexByte(e, '<'); lt >= 0 {
			gt := strings.LastIndexByte(e, '>')
			if gt < lt {
				return nil, fmt.Errorf("%w: entry %d %q: unclosed <", ErrSyntax, i+1, e)
			}
			e = strings.TrimSpace(e[lt+1 : gt])
		}
		switch {
		case e == "":
			return nil, fmt.Errorf("%w: entry %d is empty in %q", ErrSyntax, i+1, spec)
		case strings.ContainsFunc(e, isSpace):
			return nil, fmt.Errorf("%w: entry %d %q contains a blank (separate entries with commas)", ErrSyntax, i+1, e)
		case strings.HasPrefix(e, Random) && e != Random:
			return nil, fmt.Errorf("%w: entry %d %q: \"*\" stands alone", ErrSyntax, i+1, e)
		}
		out = append(out, e)
	}
	return out, nil
}

func splitAny(s, seps string) []string {
	var out []string
	for {
		i := strings.IndexAny(s, seps)
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

// HasRandom reports whether spec has a random entry. Mixmaster refuses to
// send several copies or chunks through a chain of more than one hop
// without one (§8.5).
func HasRandom(spec []string) bool {
	for _, e := range spec {
		if e == Random {
			return true
		}
	}
	return false
}

// Reasons a remailer is not a candidate for a random hop: the keys of
// NoCandidateError.Excluded and Explanation.
const (
	ReasonNoKey       = "no-key"       // the key ring has no key for it (type2.list entry)
	ReasonStarex      = "starex"       // listed in Options.Exclude
	ReasonMiddleman   = "middleman"    // a middleman cannot be the exit of a non-dummy
	ReasonNoPost      = "no-post"      // exit of a post without the N capability
	ReasonNoStats     = "no-stats"     // not in the statistics (counts as 0 %, latency 0)
	ReasonReliability = "reliability"  // below MinRel (RelFinal for the exit)
	ReasonLatencyLow  = "latency-low"  // latency below MinLat
	ReasonLatencyHigh = "latency-high" // latency above MaxLat
	ReasonDistance    = "distance"     // the same remailer within Distance positions
	ReasonBroken      = "broken"       // a broken chain with a neighbour
	ReasonSlots       = "slots"        // its key needs more header slots than are left
)

// reasonOrder is the order reasons are checked in and reported.
var reasonOrder = []string{
	ReasonNoKey, ReasonStarex, ReasonMiddleman, ReasonNoPost, ReasonNoStats,
	ReasonReliability, ReasonLatencyLow, ReasonLatencyHigh,
	ReasonDistance, ReasonBroken, ReasonSlots,
}

// describe says what excluded count remailers, for a person.
func describe(reason string, count int, l limits, exit bool) string {
	rel := l.minRel
	if exit {
		rel = l.relFinal
	}
	switch reason {
	case ReasonNoKey:
		return fmt.Sprintf("%d without a public key", count)
	case ReasonStarex:
		return fmt.Sprintf("%d excluded (starex)", count)
	case ReasonMiddleman:
		if count == 1 {
			return "1 middleman"
		}
		return fmt.Sprintf("%d middlemen", count)
	case ReasonNoPost:
		return fmt.Sprintf("%d unable to post to Usenet", count)
	case ReasonNoStats:
		return fmt.Sprintf("%d without statistics", count)
	case ReasonReliability:
		return fmt.Sprintf("%d below %g%% reliability", count, rel)
	case ReasonLatencyLow:
		return fmt.Sprintf("%d with latency below %s", count, fmtDuration(l.minLat))
	case ReasonLatencyHigh:
		return fmt.Sprintf("%d with latency above %s", count, fmtDuration(l.maxLat))
	case ReasonDistance:
		return fmt.Sprintf("%d within distance %d", count, l.distance)
	case ReasonBroken:
		return fmt.Sprintf("%d in a broken chain with a neighbour", count)
	case ReasonSlots:
		return fmt.Sprintf("%d with a key too large for the header slots left", count)
	}
	return fmt.Sprintf("%d %s", count, reason)
}

// fmtDuration writes 36h, 5m or 1h30m rather than 36h0m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// NoCandidateError says that no remailer qualified for a random hop, and
// how many each rule excluded.
type NoCandidateError struct {
	Position   int            // 1-based position in sending order
	Hops       int            // length of the chain
	Exit       bool           // the hop is the exit
	Considered int            // remailers with a valid key in the key ring
	Excluded   map[string]int // Reason* → number of remailers it excluded
	Relaxed    bool           // reliability and latency limits were dropped (Options.Relax)
	limits     limits
}

func (e *NoCandidateError) Error() string {
	var b strings.Builder
	if e.Exit {
		fmt.Fprintf(&b, "chain: no remailer for the exit (hop %d of %d)", e.Position, e.Hops)
	} else {
		fmt.Fprintf(&b, "chain: no remailer for hop %d of %d", e.Position, e.Hops)
	}
	if e.Considered == 0 {
		b.WriteString(": the key ring has no remailer with a valid key")
		return b.String()
	}
	b.WriteString(": ")
	first := true
	for _, r := range reasonOrder {
		if n := e.Excluded[r]; n > 0 {
			if !first {
				b.WriteString(", ")
			}
			first = false
			b.WriteString(describe(r, n, e.limits, e.Exit))
		}
	}
	if first {
		fmt.Fprintf(&b, "none of %d remailers qualifies", e.Considered)
	}
	if e.Relaxed {
		b.WriteString(" (even without the reliability and latency limits)")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNoCandidate) true.
func (e *NoCandidateError) Is(target error) bool { return target == ErrNoCandidate }

// remailer is one remailer of the key ring as selection sees it.
type remailer struct {
	key       *keyring.PublicKey
	slots     int
	stat      Stat // zero unless listed
	listed    bool // Stats has a Known entry
	starex    bool
	candidate bool // may be chosen at random (false: found only by a named lookup)
}

// StatsMode says how the statistics are used.
type StatsMode int

const (
	// StatsNone: no statistics (Options.Stats nil); the reliability and
	// latency limits are not applied.
	StatsNone StatsMode = iota
	// StatsTooFew: fewer than 4 remailers of the key ring are listed;
	// every reliability counts as 100 %, known latencies are checked.
	StatsTooFew
	// StatsApplied: the limits are applied; unlisted remailers count as
	// 0 % reliable with latency 0.
	StatsApplied
)

// selector holds everything one selection needs.
type selector struct {
	rems    []*remailer
	lim     limits
	opt     *Options
	stats   StatsMode
	listed  int
	broken  brokenSet
	relaxed bool
}

// brokenSet is Options.Broken resolved to remailer indexes.
type brokenSet struct {
	pair    map[[2]int]bool // (a b)
	toAny   map[int]bool    // (a *): a may send to no remailer
	fromAny map[int]bool    // (* b): no remailer may send to b
}

// bad reports whether from → to is broken, for chosen remailers.
func (b *brokenSet) bad(from, to int) bool {
	return b.pair[[2]int{from, to}] || b.toAny[from] || b.fromAny[to]
}

// newSelector prepares the remailers valid at now.
func newSelector(pr *keyring.Pubring, now time.Time, opt *Options) *selector {
	s := &selector{lim: opt.limits(), opt: opt}
	var usable []*keyring.PublicKey
	if pr != nil {
		usable = pr.Usable(now)
	}
	lowerStats := make(map[string]Stat, len(opt.Stats))
	for name, st := range opt.Stats {
		lowerStats[strings.ToLower(name)] = st
	}
	lowerExcl := make([]string, len(opt.Exclude))
	for i, e := range opt.Exclude {
		lowerExcl[i] = strings.ToLower(e)
	}
	for _, k := range usable {
		r := &remailer{key: k, slots: k.Hop().Slots(), candidate: true}
		st, ok := opt.Stats[k.Name]
		if !ok {
			st, ok = lowerStats[strings.ToLower(k.Name)]
		}
		if ok && st.Known {
			r.stat, r.listed = st, true
			s.listed++
		}
		name := strings.ToLower(k.Name)
		for _, e := range lowerExcl {
			if name != "" && strings.Contains(e, name) {
				r.starex = true
				break
			}
		}
		s.rems = append(s.rems, r)
	}
	switch {
	case opt.Stats == nil:
		s.stats = StatsNone
	case s.listed < minListed:
		s.stats = StatsTooFew
	default:
		s.stats = StatsApplied
	}
	s.resolveBroken()
	return s
}

// resolveBroken turns the name pairs of Options.Broken into indexes.
func (s *selector) resolveBroken() {
	s.broken = brokenSet{pair: map[[2]int]bool{}, toAny: map[int]bool{}, fromAny: map[int]bool{}}
	find := func(name string) []int {
		var out []int
		for i, r := range s.rems {
			if strings.EqualFold(r.key.Name, name) {
				out = append(out, i)
			}
		}
		return out
	}
	for _, p := range s.opt.Broken {
		from, to := strings.TrimSpace(p[0]), strings.TrimSpace(p[1])
		switch {
		case from == Random && to == Random:
			// (* *) has no effect in Mixmaster either.
		case from == Random:
			for _, b := range find(to) {
				s.broken.fromAny[b] = true
			}
		case to == Random:
			for _, a := range find(from) {
				s.broken.toAny[a] = true
			}
		default:
			for _, a := range find(from) {
				for _, b := range find(to) {
					s.broken.pair[[2]int{a, b}] = true
				}
			}
		}
	}
}

// lookup finds the remailer a chain entry names: its name or address
// (case-insensitively), or "@domain" for the first remailer whose address
// contains it, as Mixmaster allows.
func (s *selector) lookup(pr *keyring.Pubring, entry string, now time.Time) (int, error) {
	if strings.HasPrefix(entry, "@") {
		d := strings.ToLower(entry)
		for i, r := range s.rems {
			if strings.Contains(strings.ToLower(r.key.Address), d) {
				return i, nil
			}
		}
		return 0, fmt.Errorf("%w %q (no address in the key ring contains it)", keyring.ErrUnknownRemailer, entry)
	}
	if pr == nil {
		return 0, fmt.Errorf("%w %q (no key ring)", keyring.ErrUnknownRemailer, entry)
	}
	k, err := pr.Lookup(entry, now)
	if err != nil {
		return 0, err
	}
	for i, r := range s.rems {
		if r.key == k {
			return i, nil
		}
	}
	// Lookup and Usable choose alike, so this only happens when the same
	// name is listed with several addresses; keep the key, but never as a
	// random choice.
	s.rems = append(s.rems, &remailer{key: k, slots: k.Hop().Slots()})
	return len(s.rems) - 1, nil
}

// staticReason says why r may not be the random exit (exit) or a random
// intermediate hop, by the rules that do not depend on its neighbours; ""
// when none excludes it. relaxed drops the reliability and latency limits.
func (s *selector) staticReason(r *remailer, exit, relaxed bool) string {
	switch {
	case r.key.Key == nil:
		return ReasonNoKey
	case r.starex:
		return ReasonStarex
	case exit && !s.opt.Dummy && r.key.Caps.Middleman():
		return ReasonMiddleman
	case exit && s.opt.Post && !r.key.Caps.News():
		return ReasonNoPost
	}
	if relaxed || s.stats == StatsNone {
		return ""
	}
	minRel := s.lim.minRel
	if exit {
		minRel = s.lim.relFinal
	}
	if !r.listed {
		if s.stats == StatsTooFew {
			return ""
		}
		// Mixmaster reads an unlisted remailer as 0 % and latency 0.
		if minRel > 0 || s.lim.minLat > 0 {
			return ReasonNoStats
		}
		return ""
	}
	rel := r.stat.Reliability
	if s.stats == StatsTooFew {
		rel = 100
	}
	switch {
	case rel < minRel:
		return ReasonReliability
	case r.stat.Latency < s.lim.minLat:
		return ReasonLatencyLow
	case s.lim.maxLat >= 0 && r.stat.Latency > s.lim.maxLat:
		return ReasonLatencyHigh
	}
	return ""
}

// candidates returns the remailers that may fill position h of back (the
// chain backwards: 0 is the exit, -1 an unfilled random hop), and the
// number each rule excluded.
func (s *selector) candidates(back []int, h int, relaxed bool) ([]int, map[string]int) {
	exit := h == 0
	excluded := make(map[string]int)
	var out []int
	for i, r := range s.rems {
		if !r.candidate {
			continue
		}
		reason := s.staticReason(r, exit, relaxed)
		if reason == "" && s.near(back, h, i) {
			reason = ReasonDistance
		}
		if reason == "" && s.brokenAt(back, h, i) {
			reason = ReasonBroken
		}
		if reason == "" && s.slotsWith(back, h, r.slots) > packet.MaxSlots {
			reason = ReasonSlots
		}
		if reason != "" {
			excluded[reason]++
			continue
		}
		out = append(out, i)
	}
	return out, excluded
}

// near reports whether remailer i already holds a position within the
// distance of h. For the exit Mixmaster looks only at the hops before it.
func (s *selector) near(back []int, h, i int) bool {
	d := s.lim.distance
	lo, hi := h-d, h+d
	if h == 0 {
		lo = 1
	}
	for k := max(lo, 0); k <= hi && k < len(back); k++ {
		if k != h && back[k] == i {
			return true
		}
	}
	return false
}

// brokenAt reports whether remailer i at position h would form a broken
// chain with its neighbours. An unfilled neighbour is "*": (* i) forbids i
// after any hop, (i *) forbids i before any hop, as in Mixmaster.
func (s *selector) brokenAt(back []int, h, i int) bool {
	n := len(back)
	if h > 0 {
		if s.broken.toAny[i] || s.broken.bad(i, back[h-1]) {
			return true
		}
	}
	if h+1 < n {
		prev := back[h+1]
		if prev < 0 {
			return s.broken.fromAny[i]
		}
		return s.broken.bad(prev, i)
	}
	return false
}

// slotsWith counts the header slots of the chain with a key of slots
// slots at position h, counting one slot for every other unfilled hop.
func (s *selector) slotsWith(back []int, h, slots int) int {
	total := slots
	for k, v := range back {
		switch {
		case k == h:
		case v < 0:
			total++
		default:
			total += s.rems[v].slots
		}
	}
	return total
}

// choose fills position h of back at random.
func (s *selector) choose(back []int, h int, rnd io.Reader) error {
	cands, excluded := s.candidates(back, h, s.relaxed)
	if len(cands) == 0 && s.opt.Relax && !s.relaxed && s.stats != StatsNone {
		s.relaxed = true
		if s.opt.Logf != nil {
			s.opt.Logf("chain: no reliable remailer for hop %d of %d; ignoring the reliability and latency limits", len(back)-h, len(back))
		}
		cands, excluded = s.candidates(back, h, true)
	}
	if len(cands) == 0 {
		considered := 0
		for _, r := range s.rems {
			if r.candidate {
				considered++
			}
		}
		return &NoCandidateError{
			Position:   len(back) - h,
			Hops:       len(back),
			Exit:       h == 0,
			Considered: considered,
			Excluded:   excluded,
			Relaxed:    s.relaxed,
			limits:     s.lim,
		}
	}
	j, err := uniform(rnd, len(cands))
	if err != nil {
		return err
	}
	back[h] = cands[j]
	return nil
}

// Select returns the chain for spec (names, addresses and "*", in sending
// order, as Parse returns them) using the keys of pubring valid at now, in
// sending order: the packet goes to the first, the last is the exit.
//
// Named hops are kept even when they fail the rules (the user asked for
// them); a name the key ring does not know wraps keyring.ErrUnknownRemailer.
// Random hops are chosen uniformly among the remailers that pass the rules
// of §15.4, the exit first, then backwards from the next-to-last hop; when
// none qualifies the error is a *NoCandidateError. Random hops also avoid
// keys too large for the header slots left; when the named hops alone
// cannot fit the error wraps packet.ErrChainTooLong.
func Select(pubring *keyring.Pubring, spec []string, now time.Time, opt Options) ([]*keyring.PublicKey, error) {
	if len(spec) == 0 {
		return nil, fmt.Errorf("%w: empty chain", ErrSyntax)
	}
	if len(spec) > MaxEntries {
		return nil, fmt.Errorf("%w: %d entries, at most %d", ErrSyntax, len(spec), MaxEntries)
	}
	s := newSelector(pubring, now, &opt)
	n := len(spec)
	back := make([]int, n) // back[0] is the exit
	for h := range back {
		entry := strings.TrimSpace(spec[n-1-h])
		back[h] = -1
		if entry == Random {
			continue
		}
		if entry == "" {
			return nil, fmt.Errorf("%w: entry %d is empty", ErrSyntax, n-h)
		}
		i, err := s.lookup(pubring, entry, now)
		if err != nil {
			return nil, fmt.Errorf("chain: hop %d: %w", n-h, err)
		}
		if s.rems[i].key.Key == nil {
			return nil, fmt.Errorf("%w: %s (hop %d)", ErrNoKey, s.rems[i].key.Name, n-h)
		}
		back[h] = i
	}
	if x := strings.TrimSpace(opt.Exit); x != "" {
		i, err := s.lookup(pubring, x, now)
		if err != nil {
			return nil, fmt.Errorf("chain: exit: %w", err)
		}
		if s.rems[i].key.Key == nil {
			return nil, fmt.Errorf("%w: %s (the exit)", ErrNoKey, s.rems[i].key.Name)
		}
		switch back[0] {
		case -1:
			back[0] = i
		case i:
		default:
			return nil, fmt.Errorf("%w: the chain ends at %s, the message's exit is %s",
				ErrExit, s.rems[back[0]].key.Name, s.rems[i].key.Name)
		}
	}
	if need := s.slotsWith(back, -1, 0); need > packet.MaxSlots {
		return nil, fmt.Errorf("chain: %w: the named hops and one slot for each random hop make %d slots",
			packet.ErrChainTooLong, need)
	}
	rnd := opt.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	for h := range back {
		if back[h] >= 0 {
			continue
		}
		if err := s.choose(back, h, rnd); err != nil {
			return nil, err
		}
	}
	out := make([]*keyring.PublicKey, n)
	for h, i := range back {
		out[n-1-h] = s.rems[i].key
	}
	return out, nil
}

// uniform returns a uniform random number in [0, n) from rnd, by rejection
// sampling on 64-bit draws (no modulo bias).
func uniform(rnd io.Reader, n int) (int, error) {
	if n <= 0 {
		return 0, errors.New("chain: uniform: empty range")
	}
	m := uint64(n)
	rem := (math.MaxUint64%m + 1) % m // 2⁶⁴ mod m
	var b [defaultRandSize]byte
	for range maxRandomTries {
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return 0, fmt.Errorf("chain: reading randomness: %w", err)
		}
		v := binary.BigEndian.Uint64(b[:])
		if rem == 0 || v <= math.MaxUint64-rem {
			return int(v % m), nil
		}
	}
	return 0, errors.New("chain: the random source keeps returning out-of-range values")
}
