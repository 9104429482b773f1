package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mixgo/mixgo/internal/chain"
	"github.com/mixgo/mixgo/internal/client"
	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/packet"
)

// cmdList prints the known remailers with their statistics.
func cmdList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("mix list", stderr)
	sf := addSelFlags(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: mix list [--dir DIR | --pubring FILE [--stats FILE]] [--minrel P] [--relfinal P] [--minlat D] [--maxlat D]", errUsage)
	}
	s, err := sf.load(time.Now())
	if err != nil {
		return err
	}
	s.warn(stderr)
	return s.sel.WriteTable(stdout)
}

// cmdChain prints the chain 'mix send' would choose, and why, without
// sending anything.
func cmdChain(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("mix chain", stderr)
	sf := addSelFlags(fs, true)
	newsgroups := fs.Bool("post", false, "the message is posted to Usenet (as with 'mix send --newsgroups')")
	size := fs.Int64("size", 0, "the message's size in `bytes`, for the exits' size limits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: mix chain [--chain A,*,B | --hops N] [--copies N] [--post] [--size BYTES] [limits]", errUsage)
	}
	now := time.Now()
	s, err := sf.load(now)
	if err != nil {
		return err
	}
	s.warn(stderr)
	m := client.Message{Post: *newsgroups, Size: *size}
	// A rough bound: beyond 255 full packets only compression helps.
	m.NeedCompress = *size > packet.MaxChunks*packet.MaxChunkData
	chains, err := client.NewChains(s.sel, s.spec, m, s.settings.Copies)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Chain %s: %d hops, %d cop%s.\n", strings.Join(s.spec, ","), len(s.spec), s.settings.Copies, plural(s.settings.Copies, "y", "ies"))
	var chooseErr error
	for i := range s.settings.Copies {
		ch, err := chains.Next()
		if err != nil {
			chooseErr = explainErr(err)
			break
		}
		fmt.Fprintf(&b, "Copy %d: %s\n", i+1, client.Names(ch))
		if i == 0 {
			describeHops(&b, s, ch, m)
		}
	}
	if chooseErr != nil {
		fmt.Fprintf(&b, "No chain: %s\n", chooseErr)
	}
	b.WriteString("\n")
	b.WriteString(chain.Explain(s.sel.Pubring, now, s.sel.Options(m)).String())
	if u := s.sel.Unfit(m); len(u) > 0 {
		for _, r := range []string{client.UnfitSize, client.UnfitCompress} {
			if names := u[r]; len(names) > 0 {
				what := map[string]string{client.UnfitSize: "size limit (klen) below the message", client.UnfitCompress: "no compression, which the message needs"}[r]
				fmt.Fprintf(&b, "Not an exit for this message, %s: %s\n", what, strings.Join(names, ", "))
			}
		}
	}
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		return err
	}
	return chooseErr
}

// describeHops says for each hop of ch whether it was named or random and
// what the statistics say of it.
func describeHops(b *strings.Builder, s *selection, ch []*keyring.PublicKey, m client.Message) {
	e := chain.Explain(s.sel.Pubring, s.sel.Now, s.sel.Options(m))
	verdicts := make(map[*keyring.PublicKey]chain.RemailerVerdict)
	for _, v := range e.Remailers {
		for _, k := range ch {
			if strings.EqualFold(k.Name, v.Name) && strings.EqualFold(k.Address, v.Address) {
				verdicts[k] = v
			}
		}
	}
	stats := client.ChainStats(s.sel.Stats)
	for i, k := range ch {
		exit := i == len(ch)-1
		role := "hop"
		if exit {
			role = "exit"
		}
		fmt.Fprintf(b, "  %d %-12s %-4s ", i+1, k.Name, role)
		if st, ok := stats[k.Name]; ok {
			fmt.Fprintf(b, "%5.1f%% %6s  ", st.Reliability, fmtLat(st.Latency))
		} else {
			fmt.Fprintf(b, "%6s %6s  ", "-", "-")
		}
		if s.spec[i] == chain.Random {
			b.WriteString("random")
		} else {
			b.WriteString("named")
			reason := verdicts[k].HopReason
			if exit {
				reason = verdicts[k].ExitReason
			}
			if reason != "" {
				fmt.Fprintf(b, " (would not be chosen at random: %s)", reason)
			}
		}
		b.WriteString("\n")
	}
}

// fmtLat writes h:mm.
func fmtLat(d time.Duration) string {
	if d < 0 || d >= 100*time.Hour {
		return "-"
	}
	return fmt.Sprintf("%d:%02d", d/time.Hour, (d%time.Hour)/time.Minute)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
