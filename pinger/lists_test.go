package pinger

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func hm(h, m int) time.Duration { return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute }

func hms3(h, m, s int) time.Duration { return hm(h, m) + time.Duration(s)*time.Second }

func mustParse(t *testing.T, parse func([]byte) (*List, error), text string) *List {
	t.Helper()
	l, err := parse([]byte(text))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return l
}

func TestDocMlist2(t *testing.T) {
	l := mustParse(t, ParseMlist2, docMlist2)
	if !l.Generated.Equal(now) || l.Title != "Mixmaster" {
		t.Errorf("generated %v, title %q", l.Generated, l.Title)
	}
	want := []Row{
		{Name: "austria", LatentHist: "000000000000", Latency: hm(0, 5), UptimeHist: "++++++++++++", Uptime: 100, Options: "D M            "},
		{Name: "dizum", LatentHist: "000000000000", Latency: hm(0, 14), UptimeHist: "9+++9+++9+98", Uptime: 96, Options: " PR GO ATLE IN0"},
		{Name: "slowpoke", LatentHist: "A99889999988", Latency: hm(8, 15), UptimeHist: "++9+9+99+9+9", Uptime: 95.8, Options: "  M            "},
		{Name: "frell", LatentHist: "111111111111", Latency: hm(0, 37), UptimeHist: "+9+++9789+99", Uptime: 91.2, Options: "  R GO ATLE IN9"},
		{Name: "hermes", LatentHist: "332223322322", Latency: hm(1, 55), UptimeHist: "779777567769", Uptime: 72.5, Options: "  M           1"},
		{Name: "dead", LatentHist: "????????????", Latency: hm(99, 59), UptimeHist: "000000000000", Uptime: 0, Options: "  M            "},
	}
	if !slices.Equal(l.Rows, want) {
		t.Errorf("rows:\n%+v\nwant\n%+v", l.Rows, want)
	}
	if len(l.Broken1) != 0 || !slices.Equal(l.Broken2, []Pair{{"*", "dead"}, {"dead", "*"}, {"hermes", "frell"}}) {
		t.Errorf("broken %v / %v", l.Broken1, l.Broken2)
	}
	if len(l.Caps) != 2 || l.Caps[0].Name != "austria" || l.Caps[0].Address != "mixmaster@remailer.privacy.at" ||
		!slices.Equal(l.Caps[0].Caps, []string{"mix", "middle"}) || l.Caps[1].Name != "dizum" || len(l.Caps[1].Caps) != 17 {
		t.Errorf("caps %+v", l.Caps)
	}
	// The options column follows from the capability lines.
	for i, c := range l.Caps {
		if got := OptionsColumn(c.Caps); got != l.Rows[i].Options {
			t.Errorf("%s: options %q, row has %q", c.Name, got, l.Rows[i].Options)
		}
	}
	// Rendering what was read gives the doc back byte for byte.
	if got := string(RenderMlist2(l)); got != docMlist2 {
		t.Errorf("render differs:\n%s\nwant\n%s", got, docMlist2)
	}
}

func TestDocMlist(t *testing.T) {
	l := mustParse(t, ParseMlist, docMlist)
	if !l.Generated.Equal(now) {
		t.Errorf("generated %v", l.Generated)
	}
	want := []Row{
		{Name: "austria", History: "*#**#***##**", Latency: hms3(0, 5, 6), Uptime: 100},
		{Name: "dizum", History: "************", Latency: hms3(0, 14, 17), Uptime: 96.03},
		{Name: "slowpoke", History: "------------", Latency: hms3(8, 15, 22), Uptime: 95.81},
		{Name: "frell", History: "************", Latency: hms3(0, 37, 39), Uptime: 91.18},
		{Name: "hermes", History: "++++++++++++", Latency: hms3(1, 55, 37), Uptime: 72.55},
		{Name: "dead", History: "            ", Latency: hms3(99, 59, 59), Uptime: 0},
	}
	if !slices.Equal(l.Rows, want) {
		t.Errorf("rows:\n%+v\nwant\n%+v", l.Rows, want)
	}
	if len(l.Broken1) != 0 || !slices.Equal(l.Broken2, []Pair{{"*", "dead"}, {"dead", "*"}, {"hermes", "frell"}}) {
		t.Errorf("broken %v / %v", l.Broken1, l.Broken2)
	}
	if got := string(RenderMlist(l)); got != docMlist {
		t.Errorf("render differs:\n%s\nwant\n%s", got, docMlist)
	}
}

