package sim

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"time"
)

// hours prints a duration as 1h37m or 25m.
func hours(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Hour {
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// WriteResults writes the sweep's results as Markdown tables, one per
// trace, then the comparison at Mixmaster's latency.
func WriteResults(out io.Writer, traces []Trace, results []Result) error {
	w := bufio.NewWriter(out)
	mm, ch := Mixmaster(), Chosen()
	for _, tr := range traces {
		fmt.Fprintf(w, "\n#### %s\n\n", tr.Name)
		fmt.Fprintln(w, "| strategy | parameters | messages | mean latency | p95 latency | H mean | H p5 | H min | bound | unfinished |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, cv := range Curves {
			for _, r := range Curve(results, tr.Name, cv) {
				bound := "–"
				if tr.Steady {
					bound = fmt.Sprintf("%.2f", Bound(r.PerHour, r.MeanLatency))
				}
				name := r.Spec.Family
				if same(r.Spec, mm) {
					name += " (Mixmaster)"
				}
				if same(r.Spec, ch) {
					name += " (**default**)"
				}
				fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %.2f | %.2f | %.2f | %s | %d |\n", name, r.Spec.Label, r.Measured,
					hours(r.MeanLatency), hours(r.P95Latency), r.MeanEntropy, r.P5Entropy, r.MinEntropy, bound, r.Unfinished)
			}
		}
	}
	fmt.Fprint(w, "\n#### At Mixmaster's mean latency\n\n")
	fmt.Fprint(w, "Each curve's mean entropy interpolated (in log latency) at the latency Mixmaster's default has on the trace, and the difference; – where the curve does not reach it.\n\n")
	fmt.Fprint(w, "| trace | Mixmaster: latency | H | bound |")
	for _, cv := range Curves[1:] {
		fmt.Fprintf(w, " %s |", cv)
	}
	fmt.Fprintln(w, " default: latency | H | H min |")
	fmt.Fprint(w, "|---|---:|---:|---:|")
	for range Curves[1:] {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w, "---:|---:|---:|")
	for _, tr := range traces {
		ref, ok := find(results, tr.Name, mm)
		if !ok {
			continue
		}
		bound := "–"
		if tr.Steady {
			bound = fmt.Sprintf("%.2f", Bound(ref.PerHour, ref.MeanLatency))
		}
		fmt.Fprintf(w, "| %s | %s | %.2f | %s |", tr.Name, hours(ref.MeanLatency), ref.MeanEntropy, bound)
		for _, cv := range Curves[1:] {
			if h, ok := EntropyAt(Curve(results, tr.Name, cv), ref.MeanLatency); ok {
				fmt.Fprintf(w, " %.2f (%+.2f) |", h, h-ref.MeanEntropy)
			} else {
				fmt.Fprint(w, " – |")
			}
		}
		if d, ok := find(results, tr.Name, ch); ok {
			fmt.Fprintf(w, " %s | %.2f | %.2f |", hours(d.MeanLatency), d.MeanEntropy, d.MinEntropy)
		} else {
			fmt.Fprint(w, " – | – | – |")
		}
		fmt.Fprintln(w)
	}
	return w.Flush()
}

func same(a, b Spec) bool { return a.Family == b.Family && a.Label == b.Label }

func find(results []Result, trace string, s Spec) (Result, bool) {
	for _, r := range results {
		if r.Trace == trace && same(r.Spec, s) {
			return r, true
		}
	}
	return Result{}, false
}

// WriteFlood writes the n−1 attack's results as a Markdown table.
func WriteFlood(out io.Writer, f FloodSetup, results []FloodResult) error {
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "\n%d trials each; honest traffic %g/h before the attack, attacker flood %g messages/h (none against the pure Poisson mix), dummies as Mixmaster's operators set them (%g/h at the rounds, INDUMMYP %d).\n\n",
		f.Trials, f.Honest, f.PerHour, f.WithMixmasterDummies().OutDummiesPerHour, f.WithMixmasterDummies().InDummy)
	fmt.Fprintln(w, "| strategy | parameters | dummies | time to flush | attack time | attacker messages | H of the target | H min | attacker's best guess right | gave up |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		d := "no"
		if r.Dummies {
			d = "yes"
		}
		minH := r.MinEntropy
		if math.IsInf(minH, 0) {
			minH = 0
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.0f | %.2f | %.2f | %.0f %% | %d |\n", r.Spec.Family, r.Spec.Label, d,
			hours(r.Flush), hours(r.Duration), r.Messages, r.Entropy, minH, 100*r.Hit, r.GaveUp)
	}
	return w.Flush()
}
