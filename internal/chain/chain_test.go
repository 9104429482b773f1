package chain

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/packet"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// draws is how many random chains the statistical tests look at.
const draws = 2000

// The test remailers, in key-ring order.
var testRemailers = []struct {
	name, caps string
	stat       Stat
}{
	{"alpha", "C", Stat{99.9, 10 * time.Minute, true}},
	{"bravo", "C", Stat{99.5, 20 * time.Minute, true}},
	{"charlie", "CNm", Stat{100, 15 * time.Minute, true}}, // the only news gateway
	{"delta", "C", Stat{97, 10 * time.Minute, true}},      // below 98 %
	{"echo", "C", Stat{99.9, 40 * time.Hour, true}},       // latency above 36 h
	{"foxtrot", "MC", Stat{100, 10 * time.Minute, true}},  // middleman
	{"golf", "C", Stat{98.5, 30 * time.Minute, true}},     // good enough inside, not as exit
	{"hotel", "C", Stat{99.9, time.Hour, true}},
}

// testBroken: alpha cannot send to bravo, hotel to anyone, nobody to golf.
var testBroken = [][2]string{{"alpha", "bravo"}, {"hotel", "*"}, {"*", "golf"}}

var (
	keysOnce  sync.Once
	smallKeys []*keyring.SecretKey
	largeKey  *keyring.SecretKey
	keysErr   error
)

// genKeys makes the RSA keys once per test binary: eight of 1024 bits and
// one of 2048 bits.
func genKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		for range testRemailers {
			k, err := keyring.Generate(1024, now.Add(-24*time.Hour), 365*24*time.Hour)
			if err != nil {
				keysErr = err
				return
			}
			smallKeys = append(smallKeys, k)
		}
		largeKey, keysErr = keyring.Generate(2048, now.Add(-24*time.Hour), 365*24*time.Hour)
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
}

func pub(k *keyring.SecretKey, name, caps string) *keyring.PublicKey {
	return k.Public(name, name+"@"+name+".test", "2:"+packet.Version, keyring.Caps(caps))
}

// testRing returns the eight test remailers and their statistics.
func testRing(t *testing.T) (*keyring.Pubring, map[string]Stat) {
	genKeys(t)
	var keys []*keyring.PublicKey
	stats := make(map[string]Stat)
	for i, r := range testRemailers {
		keys = append(keys, pub(smallKeys[i], r.name, r.caps))
		stats[r.name] = r.stat
	}
	return keyring.NewPubring(keys), stats
}

func names(hops []*keyring.PublicKey) []string {
	out := make([]string, len(hops))
	for i, h := range hops {
		out[i] = h.Name
	}
	return out
}

func set(s ...string) map[string]bool {
	m := make(map[string]bool)
	for _, v := range s {
		m[v] = true
	}
	return m
}

func mustParse(t *testing.T, s string) []string {
	t.Helper()
	spec, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestParse(t *testing.T) {
	twenty := strings.TrimSuffix(strings.Repeat("*,", 20), ",")
	good := []struct {
		in   string
		want []string
	}{
		{"a,*,b", []string{"a", "*", "b"}},
		{"a; b :c", []string{"a", "b", "c"}},
		{" * ", []string{"*"}},
		{"alpha", []string{"alpha"}},
		{"Alpha Remailer <alpha@a.test>,*", []string{"alpha@a.test", "*"}},
		{"@a.test,*", []string{"@a.test", "*"}},
		{"\t*,\t*\n", []string{"*", "*"}},
		{DefaultChain, []string{"*", "*", "*", "*"}},
		{twenty, strings.Split(twenty, ",")},
	}
	for _, c := range good {
		got, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("Parse(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	bad := []struct{ in, mention string }{
		{"", "empty chain"},
		{"   ", "empty chain"},
		{"a,,b", "entry 2 is empty"},
		{"a,b,", "entry 3 is empty"},
		{",a", "entry 1 is empty"},
		{"a b", "blank"},
		{"**", `"*" stands alone`},
		{"*a", `"*" stands alone`},
		{"x <a@b", "unclosed"},
		{"<>", "empty"},
		{twenty + ",*", "21 entries, at most 20"},
	}
	for _, c := range bad {
		got, err := Parse(c.in)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want an error", c.in, got)
			continue
		}
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("Parse(%q): %v, want ErrSyntax mentioning %q", c.in, err, c.mention)
		}
	}
	if !HasRandom([]string{"a", "*"}) || HasRandom([]string{"a", "b"}) {
		t.Error("HasRandom")
	}
}