func TestSpecMlist(t *testing.T) {
	l := mustParse(t, ParseMlist, specMlist)
	want := []Row{
		{Name: "alpha", History: "************", Latency: hms3(0, 12, 34), Uptime: 99.97},
		{Name: "bravo", History: "+**+++++****", Latency: hms3(1, 2, 3), Uptime: 98.5},
		{Name: "delta", History: "--- ..  ++**", Latency: hms3(13, 45, 30), Uptime: 80.12},
	}
	if !slices.Equal(l.Rows, want) || l.Generated != time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) {
		t.Errorf("rows %+v, generated %v", l.Rows, l.Generated)
	}
	// Without broken-chain blocks the rendering is the example plus the two
	// (empty) blocks Echolot prints when it does chain pings.
	blocks := "\nBroken type-I remailer chains:\n\n\nBroken type-II remailer chains:\n\n"
	if got := string(RenderMlist(l)); got != blocks+specMlist {
		t.Errorf("render:\n%s", got)
	}
}

func TestSpecMlist2(t *testing.T) {
	l := mustParse(t, ParseMlist2, specMlist2)
	want := []Row{
		{Name: "alpha", LatentHist: "000000000000", Latency: hm(0, 12), UptimeHist: "++++++++++++", Uptime: 100, Options: " PR         IN "},
		{Name: "bravo", LatentHist: "011000000000", Latency: hm(1, 2), UptimeHist: "++++++++9+++", Uptime: 99.2, Options: "D R         IN9"},
	}
	if !slices.Equal(l.Rows, want) {
		t.Errorf("rows %+v", l.Rows)
	}
	if l.Broken1 != nil || !slices.Equal(l.Broken2, []Pair{{"alpha", "bravo"}}) {
		t.Errorf("broken %v / %v", l.Broken1, l.Broken2)
	}
	for i, c := range l.Caps {
		if got := OptionsColumn(c.Caps); got != l.Rows[i].Options {
			t.Errorf("%s: options %q, row has %q", c.Name, got, l.Rows[i].Options)
		}
	}
	out := string(RenderMlist2(l))
	for _, line := range strings.SplitAfter(specMlist2, "\n")[:6] {
		if !strings.Contains(out, line) {
			t.Errorf("render lacks %q:\n%s", line, out)
		}
	}
}

// A real line from the frell pinger (Type I list, same format).
func TestFrellLine(t *testing.T) {
	text := "Stats-Version: 2.0\nGenerated: Tue 24 Nov 2026 13:58:02 GMT\n" +
		"Cypherpunk   Latent-Hist   Latent  Uptime-Hist   Uptime  Options\n" + v2Rule + "\n" +
		"frell        110112110111    :36   ++++++++++++  100.0%   PR GO ATLE IN9\n"
	l := mustParse(t, ParseMlist2, text)
	want := Row{Name: "frell", LatentHist: "110112110111", Latency: hm(0, 36), UptimeHist: "++++++++++++", Uptime: 100, Options: " PR GO ATLE IN9"}
	if l.Title != "Cypherpunk" || len(l.Rows) != 1 || l.Rows[0] != want {
		t.Errorf("%q %+v", l.Title, l.Rows)
	}
	l.Broken1, l.Broken2 = nil, nil
	if got := string(RenderRlist2(l)); !strings.HasPrefix(got, text) {
		t.Errorf("rlist2:\n%s", got)
	}
}

// v1 rows of the given content, after a valid header.
func v1List(rows ...string) string {
	return "Last update: Tue 24 Nov 2026 13:58:02 GMT\n" + v1Header + "\n" + v1Rule + "\n" + strings.Join(rows, "")
}

