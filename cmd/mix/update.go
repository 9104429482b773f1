package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mixgo/mixgo/internal/client"
)

// cmdUpdate fetches the remailer lists into the client directory.
func cmdUpdate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("mix update", stderr)
	df := addDirFlags(fs, false)
	from := fs.String("from", "", "a pinger's `URL` (http:// or https://, the directory it publishes) or a local directory (default \"source\" of mix.conf, else the last source)")
	verbose := fs.Bool("verbose", false, "say what was fetched, and the entries skipped")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: mix update [--from URL|DIR] [--dir DIR]", errUsage)
	}
	dir, err := df.clientDir()
	if err != nil {
		return err
	}
	st, err := client.LoadSettings(dir)
	if err != nil {
		return err
	}
	src := *from
	if src == "" {
		src = st.Source
	}
	if src == "" {
		src = client.LastSource(dir)
	}
	if src == "" {
		return fmt.Errorf("%w: no source yet: give --from URL or --from DIR", errUsage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	set, err := client.Update(ctx, dir, src, nil)
	if err != nil {
		return fmt.Errorf("update from %s failed, the previous lists are kept: %w", src, err)
	}
	if w := client.StaleWarning(set.Stats, time.Now(), st.MaxAge); w != "" {
		fmt.Fprintf(stderr, "mix: warning: %s\n", w)
	}
	if *verbose {
		for _, p := range set.Problems {
			fmt.Fprintf(stdout, "skipped: %s\n", joinLines(p))
		}
		t2 := "no type2.list"
		if set.Type2 > 0 {
			t2 = fmt.Sprintf("%d lines of type2.list", set.Type2)
		}
		fmt.Fprintf(stdout, "updated %s from %s: %d keys, %s, statistics of %d remailers (%s)\n",
			dir, src, set.Keys, t2, len(set.Stats.Rows), set.StatsFile)
	}
	return nil
}