// checkChain checks the rules every random chain of the test ring obeys
// with the default options; random[i] says whether hop i was random.
func checkChain(t *testing.T, hops []*keyring.PublicKey, random []bool, exits map[string]bool, distance int) {
	t.Helper()
	n := len(hops)
	got := names(hops)
	for i, h := range hops {
		if !random[i] {
			continue
		}
		st := testRemailers[indexOf(h.Name)].stat
		if i == n-1 {
			if !exits[h.Name] {
				t.Fatalf("chain %v: exit %s not allowed", got, h.Name)
			}
		} else {
			if st.Reliability < DefaultMinRel || st.Latency < DefaultMinLat || st.Latency > DefaultMaxLat {
				t.Fatalf("chain %v: hop %d %s fails the limits (%v)", got, i+1, h.Name, st)
			}
		}
		for j := max(0, i-distance); j <= i+distance && j < n; j++ {
			if j != i && hops[j].Name == h.Name {
				t.Fatalf("chain %v: %s at hops %d and %d, within distance %d", got, h.Name, i+1, j+1, distance)
			}
		}
		// Broken pairs, with either neighbour.
		if i > 0 && brokenPair(hops[i-1].Name, h.Name) {
			t.Fatalf("chain %v: broken pair %s → %s", got, hops[i-1].Name, h.Name)
		}
		if i < n-1 && brokenPair(h.Name, hops[i+1].Name) {
			t.Fatalf("chain %v: broken pair %s → %s", got, h.Name, hops[i+1].Name)
		}
	}
}

func indexOf(name string) int {
	for i, r := range testRemailers {
		if r.name == name {
			return i
		}
	}
	panic("unknown test remailer " + name)
}

func brokenPair(from, to string) bool {
	for _, p := range testBroken {
		if (p[0] == from || p[0] == "*") && (p[1] == to || p[1] == "*") {
			return true
		}
	}
	return false
}