func TestV1ColumnRules(t *testing.T) {
	row := func(name, hist, lat, up string) string {
		return fmt.Sprintf("%-14s %-12s %8s %6s%%", name, hist, lat, up)
	}
	good := row("alpha", "************", "1:02:03", "98.50")
	if len(good) != 44 {
		t.Fatalf("row is %d bytes", len(good))
	}
	text := v1List(
		good+"\n",
		row("crlf", "++++++++++++", "3:04", "90.00")+"\r\n", // 46 bytes with CR LF
		row("extra", "____________", "5", "  5.00")+"x\n",   // 46 with LF: still read
		row("shorty", "*", "12:00", "1.00")[:42]+"\n",       // 43 with LF: too short
		row("long", "*", "12:00", "1.00")+"xx\n",            // 47: too long
		row("bad", "*", "1x:00", "1.00")+"\n",               // not a digit at column 31
		fmt.Sprintf("%-44s\n", "  noname"),                  // 45 but no name
		"\n",
		row("after", "*", "1:00", "2.00")+"\n",
		"</PRE>\n",
		row("ignored", "*", "1:00", "2.00")+"\n", // after </PRE>: not a row
	)
	l, err := ParseMlist([]byte(text))
	want := []Row{
		{Name: "alpha", History: "************", Latency: hms3(1, 2, 3), Uptime: 98.5},
		{Name: "crlf", History: "++++++++++++", Latency: hms3(0, 3, 4), Uptime: 90},
		{Name: "extra", History: "____________", Latency: 5 * time.Second, Uptime: 5},
		{Name: "after", History: "*           ", Latency: time.Hour / 60, Uptime: 2},
	}
	if !slices.Equal(l.Rows, want) {
		t.Errorf("rows:\n%+v\nwant\n%+v", l.Rows, want)
	}
	var lines []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var le *LineError
		if !errors.As(e, &le) || !errors.Is(e, ErrSyntax) {
			t.Errorf("error %v is not a LineError", e)
			continue
		}
		lines = append(lines, le.Line)
	}
	if !slices.Equal(lines, []int{7, 8, 9, 10}) {
		t.Errorf("malformed lines %v (%v)", lines, err)
	}

	// Mixmaster reads digits where they are and blanks as 0, whatever the
	// spacing: "1 : 2: 3" at 28–35 is 1 h 2 min 3 s... as long as each
	// position holds a digit or a blank.
	odd := []byte(fmt.Sprintf("%-43s%%", "odd"))
	copy(odd[15:], "###########")
	copy(odd[28:], "1 :02: 3  9  9 ") // 28,29 "1 "; 31,32 "02"; 34,35 " 3"; 37–42 " 9  9 "
	l = mustParse(t, ParseMlist, v1List(string(odd)+"\n"))
	if r := l.Rows[0]; r.Latency != hms3(10, 2, 3) || r.Uptime != 90.9 || r.History != "########### " {
		t.Errorf("odd row %+v", r)
	}
}

func TestParseTolerance(t *testing.T) {
	text := strings.Join([]string{
		"<html><pre>",
		"Stats-Version: 2.0",
		"Generated: Tue 24 Nov 2026 13:58:02 GMT",
		"Mixmaster    Latent-Hist   Latent  Uptime-Hist   Uptime  Options",
		v2Rule,
		"",
		"alpha        000000000000    :12   ++++++++++++  100.0%   PR         IN",
		"broken row without percent",
		"bravo        011000000000   1:02   ++++++++9+++   99.2%  D R         IN9",
		"",
		"",
		"Some-Unknown-Section:",
		"whatever (x y)",
		"",
		"Broken type-II remailer chains:",
		"(alpha bravo)",
		"(alpha)",
		"( bravo  alpha )",
		"",
		"Remailer-Capabilities:",
		"",
		`$remailer{"alpha"} = "<mix@alpha.example.net> mix remix";`,
		`$remailer{"bravo"} = mix@bravo.example.net mix;`,
		"</pre></html>",
	}, "\r\n")
	l, err := ParseMlist2([]byte(text))
	if len(l.Rows) != 2 || l.Rows[0].Options != " PR         IN " || l.Rows[1].Name != "bravo" {
		t.Errorf("rows %+v", l.Rows)
	}
	if !slices.Equal(l.Broken2, []Pair{{"alpha", "bravo"}, {"bravo", "alpha"}}) {
		t.Errorf("broken %v", l.Broken2)
	}
	if len(l.Caps) != 1 || l.Caps[0].Name != "alpha" {
		t.Errorf("caps %+v", l.Caps)
	}
	var lines []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var le *LineError
		if errors.As(e, &le) && errors.Is(e, ErrSyntax) {
			lines = append(lines, le.Line)
		}
	}
	if !slices.Equal(lines, []int{8, 17, 23}) {
		t.Errorf("malformed lines %v: %v", lines, err)
	}
}

func TestNoTable(t *testing.T) {
	for name, parse := range map[string]func([]byte) (*List, error){"v2": ParseMlist2, "v1": ParseMlist} {
		l, err := parse([]byte("Broken type-II remailer chains:\n(a b)\n"))
		if !errors.Is(err, ErrNoTable) || l == nil || len(l.Broken2) != 1 {
			t.Errorf("%s: %v %+v", name, err, l)
		}
	}
	if _, err := ParseMlist2([]byte("Mixmaster    Latent-Hist   Latent  Uptime-Hist   Uptime  Options\n")); err != nil {
		t.Errorf("empty table: %v", err)
	}
}

