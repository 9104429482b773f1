package client

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mixgo/mixgo/internal/chain"
	"github.com/mixgo/mixgo/keyring"
)

// selector loads the fixture with the v2 (mlist2.txt) or v1 (mlist.txt)
// statistics.
func selector(t *testing.T, v1 bool) *Selector {
	t.Helper()
	f := getFixture(t)
	files := map[string][]byte{FilePubring: f.pubring, FileType2: f.type2, FileMlist2: f.mlist2}
	if v1 {
		delete(files, FileMlist2)
		files[FileMlist] = f.mlist
	}
	set, err := ParseSet(files)
	if err != nil {
		t.Fatal(err)
	}
	want := FileMlist2
	if v1 {
		want = FileMlist
	}
	if set.StatsFile != want || len(set.Problems) > 0 {
		t.Fatalf("statistics from %s, problems %v", set.StatsFile, set.Problems)
	}
	return &Selector{Pubring: set.Pubring, Stats: set.Stats, Settings: DefaultSettings(), Exclude: []string{"banned"}, Now: now}
}

// The thresholds, the distance rule, broken chains and the exit's
// capabilities hold over many random draws, and every remailer they allow
// is drawn (so a rule that excluded too much would show).
func TestRulesOverManyDraws(t *testing.T) {
	never := []string{"flaky", "slow", "hasty", "ghost", "unlisted", "banned"}
	for _, v1 := range []bool{false, true} {
		for _, c := range []struct {
			name     string
			msg      Message
			exits    []string // exactly the exits that must be drawn
			hopsOnly []string // drawn only before the exit
		}{
			{"mail", Message{Size: 1000},
				[]string{"good1", "good2", "good3", "good4", "good5", "small", "nocomp", "brokenb", "deadend"},
				[]string{"hop98", "middle", "lonely"}},
			{"post", Message{Post: true, Size: 1000}, []string{"good1"}, nil},
			{"20 kB", Message{Size: 20 << 10},
				[]string{"good1", "good2", "good3", "good4", "good5", "nocomp", "brokenb", "deadend"}, nil},
			{"needs compression", Message{Size: 3 << 20, NeedCompress: true},
				[]string{"good1", "good2", "good3", "good4", "good5", "brokenb", "deadend"}, nil},
		} {
			if v1 && c.name == "20 kB" {
				// mlist.txt has no capability lines, so no size limits:
				// "small" is an exit like the others.
				c.exits = append(c.exits, "small")
			}
			if v1 && c.name == "needs compression" {
				c.exits = append(c.exits, "small")
			}
			t.Run(fmt.Sprintf("%s v1=%v", c.name, v1), func(t *testing.T) {
				s := selector(t, v1)
				exits := map[string]int{}
				hops := map[string]int{}
				const draws = 400
				for range draws {
					ch, err := s.First([]string{"*", "*", "*", "*"}, c.msg)
					if err != nil {
						t.Fatal(err)
					}
					if len(ch) != 4 {
						t.Fatalf("chain of %d", len(ch))
					}
					for i, k := range ch {
						if slices.Contains(never, k.Name) {
							t.Fatalf("%s drawn: %s", k.Name, Names(ch))
						}
						for j := max(0, i-2); j < i; j++ {
							if ch[j].Name == k.Name {
								t.Fatalf("%s twice within distance 2: %s", k.Name, Names(ch))
							}
						}
						if i > 0 && ch[i-1].Name == "good2" && k.Name == "brokenb" {
							t.Fatalf("broken chain good2 → brokenb drawn: %s", Names(ch))
						}
						if i < 3 && k.Name == "deadend" {
							t.Fatalf("deadend sends to nobody, drawn as hop %d: %s", i+1, Names(ch))
						}
						if i > 0 && k.Name == "lonely" {
							t.Fatalf("nobody sends to lonely, drawn as hop %d: %s", i+1, Names(ch))
						}
						if i == 3 {
							exits[k.Name]++
						} else {
							hops[k.Name]++
						}
					}
				}
				got := make([]string, 0, len(exits))
				for n := range exits {
					got = append(got, n)
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(c.exits))
				if !slices.Equal(got, want) {
					t.Errorf("exits drawn %v, want exactly %v", got, want)
				}
				for _, n := range c.hopsOnly {
					if hops[n] == 0 {
						t.Errorf("%s never drawn as an intermediate hop in %d draws", n, draws)
					}
				}
			})
		}
	}
}