func TestSelectRules(t *testing.T) {
	ring, stats := testRing(t)
	spec := mustParse(t, DefaultChain)
	opt := Options{Stats: stats, Broken: testBroken}
	exits := set("alpha", "bravo", "charlie", "hotel")
	random := []bool{true, true, true, true}
	exitCount := make(map[string]int)
	hopCount := make(map[string]int)
	for range draws {
		hops, err := Select(ring, spec, now, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(hops) != 4 {
			t.Fatalf("%d hops", len(hops))
		}
		checkChain(t, hops, random, exits, DefaultDistance)
		exitCount[hops[3].Name]++
		for i, h := range hops[:3] {
			hopCount[h.Name]++
			if h.Name == "golf" && i != 0 {
				t.Fatalf("chain %v: golf (nobody may send to it) not first", names(hops))
			}
			if h.Name == "hotel" {
				t.Fatalf("chain %v: hotel (may send to nobody) not the exit", names(hops))
			}
		}
	}
	// The exit is chosen first, uniformly among the four allowed.
	if len(exitCount) != len(exits) {
		t.Errorf("exits %v, want each of %v", exitCount, exits)
	}
	for name, c := range exitCount {
		if want := draws / len(exits); c < want*3/4 || c > want*5/4 {
			t.Errorf("exit %s chosen %d times of %d, want about %d", name, c, draws, want)
		}
	}
	// Every remailer allowed inside appears inside.
	for _, name := range []string{"alpha", "bravo", "charlie", "foxtrot", "golf"} {
		if hopCount[name] == 0 {
			t.Errorf("%s never chosen as intermediate hop: %v", name, hopCount)
		}
	}
	for _, name := range []string{"delta", "echo"} {
		if hopCount[name]+exitCount[name] != 0 {
			t.Errorf("%s chosen despite its statistics", name)
		}
	}
}

func TestSelectLongChainDistance(t *testing.T) {
	ring, _ := testRing(t)
	// Without statistics every remailer but the middleman may be the exit;
	// a distance of 3 over ten hops leaves few choices.
	spec := mustParse(t, strings.TrimSuffix(strings.Repeat("*,", 10), ","))
	random := make([]bool, 10)
	for i := range random {
		random[i] = true
	}
	seen := make(map[string]bool)
	for range draws / 4 {
		hops, err := Select(ring, spec, now, Options{Distance: 3})
		if err != nil {
			t.Fatal(err)
		}
		checkChainNoStats(t, hops, 3)
		for _, h := range hops {
			seen[h.Name] = true
		}
	}
	if len(seen) != len(testRemailers) {
		t.Errorf("without statistics only %d remailers used: %v", len(seen), seen)
	}
}

func checkChainNoStats(t *testing.T, hops []*keyring.PublicKey, distance int) {
	t.Helper()
	for i, h := range hops {
		for j := i + 1; j <= i+distance && j < len(hops); j++ {
			if hops[j].Name == h.Name {
				t.Fatalf("chain %v: %s within distance %d", names(hops), h.Name, distance)
			}
		}
	}
	if hops[len(hops)-1].Caps.Middleman() {
		t.Fatalf("chain %v ends at a middleman", names(hops))
	}
}

func TestSelectExitRules(t *testing.T) {
	ring, stats := testRing(t)
	spec := mustParse(t, "*,*,*")
	cases := []struct {
		name  string
		opt   Options
		exits map[string]bool
	}{
		{"post", Options{Stats: stats, Post: true}, set("charlie")},
		{"dummy", Options{Stats: stats, Dummy: true}, set("alpha", "bravo", "charlie", "hotel", "foxtrot")},
		{"no stats", Options{}, set("alpha", "bravo", "charlie", "delta", "echo", "golf", "hotel")},
		{"starex", Options{Stats: stats, Exclude: []string{"# starex.txt", "xx-alpha-xx", "Charlie"}}, set("bravo", "hotel")},
		{"forced exit", Options{Stats: stats, Exit: "delta"}, set("delta")},
		{"forced exit by address", Options{Stats: stats, Exit: "Echo@echo.test"}, set("echo")},
		{"relfinal 99.9", Options{Stats: stats, RelFinal: 99.9}, set("alpha", "charlie", "hotel")},
		{"maxlat 40h", Options{Stats: stats, MaxLat: 40 * time.Hour}, set("alpha", "bravo", "charlie", "echo", "hotel")},
		{"maxlat off", Options{Stats: stats, MaxLat: -1}, set("alpha", "bravo", "charlie", "echo", "hotel")},
		{"minlat 20m", Options{Stats: stats, MinLat: 20 * time.Minute}, set("bravo", "hotel")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			count := make(map[string]int)
			for range draws / 4 {
				hops, err := Select(ring, spec, now, c.opt)
				if err != nil {
					t.Fatal(err)
				}
				exit := hops[2].Name
				if !c.exits[exit] {
					t.Fatalf("chain %v: exit %s, want one of %v", names(hops), exit, c.exits)
				}
				count[exit]++
				for _, h := range hops {
					for _, x := range c.opt.Exclude {
						if strings.Contains(strings.ToLower(x), h.Name) && c.opt.Exit != h.Name {
							t.Fatalf("chain %v uses %s, excluded by %q", names(hops), h.Name, x)
						}
					}
				}
			}
			if len(count) != len(c.exits) {
				t.Errorf("exits %v, want each of %v", count, c.exits)
			}
		})
	}
}