// Stats → rows → text → rows: what the files can carry survives.
func TestRoundTrip(t *testing.T) {
	ps := xremPings()
	for k := range 60 {
		age := time.Duration(k) * 4 * time.Hour
		ps = append(ps, ping("slow", age, time.Duration(k%7+1)*97*time.Minute+13*time.Second))
		if k%5 != 0 {
			ps = append(ps, ping("lossy-remailer-name", age, 3*time.Minute+time.Duration(k)*time.Second))
		} else {
			ps = append(ps, ping("lossy-remailer-name", age, -1))
		}
		ps = append(ps, ping("dead", age, -1))
	}
	stats := Compute(ps, now, Options{})
	caps := map[string][]string{"xrem": {"mix"}, "slow": {"mix", "middle", "klen500"}, "lossy-remailer-name": {"mix", "post"}, "dead": {"mix"}}
	var l List
	l.Generated = now
	for name, s := range stats {
		l.Rows = append(l.Rows, NewRow(name, caps[name], s))
		l.Caps = append(l.Caps, Capstring{Name: name, Address: name + "@example.net", Caps: caps[name]})
	}
	SortRows(l.Rows, false)
	l.Broken2 = []Pair{{"*", "dead"}, {"dead", "*"}}

	text2 := RenderMlist2(&l)
	for _, line := range strings.Split(string(text2), "\n")[4:8] {
		if len(line) != 72 {
			t.Errorf("v2 row is %d bytes: %q", len(line), line)
		}
	}
	got2 := mustParse(t, ParseMlist2, string(text2))
	text1 := RenderMlist(&l)
	got1 := mustParse(t, ParseMlist, string(text1))
	for _, line := range strings.Split(strings.TrimSuffix(string(text1), "\n"), "\n")[10:] {
		if len(line) != 44 {
			t.Errorf("v1 row is %d bytes: %q", len(line), line)
		}
	}
	if len(got2.Rows) != 4 || len(got1.Rows) != 4 {
		t.Fatalf("rows %d / %d", len(got2.Rows), len(got1.Rows))
	}
	for i, r := range l.Rows {
		name := r.Name
		lat2, lat1 := r.Latency.Truncate(time.Minute), r.Latency.Truncate(time.Second)
		if r.Latency == NoLatency {
			lat2, lat1 = hm(99, 59), hms3(99, 59, 59)
		}
		a, b := got2.Rows[i], got1.Rows[i]
		if a.Name != name[:min(len(name), 12)] || a.LatentHist != r.LatentHist || a.UptimeHist != r.UptimeHist ||
			a.Options != r.Options || a.Latency != lat2 || math.Abs(a.Uptime-r.Uptime) > 0.05+1e-9 {
			t.Errorf("v2 %+v ← %+v", a, r)
		}
		if b.Name != name[:min(len(name), 14)] || b.History != r.History || b.Latency != lat1 || math.Abs(b.Uptime-r.Uptime) > 0.005+1e-9 {
			t.Errorf("v1 %+v ← %+v", b, r)
		}
	}
	if !slices.Equal(got2.Broken2, l.Broken2) || !slices.Equal(got1.Broken2, l.Broken2) || len(got2.Caps) != 4 {
		t.Errorf("broken %v %v caps %v", got2.Broken2, got1.Broken2, got2.Caps)
	}
	// Capability lines come out sorted, as Echolot prints them.
	if !slices.IsSortedFunc(got2.Caps, func(a, b Capstring) int { return strings.Compare(a.String(), b.String()) }) {
		t.Errorf("caps not sorted: %v", got2.Caps)
	}
}

func TestLatencyColumns(t *testing.T) {
	for _, c := range []struct {
		lat    time.Duration
		v2, v1 string
	}{
		{0, "  :00", "       0"},
		{59*time.Second + 999*time.Millisecond, "  :00", "      59"},
		{61 * time.Second, "  :01", "    1:01"},
		{hms3(0, 30, 0), "  :30", "   30:00"},
		{hms3(1, 55, 37), " 1:55", " 1:55:37"},
		{hms3(99, 59, 59), "99:59", "99:59:59"},
		{hm(100, 0), "99:59", "99:59:59"}, // Perl: int(sec/3600) = 100 > 99
		{hm(101, 0), "99:59", "99:59:59"},
		{-time.Second, "99:59", "99:59:59"},
		{NoLatency, "99:59", "99:59:59"},
	} {
		if got := latency2(c.lat); got != c.v2 {
			t.Errorf("%v: v2 %q, want %q", c.lat, got, c.v2)
		}
		if got := latency1(c.lat); got != c.v1 {
			t.Errorf("%v: v1 %q, want %q", c.lat, got, c.v1)
		}
	}
}

