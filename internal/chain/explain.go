package chain

import (
	"fmt"
	"strings"
	"time"

	"github.com/mixgo/mixgo/keyring"
)

// Explanation is Explain's account of the random choice: for every remailer
// with a key valid at the time, whether it may be the random exit and a
// random intermediate hop, and if not which rule excluded it. The rules
// that depend on the neighbours of a hop (distance, broken chains, header
// slots) are not applied here; String states them.
type Explanation struct {
	Remailers []RemailerVerdict // in key-ring order
	Stats     StatsMode
	Listed    int   // remailers with statistics (Known)
	Exit      Stage // the random exit
	Hop       Stage // a random intermediate hop
	Distance  int
	Broken    [][2]string // Options.Broken as given
	Post      bool
	Dummy     bool
	limits    limits
}

// RemailerVerdict is one remailer of an Explanation.
type RemailerVerdict struct {
	Name, Address string
	Caps          keyring.Caps
	Bits          int
	Stat          Stat // zero when not listed
	Listed        bool
	ExitReason    string // Reason* that excludes it as random exit; "" if eligible
	HopReason     string // Reason* that excludes it as random intermediate hop; "" if eligible
}

// Stage is the outcome of the rules for one kind of random hop.
type Stage struct {
	Excluded map[string][]string // Reason* → names it excluded, in key-ring order
	Left     []string            // names of the remailers left
}

// Explain applies the rules of opt to the remailers of pubring valid at now
// and reports which rule excluded which remailer and what was left, for
// `mix chain`. Each remailer is counted under the first rule that excludes
// it, in the order of the Reason constants.
func Explain(pubring *keyring.Pubring, now time.Time, opt Options) *Explanation {
	s := newSelector(pubring, now, &opt)
	e := &Explanation{
		Stats:    s.stats,
		Listed:   s.listed,
		Exit:     Stage{Excluded: map[string][]string{}},
		Hop:      Stage{Excluded: map[string][]string{}},
		Distance: s.lim.distance,
		Broken:   opt.Broken,
		Post:     opt.Post,
		Dummy:    opt.Dummy,
		limits:   s.lim,
	}
	for _, r := range s.rems {
		v := RemailerVerdict{
			Name:       r.key.Name,
			Address:    r.key.Address,
			Caps:       r.key.Caps,
			Bits:       r.key.Bits(),
			Stat:       r.stat,
			Listed:     r.listed,
			ExitReason: s.staticReason(r, true, false),
			HopReason:  s.staticReason(r, false, false),
		}
		e.Remailers = append(e.Remailers, v)
		for _, st := range []struct {
			stage  *Stage
			reason string
		}{{&e.Exit, v.ExitReason}, {&e.Hop, v.HopReason}} {
			if st.reason == "" {
				st.stage.Left = append(st.stage.Left, v.Name)
			} else {
				st.stage.Excluded[st.reason] = append(st.stage.Excluded[st.reason], v.Name)
			}
		}
	}
	return e
}

// String renders the explanation for a person.
func (e *Explanation) String() string {
	var b strings.Builder
	switch e.Stats {
	case StatsNone:
		fmt.Fprintf(&b, "Statistics: none; reliability and latency limits are not applied.\n")
	case StatsTooFew:
		fmt.Fprintf(&b, "Statistics: only %d of %d remailers listed (fewer than %d); every remailer counts as 100%% reliable, known latencies are checked.\n",
			e.Listed, len(e.Remailers), minListed)
	default:
		fmt.Fprintf(&b, "Statistics: %d of %d remailers listed; reliability and latency limits are applied.\n",
			e.Listed, len(e.Remailers))
	}
	if len(e.Remailers) == 0 {
		b.WriteString("The key ring has no remailer with a valid key.\n")
		return b.String()
	}
	byName := make(map[string]RemailerVerdict, len(e.Remailers))
	for _, v := range e.Remailers {
		byName[v.Name] = v
	}
	stage := func(title string, st Stage, exit bool) {
		var rules []string
		if e.Stats != StatsNone {
			rel := e.limits.minRel
			if exit {
				rel = e.limits.relFinal
			}
			rules = append(rules, fmt.Sprintf("reliability ≥ %g%%", rel))
			lat := "latency ≥ " + fmtDuration(e.limits.minLat)
			if e.limits.maxLat >= 0 {
				lat = fmt.Sprintf("latency %s–%s", fmtDuration(e.limits.minLat), fmtDuration(e.limits.maxLat))
			}
			rules = append(rules, lat)
		}
		rules = append(rules, "not in starex")
		if exit && !e.Dummy {
			rules = append(rules, "no middleman")
		}
		if exit && e.Post {
			rules = append(rules, "able to post")
		}
		fmt.Fprintf(&b, "%s (%s):\n", title, strings.Join(rules, ", "))
		for _, r := range reasonOrder {
			names := st.Excluded[r]
			if len(names) == 0 {
				continue
			}
			shown := make([]string, len(names))
			for i, n := range names {
				shown[i] = n + detail(r, byName[n])
			}
			fmt.Fprintf(&b, "  %s: %s\n", describe(r, len(names), e.limits, exit), strings.Join(shown, ", "))
		}
		fmt.Fprintf(&b, "  %d left: %s\n", len(st.Left), strings.Join(st.Left, ", "))
	}
	stage("Random exit", e.Exit, true)
	stage("Random intermediate hop", e.Hop, false)
	fmt.Fprintf(&b, "Besides, a random hop differs from the remailers up to %d positions away", e.Distance)
	if len(e.Broken) > 0 {
		pairs := make([]string, len(e.Broken))
		for i, p := range e.Broken {
			pairs[i] = "(" + p[0] + " " + p[1] + ")"
		}
		fmt.Fprintf(&b, ", forms no broken chain with its neighbours: %s,", strings.Join(pairs, " "))
	}
	b.WriteString(" and fits the header slots left (20; keys over 1024 bits take two).\n")
	return b.String()
}

// detail adds the figure that made a rule exclude v.
func detail(reason string, v RemailerVerdict) string {
	switch reason {
	case ReasonReliability:
		return fmt.Sprintf(" (%.2f%%)", v.Stat.Reliability)
	case ReasonLatencyLow, ReasonLatencyHigh:
		return " (" + fmtDuration(v.Stat.Latency) + ")"
	}
	return ""
}