// Limits from the settings change the outcome: with minrel 0 and no
// latency limits, flaky, slow and hasty are drawn too.
func TestLimitsOff(t *testing.T) {
	s := selector(t, false)
	s.Settings.MinRel, s.Settings.RelFinal, s.Settings.MinLat, s.Settings.MaxLat = 0, 0, 0, 0
	seen := map[string]bool{}
	for range 400 {
		ch, err := s.First([]string{"*", "*", "*"}, Message{Size: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ch {
			seen[k.Name] = true
		}
	}
	for _, n := range []string{"flaky", "slow", "hasty", "hop98"} {
		if !seen[n] {
			t.Errorf("%s never drawn without limits", n)
		}
	}
	if seen["banned"] || seen["ghost"] {
		t.Error("starex or a remailer without key drawn")
	}
}

// Copies share the exit, and otherwise travel independent chains.
func TestCopiesShareExit(t *testing.T) {
	s := selector(t, false)
	for range 20 {
		c, err := NewChains(s, []string{"*", "*", "*", "*"}, Message{Size: 100}, 5)
		if err != nil {
			t.Fatal(err)
		}
		prefixes := map[string]bool{}
		for range 5 {
			ch, err := c.Next()
			if err != nil {
				t.Fatal(err)
			}
			exit, _ := c.Exit()
			if ch[3] != exit {
				t.Fatalf("copy ends at %s, the message's exit is %s", ch[3].Name, exit.Name)
			}
			prefixes[Names(ch[:3])] = true
		}
		// 5 independent draws of 3 hops among about ten remailers are
		// all alike with a probability far below 10⁻¹⁰.
		if len(prefixes) < 2 {
			t.Fatalf("5 copies took the same chain %v", prefixes)
		}
	}
	// A chain with a named exit: copies keep it.
	c, err := NewChains(s, []string{"*", "*", "good3"}, Message{Size: 100}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ch, err := c.Next()
		if err != nil || ch[2].Name != "good3" {
			t.Fatalf("%v %v", ch, err)
		}
	}
	// Copies through a chain without a random hop would share their path.
	if _, err := NewChains(s, []string{"good1", "good2"}, Message{}, 2); !errors.Is(err, ErrCopiesFixed) {
		t.Errorf("copies through a fixed chain: %v", err)
	}
}

func TestNamedChains(t *testing.T) {
	s := selector(t, false)
	// Named hops are kept even when the statistics would not choose them.
	ch, err := s.First([]string{"flaky", "slow", "middle"}, Message{Size: 100})
	if err != nil || Names(ch) != "flaky,slow,middle" {
		t.Fatalf("%s %v", Names(ch), err)
	}
	for _, c := range []struct {
		spec []string
		msg  Message
		is   error
		want string
	}{
		{[]string{"good1", "nosuch"}, Message{}, keyring.ErrUnknownRemailer, `"nosuch"`},
		{[]string{"*", "ghost"}, Message{}, chain.ErrNoKey, "ghost"},
		{[]string{"*", "small"}, Message{Size: 11 << 10}, ErrExitUnfit, "small delivers at most 10 kB"},
		{[]string{"*", "nocomp"}, Message{Size: 3 << 20, NeedCompress: true}, ErrExitUnfit, "only compressed"},
		{[]string{"*", "good2"}, Message{Post: true}, ErrExitUnfit, "cannot post"},
	} {
		_, err := s.First(c.spec, c.msg)
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %v naming %q", c.spec, err, c.is, c.want)
		}
	}
	// A named middleman exit of a post is fine: it re-routes.
	if _, err := s.First([]string{"*", "middle"}, Message{Post: true}); err != nil {
		t.Error(err)
	}
}

// When nothing qualifies the error says which threshold excluded how many.
func TestNoCandidateSaysWhy(t *testing.T) {
	// good1, the only exit that posts, is too slow for a 9 minute limit.
	s := selector(t, false)
	s.Settings.MaxLat = 9 * time.Minute
	_, err := s.First([]string{"*", "*"}, Message{Post: true})
	var nc *chain.NoCandidateError
	if !errors.As(err, &nc) || !nc.Exit || !strings.Contains(err.Error(), "unable to post") || !strings.Contains(err.Error(), "1 with latency above 9m") {
		t.Fatalf("%v", err)
	}
	s = selector(t, false)
	s.Settings.MinRel, s.Settings.RelFinal, s.Settings.MaxLat = 99.95, 99.95, 8*time.Minute
	_, err = s.First([]string{"*", "*", "*"}, Message{})
	for _, want := range []string{"1 without a public key", "below 99.95% reliability", "1 without statistics", "1 excluded (starex)", "latency above 8m", "1 with latency below 5m"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	// Size limits are named too.
	s = selector(t, false)
	s.Stats.Caps = nil
	for i := range s.Stats.Rows {
		s.Stats.Caps = append(s.Stats.Caps, capsOf(s.Stats.Rows[i].Name, "klen1"))
	}
	_, err = s.First([]string{"*", "*"}, Message{Size: 5000})
	if err == nil || !strings.Contains(err.Error(), "16 with a size limit below the message's 5 kB") || !strings.Contains(err.Error(), "1 without a public key") {
		t.Errorf("%v", err)
	}
}

// When only a few remailers can take the message as its exit, the exit is
// one of them and the other hops are still drawn from all remailers.
func TestFewExitsTakeTheMessage(t *testing.T) {
	s := selector(t, false)
	for i, c := range s.Stats.Caps {
		if c.Name != "good1" && c.Name != "good2" {
			s.Stats.Caps[i] = capsOf(c.Name, "klen16")
		}
	}
	hops := map[string]bool{}
	for range 200 {
		ch, err := s.First([]string{"*", "*", "*", "*"}, Message{Size: 20 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if exit := ch[3].Name; exit != "good1" && exit != "good2" {
			t.Fatalf("exit %s takes at most 16 kB: %s", exit, Names(ch))
		}
		for _, k := range ch[:3] {
			hops[k.Name] = true
		}
	}
	for _, n := range []string{"good3", "good4", "good5", "small", "nocomp", "hop98", "middle"} {
		if !hops[n] {
			t.Errorf("%s, unfit as exit, never drawn as an intermediate hop", n)
		}
	}
	// With a single exit and distance 2, three further hops need three
	// other remailers: they come from the unfit ones.
	for i, c := range s.Stats.Caps {
		if c.Name == "good2" {
			s.Stats.Caps[i] = capsOf(c.Name, "klen16")
		}
	}
	ch, err := s.First([]string{"*", "*", "*", "*"}, Message{Size: 20 << 10})
	if err != nil || ch[3].Name != "good1" {
		t.Fatalf("%s %v", Names(ch), err)
	}
}