func TestCapstring(t *testing.T) {
	for _, c := range []struct {
		line string
		want Capstring
	}{
		{`$remailer{"alpha"} = "<alpha@remailer.test> mix remix inflt50 rhop5 post";`,
			Capstring{"alpha", "alpha@remailer.test", []string{"mix", "remix", "inflt50", "rhop5", "post"}}},
		{`  $remailer{"x"}="<test@mix.example>";  `, Capstring{"x", "test@mix.example", nil}},
		{"$remailer{\"y\"} = \"<y@z>  MIX\tMiddle \";\r", Capstring{"y", "y@z", []string{"MIX", "Middle"}}},
	} {
		got, err := ParseCapstring(c.line)
		if err != nil || got.Name != c.want.Name || got.Address != c.want.Address || !slices.Equal(got.Caps, c.want.Caps) {
			t.Errorf("%q: %+v %v", c.line, got, err)
		}
	}
	c, _ := ParseCapstring(`$remailer{"y"} = "<y@z>  MIX  Middle";`)
	if !c.Has("mix") || !c.Has("middle") || c.Has("post") || c.String() != `$remailer{"y"} = "<y@z> MIX Middle";` {
		t.Errorf("%+v %q", c, c.String())
	}
	// Words in the address are not capabilities (Echolot would set T and M).
	c, _ = ParseCapstring(`$remailer{"t"} = "<test@mix.remailer.test> middle";`)
	if got := OptionsColumn(c.Caps); got != "D              " {
		t.Errorf("options %q", got)
	}
	for _, bad := range []string{``, `$remailer{"a"} = "a@b mix";`, `$remailer{""} = "<a@b> mix";`,
		`$remailer{"a b"} = "<a@b> mix";`, `$remailer{"a"} = "<a@b> mix`, `remailer{"a"} = "<a@b>";`} {
		if _, err := ParseCapstring(bad); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

func TestOptionsColumn(t *testing.T) {
	for _, c := range []struct {
		caps string
		want string
	}{
		{"", "               "},
		{"mix middle", "D M            "},
		{"mix remix remix2 repgp repgp2 hybrid ext", "  2H2 X        "},
		{"cpunk anon-post-to ek esub", " P        eU   "},
		{"ek ekx", "          E    "},
		{"klen0", "              0"},
		{"klen99", "              0"},
		{"klen100", "              1"},
		{"klen950 klen100", "              9"}, // the first klen counts
		{"klen99999999999999999999", "              9"},
		{"klenx inflt rhop", "               "}, // need digits
		{"INFLT50 RHOP5 Test Latent PGPONLY MAX", "     O ATL  IN "},
	} {
		if got := OptionsColumn(strings.Fields(c.caps)); got != c.want {
			t.Errorf("%q: %q, want %q", c.caps, got, c.want)
		}
	}
}

func TestSortRows(t *testing.T) {
	rows := []Row{
		{Name: "c", Uptime: 90, Latency: time.Hour},
		{Name: "b", Uptime: 99.5, Latency: 3 * time.Hour},
		{Name: "a", Uptime: 99.5, Latency: NoLatency}, // sorts as 9999 s = 2 h 46 min
		{Name: "d", Uptime: 99.5, Latency: time.Minute},
	}
	SortRows(rows, false)
	if got := names(rows); got != "a b d c" {
		t.Errorf("by name: %s", got)
	}
	SortRows(rows, true)
	if got := names(rows); got != "d a b c" {
		t.Errorf("by latency: %s", got)
	}
}

func names(rows []Row) string {
	var s []string
	for _, r := range rows {
		s = append(s, r.Name)
	}
	return strings.Join(s, " ")
}

func TestDates(t *testing.T) {
	for _, s := range []string{"Tue 24 Nov 2026 13:58:02 GMT", " 24 Nov 2026 13:58:02 GMT", "Tue, 24 Nov 2026 13:58:02 GMT",
		"Tue, 24 Nov 2026 14:58:02 +0100", "Tue 24 Nov 2026 13:58:02 +0000"} {
		if d, err := parseDate(s); err != nil || !d.Equal(now) {
			t.Errorf("%q: %v %v", s, d, err)
		}
	}
	if _, err := parseDate("yesterday"); !errors.Is(err, ErrSyntax) {
		t.Error("bad date accepted")
	}
}
