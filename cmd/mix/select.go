package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mixgo/mixgo/internal/chain"
	"github.com/mixgo/mixgo/internal/client"
	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/pinger"
)

// dirFlags are the flags naming where the client's lists and settings are.
type dirFlags struct {
	dir, pubring, stats string
}

func addDirFlags(fs *flag.FlagSet, withRing bool) *dirFlags {
	f := &dirFlags{}
	fs.StringVar(&f.dir, "dir", "", "client `directory` (default $"+client.EnvDir+", else ~/.mix)")
	if withRing {
		fs.StringVar(&f.pubring, "pubring", "", "use this pubring.mix `file` instead of the client directory's (statistics then only from --stats)")
		fs.StringVar(&f.stats, "stats", "", "statistics `file` (mlist2.txt or mlist.txt) instead of the client directory's")
	}
	return f
}

// clientDir resolves the client directory.
func (f *dirFlags) clientDir() (string, error) {
	if f.dir != "" {
		return f.dir, nil
	}
	return client.DefaultDir()
}

// selFlags are the flags steering chain selection, shared by send, chain
// and list. Their defaults are the settings' defaults; mix.conf and then
// flags given on the command line override them.
type selFlags struct {
	fs *flag.FlagSet
	*dirFlags
	chainSpec string
	hops      int
	copies    int
	minRel    float64
	relFinal  float64
	minLat    time.Duration
	maxLat    time.Duration
	distance  int
	maxAge    time.Duration
	exclude   listFlag
}

func addSelFlags(fs *flag.FlagSet, withChain bool) *selFlags {
	d := client.DefaultSettings()
	f := &selFlags{fs: fs, dirFlags: addDirFlags(fs, true)}
	if withChain {
		fs.StringVar(&f.chainSpec, "chain", "", "remailers in sending order, by name or address, separated by commas; * for a random one (default \"chain\" of mix.conf, "+d.Chain+")")
		fs.IntVar(&f.hops, "hops", 0, "a chain of `n` random remailers (instead of --chain)")
		fs.IntVar(&f.copies, "copies", d.Copies, "send `n` copies through independent chains sharing the exit")
	}
	fs.Float64Var(&f.minRel, "minrel", d.MinRel, "reliability (`percent`) a random intermediate hop needs (0: no limit)")
	fs.Float64Var(&f.relFinal, "relfinal", d.RelFinal, "reliability (`percent`) a random exit needs (0: no limit)")
	fs.DurationVar(&f.minLat, "minlat", d.MinLat, "smallest latency of a random hop (0: no limit)")
	fs.DurationVar(&f.maxLat, "maxlat", d.MaxLat, "largest latency of a random hop (0: no limit)")
	fs.IntVar(&f.distance, "distance", d.Distance, "a random hop differs from the remailers up to `n` positions away")
	fs.DurationVar(&f.maxAge, "max-age", d.MaxAge, "warn when the statistics are older than this (0: never)")
	fs.Var(&f.exclude, "exclude", "never choose this `remailer` at random (repeatable; adds to starex.txt)")
	return f
}

// selection is everything a command needs to choose chains.
type selection struct {
	sel      *client.Selector
	settings client.Settings
	spec     []string
	dir      string   // "" when --pubring replaces the client directory
	warnings []string // for stderr
	problems []string // skipped entries, for --verbose
}

// load reads settings, lists and the chain specification.
func (f *selFlags) load(now time.Time) (*selection, error) {
	given := make(map[string]bool)
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	s := &selection{settings: client.DefaultSettings()}
	// --pubring without --dir is the self-contained form: no client
	// directory is read at all.
	if f.pubring == "" || f.dir != "" {
		dir, err := f.clientDir()
		if err != nil {
			return nil, err
		}
		s.dir = dir
		if s.settings, err = client.LoadSettings(dir); err != nil {
			return nil, err
		}
	}
	st := &s.settings
	if given["copies"] {
		st.Copies = f.copies
	}
	if given["minrel"] {
		st.MinRel = f.minRel
	}
	if given["relfinal"] {
		st.RelFinal = f.relFinal
	}
	if given["minlat"] {
		st.MinLat = f.minLat
	}
	if given["maxlat"] {
		st.MaxLat = f.maxLat
	}
	if given["distance"] {
		st.Distance = f.distance
	}
	if given["max-age"] {
		st.MaxAge = f.maxAge
	}
	if err := st.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}

	var ring *keyring.Pubring
	var stats *pinger.List
	if f.pubring != "" {
		r, err := loadPubring(f.pubring)
		if err != nil {
			return nil, err
		}
		ring = r
	} else {
		set, err := client.Load(s.dir)
		if err != nil {
			return nil, err
		}
		ring, stats, s.problems = set.Pubring, set.Stats, set.Problems
		if stats == nil && f.stats == "" {
			s.warnings = append(s.warnings, "no statistics in "+s.dir+": random hops are chosen without reliability or latency limits (run 'mix update')")
		}
	}
	if f.stats != "" {
		l, err := client.LoadStats(f.stats)
		if err != nil {
			return nil, err
		}
		stats = l
	}
	if w := client.StaleWarning(stats, now, st.MaxAge); w != "" {
		s.warnings = append(s.warnings, w)
	}
	var exclude []string
	if s.dir != "" {
		var err error
		if exclude, err = client.LoadStarex(s.dir); err != nil {
			return nil, err
		}
	}
	exclude = append(exclude, f.exclude...)

	switch {
	case f.chainSpec != "" && given["hops"]:
		return nil, fmt.Errorf("%w: give --chain or --hops, not both", errUsage)
	case given["hops"]:
		spec, err := client.HopsSpec(f.hops)
		if err != nil {
			return nil, err
		}
		s.spec = spec
	default:
		text := f.chainSpec
		if text == "" {
			text = st.Chain
		}
		spec, err := chain.Parse(text)
		if err != nil {
			return nil, err
		}
		s.spec = spec
	}
	s.sel = &client.Selector{Pubring: ring, Stats: stats, Settings: *st, Exclude: exclude, Now: now, Rand: randReader}
	return s, nil
}

// warn writes the warnings, one line each.
func (s *selection) warn(stderr io.Writer) {
	for _, w := range s.warnings {
		fmt.Fprintf(stderr, "mix: warning: %s\n", w)
	}
}

func loadPubring(path string) (*keyring.Pubring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading pubring: %w", err)
	}
	keys, errs := keyring.ParsePubring(data)
	if len(keys) == 0 {
		if len(errs) > 0 {
			return nil, fmt.Errorf("pubring %s: %w", path, errs[0])
		}
		return nil, fmt.Errorf("pubring %s holds no key", path)
	}
	return keyring.NewPubring(keys), nil
}

// explainErr adds what a person can do about a selection error.
func explainErr(err error) error {
	switch {
	case errors.Is(err, keyring.ErrUnknownRemailer):
		return fmt.Errorf("%w ('mix list' shows the remailers known; 'mix update' fetches new lists)", err)
	case errors.Is(err, chain.ErrNoCandidate):
		return fmt.Errorf("%w (lower the limits with --minrel, --relfinal, --maxlat, --minlat or --distance, or run 'mix update')", err)
	}
	return err
}

// joinLines keeps an error on one line.
func joinLines(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
