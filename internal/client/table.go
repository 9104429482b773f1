package client

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mixgo/mixgo/internal/chain"
	"github.com/mixgo/mixgo/pinger"
)

// WriteTable writes `mix list`: one line per remailer with a valid key (and
// per statistics entry without one), sorted by name: address, capabilities,
// key size, latency and reliability from the statistics, and whether it may
// be chosen as a random exit and a random intermediate hop under the
// settings, or the rule that excludes it.
func (s *Selector) WriteTable(w io.Writer) error {
	opt := s.Options(Message{})
	e := chain.Explain(s.Pubring, s.Now, opt)
	var b strings.Builder
	b.WriteString(s.statsLine())
	b.WriteByte('\n')
	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "name\taddress\tcaps\tkey\tlatency\tuptime\trandom exit\trandom hop\t")
	verdicts := slices.Clone(e.Remailers)
	slices.SortStableFunc(verdicts, func(a, b chain.RemailerVerdict) int { return strings.Compare(a.Name, b.Name) })
	seen := make(map[string]bool)
	for _, v := range verdicts {
		seen[strings.ToLower(v.Name)] = true
		lat, up := "-", "-"
		if v.Listed {
			lat, up = fmtLatency(v.Stat.Latency), fmt.Sprintf("%.1f%%", v.Stat.Reliability)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", v.Name, v.Address, orDash(string(v.Caps)), v.Bits,
			lat, up, verdict(v.ExitReason), verdict(v.HopReason))
	}
	if s.Stats != nil {
		var rows []pinger.Row
		for _, r := range s.Stats.Rows {
			if !seen[strings.ToLower(r.Name)] {
				rows = append(rows, r)
			}
		}
		slices.SortFunc(rows, func(a, b pinger.Row) int { return strings.Compare(a.Name, b.Name) })
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\t%.1f%%\tno key\tno key\t\n", r.Name, fmtLatency(r.Latency), r.Uptime)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// statsLine says where the statistics come from and which limits apply.
func (s *Selector) statsLine() string {
	if s.Stats == nil {
		return "No statistics: random hops are chosen without reliability or latency limits."
	}
	when := "undated"
	if !s.Stats.Generated.IsZero() {
		when = "generated " + s.Stats.Generated.Format(time.RFC1123) + ", " + roundAge(s.Now.Sub(s.Stats.Generated)) + " ago"
	}
	st := s.Settings
	lim := fmt.Sprintf("reliability ≥ %g%% (exit ≥ %g%%), latency %s–%s", st.MinRel, st.RelFinal, fmtLimit(st.MinLat), fmtLimit(st.MaxLat))
	return fmt.Sprintf("Statistics %s (%d remailers); limits: %s.", when, len(s.Stats.Rows), lim)
}

func fmtLimit(d time.Duration) string {
	if d == 0 {
		return "any"
	}
	t := d.String()
	if strings.HasSuffix(t, "m0s") {
		t = strings.TrimSuffix(t, "0s")
	}
	if strings.HasSuffix(t, "h0m") {
		t = strings.TrimSuffix(t, "0m")
	}
	return t
}

// fmtLatency writes h:mm as the statistics do.
func fmtLatency(d time.Duration) string {
	if d < 0 || d >= 100*time.Hour {
		return "-"
	}
	return fmt.Sprintf("%d:%02d", d/time.Hour, (d%time.Hour)/time.Minute)
}

func verdict(reason string) string {
	if reason == "" {
		return "yes"
	}
	return "no: " + reason
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