func TestForcedExitShared(t *testing.T) {
	ring, stats := testRing(t)
	opt := Options{Stats: stats, Broken: testBroken}
	first, err := Select(ring, mustParse(t, "*,*,*"), now, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.Exit = first[2].Name
	for range draws / 4 {
		hops, err := Select(ring, mustParse(t, "*,*,*"), now, opt)
		if err != nil {
			t.Fatal(err)
		}
		if hops[2] != first[2] {
			t.Fatalf("chain %v does not end at %s", names(hops), first[2].Name)
		}
		checkChain(t, hops, []bool{true, true, false}, nil, DefaultDistance)
	}
	// A named exit must agree with the forced one.
	other := "alpha"
	if opt.Exit == other {
		other = "bravo"
	}
	if _, err := Select(ring, []string{"*", other}, now, opt); !errors.Is(err, ErrExit) {
		t.Errorf("named exit %s with forced exit %s: %v", other, opt.Exit, err)
	}
	if hops, err := Select(ring, []string{"*", opt.Exit}, now, opt); err != nil || hops[1].Name != opt.Exit {
		t.Errorf("named exit equal to the forced one: %v", err)
	}
	if _, err := Select(ring, []string{"*"}, now, Options{Exit: "zulu"}); !errors.Is(err, keyring.ErrUnknownRemailer) {
		t.Errorf("unknown forced exit: %v", err)
	}
}

func TestNamedHops(t *testing.T) {
	ring, stats := testRing(t)
	opt := Options{Stats: stats, Broken: testBroken, Exclude: []string{"delta"}}
	// Named hops are kept whatever the rules say: below reliability, high
	// latency, middleman exit, excluded, broken pair (alpha bravo).
	spec := []string{"delta", "echo", "alpha", "bravo", "foxtrot"}
	hops, err := Select(ring, spec, now, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(hops), ","); got != strings.Join(spec, ",") {
		t.Errorf("got %s", got)
	}
	// Addresses and @domain name remailers too.
	hops, err = Select(ring, []string{"GOLF@golf.test", "@charlie.test", "Hotel"}, now, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(hops), ","); got != "golf,charlie,hotel" {
		t.Errorf("got %s", got)
	}
	// Random hops keep their distance from named ones and avoid broken
	// pairs with them: before bravo never alpha; after bravo never golf;
	// charlie is three positions from the first hop, so it may be that.
	for range draws / 4 {
		hops, err := Select(ring, []string{"*", "bravo", "*", "charlie"}, now, opt)
		if err != nil {
			t.Fatal(err)
		}
		n := names(hops)
		if n[0] == "alpha" || n[0] == "bravo" || n[0] == n[2] || n[0] == "delta" {
			t.Fatalf("chain %v: bad first hop", n)
		}
		if n[2] == "bravo" || n[2] == "charlie" || n[2] == "delta" || n[2] == "hotel" || n[2] == "golf" {
			t.Fatalf("chain %v: bad third hop", n)
		}
	}
	for _, bad := range [][]string{{"alpha", "zulu", "*"}, {"alpha", "@nowhere.test"}} {
		_, err := Select(ring, bad, now, opt)
		if !errors.Is(err, keyring.ErrUnknownRemailer) {
			t.Errorf("%v: %v, want ErrUnknownRemailer", bad, err)
			continue
		}
		if !strings.Contains(err.Error(), "hop 2") || !strings.Contains(err.Error(), bad[1]) {
			t.Errorf("%v: %v does not name the hop and the remailer", bad, err)
		}
	}
	// A key not yet valid is no key.
	_, err = Select(ring, []string{"alpha"}, now.Add(-48*time.Hour), opt)
	if !errors.Is(err, keyring.ErrNoValidKey) {
		t.Errorf("before the keys were created: %v", err)
	}
}

func TestFewStatistics(t *testing.T) {
	ring, _ := testRing(t)
	// Three remailers listed: all count as 100 % reliable; the listed
	// latency of echo is still too high; unlisted latencies are unknown.
	stats := map[string]Stat{
		"delta": {50, 10 * time.Minute, true},
		"golf":  {10, time.Hour, true},
		"echo":  {100, 40 * time.Hour, true},
		"hotel": {0, 0, false}, // not Known: absent
	}
	opt := Options{Stats: stats}
	want := set("alpha", "bravo", "charlie", "delta", "golf", "hotel")
	count := make(map[string]int)
	for range draws / 2 {
		hops, err := Select(ring, []string{"*", "*"}, now, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hops {
			if h.Name == "echo" {
				t.Fatalf("chain %v uses echo (40 h latency)", names(hops))
			}
		}
		count[hops[1].Name]++
	}
	if len(count) != len(want) {
		t.Errorf("exits %v, want each of %v", count, want)
	}
	if e := Explain(ring, now, opt); e.Stats != StatsTooFew || e.Listed != 3 {
		t.Errorf("Explain: stats mode %d, %d listed", e.Stats, e.Listed)
	}
	// With a fourth listed the statistics count: delta and golf fail,
	// unlisted remailers count as 0 %.
	stats["alpha"] = Stat{100, 10 * time.Minute, true}
	for range draws / 4 {
		hops, err := Select(ring, []string{"*"}, now, opt)
		if err != nil {
			t.Fatal(err)
		}
		if hops[0].Name != "alpha" {
			t.Fatalf("exit %s, want alpha, the only listed good one", hops[0].Name)
		}
	}
	_, err := Select(ring, []string{"*"}, now, Options{Stats: stats, Exclude: []string{"alpha"}})
	var nc *NoCandidateError
	if !errors.As(err, &nc) {
		t.Fatalf("got %v", err)
	}
	wantEx := map[string]int{ReasonStarex: 1, ReasonMiddleman: 1, ReasonNoStats: 3, ReasonReliability: 2, ReasonLatencyHigh: 1}
	if fmt.Sprint(nc.Excluded) != fmt.Sprint(wantEx) {
		t.Errorf("excluded %v, want %v", nc.Excluded, wantEx)
	}
	const msg = "chain: no remailer for the exit (hop 1 of 1): 1 excluded (starex), 1 middleman, 3 without statistics, 2 below 99% reliability, 1 with latency above 36h"
	if err.Error() != msg {
		t.Errorf("message\n%s\nwant\n%s", err, msg)
	}
}

func TestNoCandidateMessages(t *testing.T) {
	ring, stats := testRing(t)
	cases := []struct {
		spec []string
		opt  Options
		want map[string]int
		msg  string
	}{
		{
			[]string{"*"},
			Options{Stats: stats, Post: true, Exclude: []string{"charlie"}},
			map[string]int{ReasonStarex: 1, ReasonMiddleman: 1, ReasonNoPost: 6},
			"chain: no remailer for the exit (hop 1 of 1): 1 excluded (starex), 1 middleman, 6 unable to post to Usenet",
		},
		{
			[]string{"charlie", "*", "foxtrot"},
			Options{Stats: stats, MinRel: 99.95},
			map[string]int{ReasonReliability: 6, ReasonDistance: 2},
			"chain: no remailer for hop 2 of 3: 6 below 99.95% reliability, 2 within distance 2",
		},
		{
			[]string{"*", "*", "charlie"},
			Options{Stats: stats, Broken: [][2]string{{"*", "charlie"}}},
			map[string]int{ReasonReliability: 1, ReasonLatencyHigh: 1, ReasonDistance: 1, ReasonBroken: 5},
			"chain: no remailer for hop 2 of 3: 1 below 98% reliability, 1 with latency above 36h, 1 within distance 2, 5 in a broken chain with a neighbour",
		},
		{
			[]string{"*", "hotel"},
			Options{Stats: stats, MinLat: 30 * time.Minute, MaxLat: 2 * time.Hour, Exclude: []string{"golf"}},
			map[string]int{ReasonStarex: 1, ReasonReliability: 1, ReasonLatencyLow: 4, ReasonLatencyHigh: 1, ReasonDistance: 1},
			"chain: no remailer for hop 1 of 2: 1 excluded (starex), 1 below 98% reliability, 4 with latency below 30m, 1 with latency above 2h, 1 within distance 2",
		},
	}
	for _, c := range cases {
		_, err := Select(ring, c.spec, now, c.opt)
		var nc *NoCandidateError
		if !errors.As(err, &nc) || !errors.Is(err, ErrNoCandidate) {
			t.Errorf("%v: got %v", c.spec, err)
			continue
		}
		if fmt.Sprint(nc.Excluded) != fmt.Sprint(c.want) {
			t.Errorf("%v: excluded %v, want %v", c.spec, nc.Excluded, c.want)
		}
		if nc.Considered != len(testRemailers) {
			t.Errorf("%v: considered %d", c.spec, nc.Considered)
		}
		if err.Error() != c.msg {
			t.Errorf("%v: message\n%s\nwant\n%s", c.spec, err, c.msg)
		}
	}
	// An empty key ring.
	_, err := Select(keyring.NewPubring(nil), []string{"*"}, now, Options{})
	if err == nil || !strings.Contains(err.Error(), "no remailer with a valid key") {
		t.Errorf("empty ring: %v", err)
	}
}

func TestRelax(t *testing.T) {
	ring, stats := testRing(t)
	var logged []string
	opt := Options{Stats: stats, MinRel: 99.95, Broken: testBroken, Relax: true,
		Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}
	// Without the limits, hop 2 may be alpha, bravo, delta or echo (golf
	// and hotel are in broken pairs, charlie and foxtrot too near).
	want := set("alpha", "bravo", "delta", "echo")
	count := make(map[string]int)
	for range draws / 4 {
		hops, err := Select(ring, []string{"charlie", "*", "foxtrot"}, now, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !want[hops[1].Name] {
			t.Fatalf("chain %v", names(hops))
		}
		count[hops[1].Name]++
	}
	if len(count) != len(want) {
		t.Errorf("hop 2 %v, want each of %v", count, want)
	}
	if len(logged) != draws/4 || !strings.Contains(logged[0], "hop 2 of 3") {
		t.Errorf("%d log lines: %q", len(logged), logged[:min(1, len(logged))])
	}
	// Rules other than the limits still hold.
	opt.Exclude = []string{"alpha", "bravo", "delta", "echo"}
	_, err := Select(ring, []string{"charlie", "*", "foxtrot"}, now, opt)
	var nc *NoCandidateError
	if !errors.As(err, &nc) || !nc.Relaxed || !strings.Contains(err.Error(), "even without the reliability and latency limits") {
		t.Errorf("got %v", err)
	}
}

func TestSlots(t *testing.T) {
	genKeys(t)
	ring := keyring.NewPubring([]*keyring.PublicKey{
		pub(smallKeys[0], "alpha", "C"),
		pub(smallKeys[1], "bravo", "C"),
		pub(largeKey, "india", "C"),
	})
	star := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = "*"
		}
		return s
	}
	opt := Options{Distance: -1}
	// Twenty hops fill the header: the two-slot key never fits.
	for range draws / 10 {
		hops, err := Select(ring, star(20), now, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hops {
			if h.Name == "india" {
				t.Fatalf("20-hop chain uses the 2048-bit key")
			}
		}
	}
	// Nineteen hops leave room for one.
	seen := 0
	for range draws / 10 {
		hops, err := Select(ring, star(19), now, opt)
		if err != nil {
			t.Fatal(err)
		}
		path := make([]packet.Hop, len(hops))
		for i, h := range hops {
			path[i] = h.Hop()
			if h.Name == "india" {
				seen++
			}
		}
		if packet.SlotsNeeded(path) > packet.MaxSlots {
			t.Fatalf("chain %v needs %d slots", names(hops), packet.SlotsNeeded(path))
		}
	}
	if seen == 0 {
		t.Error("the 2048-bit key never chosen in 19-hop chains")
	}
	// Named large keys that cannot fit are an error.
	_, err := Select(ring, append([]string{"india"}, star(19)...), now, opt)
	if !errors.Is(err, packet.ErrChainTooLong) {
		t.Errorf("got %v, want ErrChainTooLong", err)
	}
	if _, err := Select(ring, star(21), now, opt); !errors.Is(err, ErrSyntax) {
		t.Errorf("21 entries: %v", err)
	}
	// The only remailer left has a large key and two slots are not left.
	_, err = Select(ring, append(star(18), "alpha", "bravo"), now, Options{Distance: -1, Exclude: []string{"alpha", "bravo"}})
	var nc *NoCandidateError
	if !errors.As(err, &nc) || nc.Excluded[ReasonSlots] != 1 || !strings.Contains(err.Error(), "1 with a key too large for the header slots left") {
		t.Errorf("got %v", err)
	}
}

func TestKeylessEntries(t *testing.T) {
	ring, _ := testRing(t)
	k := *ring.Keys()[0]
	k.Key = nil
	k.Name, k.Address = "juliet", "juliet@juliet.test"
	r2 := keyring.NewPubring(append(ring.Keys(), &k))
	if _, err := Select(r2, []string{"juliet"}, now, Options{}); !errors.Is(err, ErrNoKey) {
		t.Errorf("named keyless remailer: %v", err)
	}
	for range draws / 10 {
		hops, err := Select(r2, []string{"*", "*"}, now, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hops {
			if h.Key == nil {
				t.Fatalf("chain %v uses a keyless entry", names(hops))
			}
		}
	}
}

// failingReader fails every read.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestRandomness(t *testing.T) {
	ring, _ := testRing(t)
	if _, err := Select(ring, []string{"*"}, now, Options{Rand: failingReader{}}); err == nil || !strings.Contains(err.Error(), "no entropy") {
		t.Errorf("failing Rand: %v", err)
	}
	// The same bytes give the same chain.
	seed := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, 100)
	a, err := Select(ring, mustParse(t, DefaultChain), now, Options{Rand: bytes.NewReader(seed)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Select(ring, mustParse(t, DefaultChain), now, Options{Rand: bytes.NewReader(seed)})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(names(a)) != fmt.Sprint(names(b)) {
		t.Errorf("%v != %v", names(a), names(b))
	}
	// Rejection sampling: all-ones draws are out of range for n = 3.
	if _, err := uniform(bytes.NewReader(bytes.Repeat([]byte{0xff}, 8*maxRandomTries)), 3); err == nil {
		t.Error("uniform accepted 2⁶⁴−1 for n = 3")
	}
	if v, err := uniform(bytes.NewReader(bytes.Repeat([]byte{0xff}, 8)), 4); err != nil || v != 3 {
		t.Errorf("uniform(n=4) = %d, %v", v, err)
	}
	// A rejected draw is followed by the next one.
	r := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte{0xff}, 8)), bytes.NewReader([]byte{0, 0, 0, 0, 0, 0, 0, 7}))
	if v, err := uniform(r, 3); err != nil || v != 1 {
		t.Errorf("uniform after a rejection = %d, %v", v, err)
	}
	// Uniform over 5 values.
	var counts [5]int
	for range draws {
		v, err := uniform(rand.Reader, 5)
		if err != nil {
			t.Fatal(err)
		}
		counts[v]++
	}
	for i, c := range counts {
		if c < draws/5*3/4 || c > draws/5*5/4 {
			t.Errorf("value %d drawn %d times of %d", i, c, draws)
		}
	}
}

