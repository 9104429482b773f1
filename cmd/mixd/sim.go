package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mixgo/mixgo/internal/sim"
)

// cmdSim runs the anonymity simulator behind docs/ANONYMITY.md: every
// strategy of the grid on every trace through the real pool store, then
// the n−1 attack, and prints the tables as Markdown.
func cmdSim(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mixd sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "short traces and few attack trials (a smoke run of a few minutes)")
	days := fs.Int("days", 10, "days of traffic measured per trace (after 2 days of warm-up)")
	seed := fs.Uint64("seed", 1, "seed of the traces and of the pools' randomness")
	trials := fs.Int("trials", 20, "n−1 attack trials per strategy")
	workers := fs.Int("workers", 0, "runs at once (0 = one per CPU)")
	tmp := fs.String("tmp", "", "`directory` for the runs' store files (default /dev/shm if present)")
	svg := fs.String("svg", "", "write the entropy–latency plot to `FILE`")
	what := fs.String("run", "all", "what to run: passive, flood or all")
	verbose := fs.Bool("v", false, "print each run as it finishes (stderr)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *what != "all" && *what != "passive" && *what != "flood" {
		return fmt.Errorf("%w: --run is passive, flood or all", errUsage)
	}
	setup := sim.DefaultSetup()
	setup.Seed = *seed
	setup.Measure = time.Duration(*days) * 24 * time.Hour
	flood := sim.DefaultFlood()
	flood.Seed, flood.Trials = *seed, *trials
	if *quick {
		setup.Warmup, setup.Measure, setup.Tail = 24*time.Hour, 48*time.Hour, 48*time.Hour
		flood.Trials = min(flood.Trials, 4)
	}
	if setup.Measure <= 0 || flood.Trials <= 0 {
		return fmt.Errorf("%w: --days and --trials must be positive", errUsage)
	}
	start := time.Now()
	fmt.Fprintf(stdout, "<!-- mixd sim %s: seed %d, warm-up %v, measured %v, tail %v; %d n-1 trials -->\n",
		strings.Join(args, " "), setup.Seed, setup.Warmup, setup.Measure, setup.Tail, flood.Trials)
	if *what != "flood" {
		traces := setup.Traces()
		progress := func(r sim.Result) {
			if *verbose {
				fmt.Fprintf(stderr, "%-28s %-14s %-22s latency %-8s H %.2f (min %.2f)\n", r.Trace, r.Spec.Family, r.Spec.Label,
					r.MeanLatency.Round(time.Minute), r.MeanEntropy, r.MinEntropy)
			}
		}
		results, err := sim.Sweep(traces, sim.Grid(), setup.Options(*tmp), *workers, progress)
		if err != nil {
			return err
		}
		if err := sim.WriteResults(stdout, traces, results); err != nil {
			return err
		}
		if *svg != "" {
			f, err := os.Create(*svg)
			if err != nil {
				return err
			}
			marks := []sim.Marked{{Spec: sim.Mixmaster(), Name: "Mixmaster's default", Color: "black"}, {Spec: sim.Chosen(), Name: "mixgo's default", Color: "red"}}
			if err := sim.PlotSVG(f, traces, results, marks); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
	if *what != "passive" {
		specs := []sim.Spec{sim.Mixmaster(), sim.BinomialSpec(45, 15, 65, 15*time.Minute), sim.PoissonSpec(time.Hour, 0, time.Minute),
			sim.PoissonSpec(30*time.Minute, 45, 15*time.Minute), sim.Chosen()}
		var out []sim.FloodResult
		for _, f := range []sim.FloodSetup{flood, flood.WithMixmasterDummies()} {
			for _, s := range specs {
				r, err := sim.Flood(s, f, *tmp)
				if err != nil {
					return err
				}
				if *verbose {
					fmt.Fprintf(stderr, "n-1 %-14s %-16s dummies=%v H %.2f\n", s.Family, s.Label, r.Dummies, r.Entropy)
				}
				out = append(out, r)
			}
		}
		if err := sim.WriteFlood(stdout, flood, out); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "mixd sim: done in %v\n", time.Since(start).Round(time.Second))
	return nil
}
