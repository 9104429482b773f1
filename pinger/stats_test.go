package pinger

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// now is a fixed "current" time for every test: the Generated time of the
// examples in docs/spec/echolot-pinger.md.
var now = time.Date(2026, 11, 24, 13, 58, 2, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

// ping is a ping to name sent age ago; lat < 0 means outstanding.
func ping(name string, age, lat time.Duration) Ping {
	p := Ping{Remailer: name, Sent: ago(age)}
	if lat >= 0 {
		p.Received = p.Sent.Add(lat)
	}
	return p
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

// xremPings is the worked example of §4: a ping every 2 h for 12 days, each
// back after 30 min, except the newest (20 min old) and the one before it
// (2 h 20 min old), which are outstanding.
func xremPings() []Ping {
	var ps []Ping
	for k := range 144 {
		age := 20*time.Minute + time.Duration(k)*2*time.Hour
		lat := 30 * time.Minute
		if k < 2 {
			lat = -1
		}
		ps = append(ps, ping("xrem", age, lat))
	}
	return ps
}

func TestWorkedExample(t *testing.T) {
	s := Compute(xremPings(), now, Options{})["xrem"]

	if s.Sent != 144 || s.Returned != 142 {
		t.Fatalf("sent/returned = %d/%d, want 144/142", s.Sent, s.Returned)
	}
	// 12 pings a day × Σweights 7.5; the lost ping is today's (weight 0.5).
	if !near(s.SentWeight, 90) || !near(s.ReceivedWeight, 89.5) {
		t.Fatalf("weights = %v/%v, want 90/89.5", s.ReceivedWeight, s.SentWeight)
	}
	if !near(s.Reliability, 89.5/90) {
		t.Errorf("reliability = %v", s.Reliability)
	}
	if s.Latency != 30*time.Minute {
		t.Errorf("latency = %v", s.Latency)
	}
	if s.Day[0].Sent != 12 || s.Day[0].Received != 11 {
		t.Errorf("today = %+v, want 11 of 12", s.Day[0])
	}
	for d := 1; d < Days; d++ {
		if s.Day[d].Sent != 12 || s.Day[d].Returned != 12 || s.Day[d].Latency != 30*time.Minute {
			t.Errorf("day %d = %+v", d, s.Day[d])
		}
	}
	if got := s.UptimeHist(); got != "+++++++++++9" {
		t.Errorf("Uptime-Hist = %q", got)
	}
	if got := s.LatentHist(); got != "111111111111" {
		t.Errorf("Latent-Hist = %q", got)
	}
	if got := s.History(); got != "************" {
		t.Errorf("v1 history = %q", got)
	}
	if s.Histogram[1] != 142 {
		t.Errorf("histogram = %v", s.Histogram)
	}

	// The two rows printed in §4, byte for byte.
	l := &List{Generated: now, Rows: []Row{NewRow("xrem", []string{"mix"}, s)}}
	v2 := "xrem         111111111111    :30   +++++++++++9   99.4%    M            \n"
	v1 := "xrem           ************    30:00  99.44%\n"
	if out := string(RenderMlist2(l)); !strings.Contains(out, "------\n"+v2+"\n") {
		t.Errorf("mlist2 row wrong:\n%s", out)
	}
	if out := string(RenderMlist(l)); !strings.HasSuffix(out, "-----\n"+v1) {
		t.Errorf("mlist row wrong:\n%s", out)
	}
}

// The outstanding-ping model of the worked example: thresholds 375 s and
// 9375 s against 142 latencies of 1800 s.
func TestSurvivalWorkedExample(t *testing.T) {
	lats := slices.Repeat([]time.Duration{30 * time.Minute}, 142)
	opts := DefaultOptions()
	if p := survival(20*time.Minute, lats, opts); p != 1 {
		t.Errorf("20-min ping: p = %v, want 1", p)
	}
	if p := survival(140*time.Minute, lats, opts); p != 0 {
		t.Errorf("140-min ping: p = %v, want 0", p)
	}
}

func TestSurvival(t *testing.T) {
	opts := DefaultOptions()
	lats := []time.Duration{1500 * time.Second, 1501 * time.Second}
	for _, c := range []struct {
		age  time.Duration
		want float64
	}{
		{0, 1},                   // threshold negative: every latency exceeds it
		{15 * time.Minute, 1},    // threshold 0
		{2099 * time.Second, 1},  // threshold 1498.75 s
		{2100 * time.Second, .5}, // threshold exactly 1500 s: "strictly greater"
		{2100*time.Second + 800*time.Millisecond, 0}, // threshold 1501 s
		{48 * time.Hour, 0},
	} {
		if p := survival(c.age, lats, opts); p != c.want {
			t.Errorf("age %v: p = %v, want %v", c.age, p, c.want)
		}
	}
	if p := survival(time.Minute, nil, opts); p != 0 {
		t.Errorf("no returned pings: p = %v, want 0", p)
	}
}

func TestAllBack(t *testing.T) {
	var ps []Ping
	for d := range Days {
		ps = append(ps, ping("a", time.Duration(d)*day+time.Hour, 3*time.Minute))
	}
	s := Compute(ps, now, Options{})["a"]
	if s.Reliability != 1 || s.UptimeHist() != "++++++++++++" || s.LatentHist() != "000000000000" ||
		s.History() != "############" || s.Latency != 3*time.Minute {
		t.Errorf("got %+v %q %q %q", s, s.UptimeHist(), s.LatentHist(), s.History())
	}
	r := NewRow("a", nil, s)
	if r.Uptime != 100 {
		t.Errorf("uptime %v", r.Uptime)
	}
}

// None back: the "dead" row of the §7.1 and §7.2 examples.
func TestNoneBack(t *testing.T) {
	var ps []Ping
	for k := range 144 {
		ps = append(ps, ping("dead", time.Duration(k)*2*time.Hour, -1))
	}
	s := Compute(ps, now, Options{})["dead"]
	if s.Reliability != 0 || s.Returned != 0 || s.RowLatency() != NoLatency {
		t.Fatalf("got %+v", s)
	}
	row := NewRow("dead", []string{"mix"}, s)
	l := &List{Generated: now, Rows: []Row{row}}
	if want := "dead         ????????????  99:59   000000000000    0.0%    M            \n"; !strings.Contains(string(RenderMlist2(l)), want) {
		t.Errorf("mlist2:\n%s", RenderMlist2(l))
	}
	if want := "dead                        99:59:59   0.00%\n"; !strings.HasSuffix(string(RenderMlist(l)), want) {
		t.Errorf("mlist:\n%s", RenderMlist(l))
	}
}

func TestNoPings(t *testing.T) {
	var s Stats // a remailer absent from Compute's map
	if s.UptimeHist() != "????????????" || s.LatentHist() != "????????????" || s.History() != strings.Repeat(" ", 12) {
		t.Errorf("%q %q %q", s.UptimeHist(), s.LatentHist(), s.History())
	}
	if len(Compute(nil, now, Options{})) != 0 {
		t.Error("stats for nobody")
	}
}

// Outstanding pings younger than the remailer's usual latency count as
// alive, older ones as lost, with the day's (not the overall) weight.
func TestOutstandingWeighting(t *testing.T) {
	ps := []Ping{
		ping("a", 3*day, 10*time.Minute),
		ping("a", 3*day+time.Hour, 20*time.Minute),
		ping("a", 16*time.Minute, -1), // thr 75 s: both latencies longer → p = 1
		ping("a", 2*day, -1),          // far older than any latency → p = 0
	}
	s := Compute(ps, now, Options{})["a"]
	// sent: 1+1 (day 3) + 0.5 (day 0) + 1 (day 2); received: 2 + 0.5 + 0
	if !near(s.SentWeight, 3.5) || !near(s.ReceivedWeight, 2.5) || !near(s.Reliability, 2.5/3.5) {
		t.Errorf("weights %v/%v", s.ReceivedWeight, s.SentWeight)
	}
	if got := s.UptimeHist(); got != "????????+0?+" {
		t.Errorf("Uptime-Hist = %q", got)
	}
	if got := s.LatentHist(); got != "????????0???" {
		t.Errorf("Latent-Hist = %q", got)
	}
	if s.Latency != 15*time.Minute { // median of two
		t.Errorf("latency %v", s.Latency)
	}
}

func TestDayBoundariesAndWindow(t *testing.T) {
	for _, c := range []struct {
		age     time.Duration
		day     int // -1: not counted
		receive bool
	}{
		{0, 0, true},
		{day - time.Nanosecond, 0, true},
		{day, 1, true},
		{11*day + 23*time.Hour + 59*time.Minute + 59*time.Second, 11, true},
		{12 * day, -1, true}, // Echolot counts sent > now - 12 d only
		{12*day + time.Second, -1, true},
		{-time.Second, -1, true}, // sent in the future
	} {
		s := Compute([]Ping{ping("a", c.age, 0)}, now, Options{})["a"]
		if c.day < 0 {
			if s.Sent != 0 {
				t.Errorf("age %v counted", c.age)
			}
			continue
		}
		if s.Day[c.day].Sent != 1 || !near(s.SentWeight, DefaultOptions().Weights[c.day]) {
			t.Errorf("age %v: days %+v, weight %v", c.age, s.Day, s.SentWeight)
		}
	}
	// Received after now: outstanding as of now (here: lost).
	s := Compute([]Ping{ping("a", 2*day, 3*day)}, now, Options{})["a"]
	if s.Returned != 0 || s.Reliability != 0 {
		t.Errorf("future receipt counted: %+v", s)
	}
}

// Per-day latency is the median of pings sent that day; the 12-day history
// puts today on the right.
func TestPerDayMedianAndClasses(t *testing.T) {
	ps := []Ping{
		ping("a", 1*time.Hour, 4*time.Minute), // day 0: '#' / '0'
		ping("a", 1*day+time.Hour, 10*time.Minute),
		ping("a", 1*day+2*time.Hour, 50*time.Minute), // day 1 median 30 min: '*' / '1'
		ping("a", 2*day+time.Hour, 3*time.Hour),      // '+' / '4'
		ping("a", 3*day+time.Hour, 10*time.Hour),     // '-' / 'A'
		ping("a", 4*day+time.Hour, 30*time.Hour),     // '.' / 'E'
		ping("a", 7*day+time.Hour, 47*time.Hour+59*time.Minute),
		ping("a", 9*day+time.Hour, 48*time.Hour), // '_' / 'H'
	}
	s := Compute(ps, now, Options{})["a"]
	if s.Day[1].Latency != 30*time.Minute {
		t.Errorf("day 1 median %v", s.Day[1].Latency)
	}
	if got := s.LatentHist(); got != "??H?G??EA410" {
		t.Errorf("Latent-Hist = %q", got)
	}
	if got := s.History(); got != "  _ .  .-+*#" {
		t.Errorf("history = %q", got)
	}
	// 4m 10m 50m 3h | 10h 30h 47h59m 48h: mean of the middle two
	if s.Latency != 6*time.Hour+30*time.Minute {
		t.Errorf("median %v", s.Latency)
	}
	want := [len(LatencyClasses)]int{0: 2, 1: 1, 4: 1, 10: 1, 14: 1, 16: 1, 17: 1}
	if s.Histogram != want {
		t.Errorf("histogram %v", s.Histogram)
	}
}

func TestLatencyClassBounds(t *testing.T) {
	for _, c := range []struct {
		lat    time.Duration
		v2, v1 byte
	}{
		{0, '0', '#'},
		{5*time.Minute - 1, '0', '#'},
		{5 * time.Minute, '0', '*'},
		{20 * time.Minute, '1', '*'},
		{time.Hour, '2', '+'},
		{9*time.Hour - 1, '9', '-'},
		{9 * time.Hour, 'A', '-'},
		{24 * time.Hour, 'D', '.'},
		{48 * time.Hour, 'H', '_'},
	} {
		if got := LatencyClasses[latencyClass(c.lat)]; got != c.v2 {
			t.Errorf("%v: v2 %c, want %c", c.lat, got, c.v2)
		}
		if got := latency1Class(c.lat); got != c.v1 {
			t.Errorf("%v: v1 %c, want %c", c.lat, got, c.v1)
		}
	}
}

func TestUptimeHistDigits(t *testing.T) {
	var s Stats
	s.Day[0] = DayStats{Sent: 10000, Received: 9999} // 99.99 % → '+'
	s.Day[1] = DayStats{Sent: 10000, Received: 9998} // → '9'
	s.Day[2] = DayStats{Sent: 10, Received: 1}       // → '1'
	s.Day[3] = DayStats{Sent: 3, Received: 0}
	if got := s.UptimeHist(); got != "????????019+" {
		t.Errorf("%q", got)
	}
}

// --- chains ---------------------------------------------------------------

func chain(a, b string, age, lat time.Duration) ChainPing {
	p := ChainPing{First: a, Second: b, Sent: ago(age)}
	if lat >= 0 {
		p.Received = p.Sent.Add(lat)
	}
	return p
}

// chainStats gives each remailer reliability rel and latency 10 min.
func chainStats(rel float64, names ...string) map[string]Stats {
	m := make(map[string]Stats)
	for _, n := range names {
		m[n] = Stats{Sent: 1, Returned: 1, Reliability: rel, Latency: 10 * time.Minute}
	}
	return m
}

func TestJudgeChains(t *testing.T) {
	st := chainStats(1, "a", "b", "c")
	var ps []ChainPing
	add := func(a, b string, n, back int) {
		for i := range n {
			lat := time.Duration(-1)
			if i < back {
				lat = 20 * time.Minute
			}
			ps = append(ps, chain(a, b, time.Duration(i+1)*day, lat))
		}
	}
	add("a", "b", 4, 4) // fine
	add("b", "a", 4, 0) // broken
	add("a", "c", 2, 0) // too few samples: intensive care only
	add("c", "a", 4, 1) // 0.25 ≤ 1·1·0.3: broken
	add("c", "b", 10, 3)
	add("b", "c", 10, 4) // 0.3 ≤ 0.3 (boundary: broken) / 0.4 > 0.3
	add("x", "a", 5, 0)  // unknown remailer: ignored
	v := JudgeChains(ps, st, now, Options{})
	if want := []Pair{{"b", "a"}, {"c", "a"}, {"c", "b"}}; !slices.Equal(v.Broken, want) {
		t.Errorf("broken %v, want %v", v.Broken, want)
	}
	if want := []Pair{{"a", "c"}, {"b", "a"}, {"c", "a"}, {"c", "b"}}; !slices.Equal(v.IntensiveCare, want) {
		t.Errorf("intensive care %v, want %v", v.IntensiveCare, want)
	}
}

func TestJudgeChainsGraceAndPeriod(t *testing.T) {
	st := chainStats(1, "a", "b")
	// Grace = 1.5 × (10 + 10) min = 30 min: younger outstanding pings do
	// not count, so 3 returned + 3 young ones is 3/3, not 3/6.
	var ps []ChainPing
	for i := range 3 {
		ps = append(ps, chain("a", "b", day*time.Duration(i+1), time.Minute))
		ps = append(ps, chain("a", "b", time.Duration(i+1)*time.Minute, -1))
	}
	// Ten lost pings sent more than 10 days ago do not count; one exactly
	// 10 days ago does (Echolot skips only sent < now - period).
	for i := range 10 {
		ps = append(ps, chain("a", "b", 10*day+time.Duration(i+1)*time.Second, -1))
	}
	if v := JudgeChains(ps, st, now, Options{}); len(v.Broken) != 0 {
		t.Fatalf("broken %v", v.Broken)
	}
	ps = append(ps, chain("a", "b", 10*day, -1), chain("a", "b", 31*time.Minute, -1),
		chain("a", "b", 5*day, -1), chain("a", "b", 6*day, -1), chain("a", "b", 7*day, -1),
		chain("a", "b", 8*day, -1), chain("a", "b", 9*day, -1))
	// now 3 back of 10 counted = 0.3 ≤ 0.3
	if v := JudgeChains(ps, st, now, Options{}); !slices.Equal(v.Broken, []Pair{{"a", "b"}}) {
		t.Fatalf("broken %v", v.Broken)
	}
	// A remailer without returned pings has latency 0 for the grace period
	// (1.5 × (10 min + 0) = 15 min < 20 min), whatever its Latency field.
	st["b"] = Stats{Latency: time.Hour}
	v := JudgeChains([]ChainPing{chain("a", "b", 20*time.Minute, -1)}, st, now, Options{})
	if !slices.Equal(v.IntensiveCare, []Pair{{"a", "b"}}) {
		t.Errorf("intensive care %v", v.IntensiveCare)
	}
}

// The §5 example: seven remailers, a dead node and one broken pair give
// exactly the three lines of the doc.
func TestBrokenChainsDocExample(t *testing.T) {
	names := []string{"austria", "dizum", "slowpoke", "frell", "hermes", "dead", "seventh"}
	st := chainStats(0.95, names...)
	st["dead"] = Stats{Sent: 144}
	var ps []ChainPing
	for _, a := range names {
		for _, b := range names {
			if a == b {
				continue
			}
			for i := range 3 {
				lat := 30 * time.Minute
				if a == "dead" || b == "dead" || (a == "hermes" && b == "frell") {
					lat = -1
				}
				ps = append(ps, chain(a, b, time.Duration(i*3+1)*day, lat))
			}
		}
	}
	v := JudgeChains(ps, st, now, Options{})
	if len(v.Broken) != 13 {
		t.Fatalf("broken %v", v.Broken)
	}
	got := CompressBroken(v.Broken, len(names), DefaultOptions().AllBadFactor)
	want := []Pair{{"*", "dead"}, {"dead", "*"}, {"hermes", "frell"}}
	if !slices.Equal(got, want) {
		t.Errorf("compressed %v, want %v", got, want)
	}
	l := &List{Generated: now, Broken2: got}
	if !strings.Contains(string(RenderMlist2(l)), "\nBroken type-I remailer chains:\n\n\nBroken type-II remailer chains:\n(* dead)\n(dead *)\n(hermes frell)\n\n\n\nRemailer-Capabilities:\n\n") {
		t.Errorf("rendered:\n%s", RenderMlist2(l))
	}
}

func TestCompressBroken(t *testing.T) {
	f := 0.5
	// Duplicates go, order is byte order of the printed pairs.
	if got := CompressBroken([]Pair{{"b", "c"}, {"a", "c"}, {"b", "c"}}, 10, f); !slices.Equal(got, []Pair{{"a", "c"}, {"b", "c"}}) {
		t.Errorf("got %v", got)
	}
	// 5 of 10 on the right: (* c) replaces them; the other pairs stay.
	in := []Pair{{"a", "c"}, {"b", "c"}, {"d", "c"}, {"e", "c"}, {"f", "c"}, {"a", "b"}}
	if got := CompressBroken(in, 10, f); !slices.Equal(got, []Pair{{"*", "c"}, {"a", "b"}}) {
		t.Errorf("got %v", got)
	}
	// An operator's (x *) counts as all and swallows x's pairs.
	if got := CompressBroken([]Pair{{"x", "*"}, {"x", "a"}, {"b", "a"}}, 10, f); !slices.Equal(got, []Pair{{"b", "a"}, {"x", "*"}}) {
		t.Errorf("got %v", got)
	}
	// Echolot would print (* *) here (bad_right{"*"} = 2 ≥ 1.5); we do not.
	got := CompressBroken([]Pair{{"a", "*"}, {"b", "*"}}, 3, f)
	if !slices.Equal(got, []Pair{{"a", "*"}, {"b", "*"}}) {
		t.Errorf("got %v", got)
	}
	if got := CompressBroken(nil, 10, f); len(got) != 0 {
		t.Errorf("got %v", got)
	}
}