func TestExplain(t *testing.T) {
	ring, stats := testRing(t)
	e := Explain(ring, now, Options{Stats: stats, Broken: testBroken, Exclude: []string{"hotel"}})
	if e.Stats != StatsApplied || e.Listed != 8 || len(e.Remailers) != 8 {
		t.Fatalf("mode %d, %d listed, %d remailers", e.Stats, e.Listed, len(e.Remailers))
	}
	if got := strings.Join(e.Exit.Left, ","); got != "alpha,bravo,charlie" {
		t.Errorf("exit left %s", got)
	}
	if got := strings.Join(e.Hop.Left, ","); got != "alpha,bravo,charlie,foxtrot,golf" {
		t.Errorf("hop left %s", got)
	}
	if got := strings.Join(e.Exit.Excluded[ReasonReliability], ","); got != "delta,golf" {
		t.Errorf("exit reliability %s", got)
	}
	s := e.String()
	for _, want := range []string{
		"Statistics: 8 of 8 remailers listed; reliability and latency limits are applied.",
		"Random exit (reliability ≥ 99%, latency 5m–36h, not in starex, no middleman):",
		"  1 excluded (starex): hotel\n",
		"  1 middleman: foxtrot\n",
		"  2 below 99% reliability: delta (97.00%), golf (98.50%)\n",
		"  1 with latency above 36h: echo (40h)\n",
		"  3 left: alpha, bravo, charlie\n",
		"Random intermediate hop (reliability ≥ 98%, latency 5m–36h, not in starex):",
		"  1 below 98% reliability: delta (97.00%)\n",
		"  5 left: alpha, bravo, charlie, foxtrot, golf\n",
		"up to 2 positions away",
		"(alpha bravo) (hotel *) (* golf)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("explanation lacks %q:\n%s", want, s)
		}
	}
	s = Explain(ring, now, Options{Post: true}).String()
	for _, want := range []string{
		"Statistics: none; reliability and latency limits are not applied.",
		"Random exit (not in starex, no middleman, able to post):",
		"  6 unable to post to Usenet: alpha, bravo, delta, echo, golf, hotel\n",
		"  1 left: charlie\n",
		"  8 left: alpha, bravo, charlie, delta, echo, foxtrot, golf, hotel\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("explanation lacks %q:\n%s", want, s)
		}
	}
}
