package pinger

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mixgo/mixgo/internal/hub"
	"github.com/mixgo/mixgo/keyring"
)

// servedHarness is a harness with a day of pings to two remailers (one a
// middleman) and its HTTP and finger servers on loopback ports.
func servedHarness(t *testing.T) (h *harness, httpAddr, fingerAddr string) {
	h = newHarness(t, now.Add(-day), "xrem", "ymid")
	for k := 11; k >= 0; k-- {
		h.set(now.Add(-time.Duration(k)*2*time.Hour - time.Hour))
		mx := h.ping(xrem)
		h.ping("ymid@remailer.test") // never back
		h.deliver(mx, h.now().Add(time.Duration(k+1)*time.Minute))
	}
	h.set(now)
	h.p.Cfg.ClientTimeout = 300 * time.Millisecond
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := h.p.newHTTPServer()
	go hs.serve(hl)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.p.serveFinger(ctx, fl); close(done) }()
	t.Cleanup(func() {
		hs.close()
		cancel()
		fl.Close()
		<-done
	})
	return h, hl.Addr().String(), fl.Addr().String()
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestHTTP(t *testing.T) {
	_, addr, _ := servedHarness(t)
	base := "http://" + addr + "/"
	for _, d := range Documents {
		resp, body := get(t, base+d.Name)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != d.ContentType {
			t.Errorf("%s: %s %q", d.Name, resp.Status, resp.Header.Get("Content-Type"))
		}
		if d.Name != "broken.txt" && d.Name != "allpingers.txt" && body == "" {
			t.Errorf("%s is empty", d.Name)
		}
	}

	_, body := get(t, base+"mlist2.txt")
	l, err := ParseMlist2([]byte(body))
	if err != nil || len(l.Rows) != 2 || l.Rows[0].Name != "xrem" || l.Rows[0].Uptime != 100 || l.Rows[1].Uptime != 0 {
		t.Fatalf("mlist2.txt reads as %+v, %v\n%s", l, err, body)
	}
	if l.Rows[1].Options[0] != 'D' {
		t.Errorf("the middleman's options %q", l.Rows[1].Options)
	}
	_, body = get(t, base+"mlist.txt")
	if l1, err := ParseMlist([]byte(body)); err != nil || len(l1.Rows) != 2 {
		t.Errorf("mlist.txt reads as %+v, %v", l1, err)
	}
	_, body = get(t, base+"pubring.mix")
	if keys, errs := keyring.ParsePubring([]byte(body)); len(keys) != 2 || len(errs) != 0 {
		t.Errorf("pubring.mix: %d keys, %v", len(keys), errs)
	}
	_, body = get(t, base+"type2.list")
	if keys, errs := keyring.ParseType2List([]byte(body)); len(keys) != 2 || len(errs) != 0 {
		t.Errorf("type2.list: %d keys, %v", len(keys), errs)
	}
	_, body = get(t, base+"rlist2.txt")
	if l2, _ := ParseMlist2([]byte(body)); l2.Title != "Cypherpunk" || len(l2.Rows) != 0 {
		t.Errorf("rlist2.txt: %+v", l2)
	}

	_, body = get(t, base+"stats.json")
	var js jsonStats
	if err := json.Unmarshal([]byte(body), &js); err != nil {
		t.Fatal(err)
	}
	x := js.Remailers[0]
	// Latencies 12, 11, …, 1 minutes: the median is 6:30.
	if len(js.Remailers) != 2 || x.Name != "xrem" || x.Reliability != 1 || x.LatencySeconds == nil || *x.LatencySeconds != 390 ||
		x.Sent != 12 || x.Histogram["0"] != 12 || len(x.Days) != Days || js.Remailers[1].LatencySeconds != nil || !js.Remailers[1].Middleman {
		t.Errorf("stats.json: %+v", js)
	}

	resp, body := get(t, base+"metrics")
	if !strings.HasSuffix(body, "# EOF\n") || !strings.Contains(body, `mixgo_pinger_remailer_reliability{remailer="xrem"} 1`+"\n") ||
		!strings.Contains(body, `mixgo_pinger_remailer_latency_seconds{remailer="xrem"} 390`+"\n") ||
		!strings.Contains(body, `mixgo_pinger_events_total{event="ping-sent"} 24`) || strings.Contains(body, "remailer.test") {
		t.Errorf("metrics (%s):\n%s", resp.Header.Get("Content-Type"), body)
	}

	_, body = get(t, base)
	for _, want := range []string{"<svg", "<table", "xrem", "ymid", "middleman", "12 / 12", "today: 12 sent, 12 back"} {
		if !strings.Contains(body, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if strings.Contains(strings.ToLower(body), "<script") {
		t.Error("index.html has a script")
	}

	resp, _ = get(t, base+"nothing")
	if resp.StatusCode != 404 {
		t.Errorf("unknown path: %s", resp.Status)
	}
	r, err := http.Post(base+"mlist2.txt", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 405 {
		t.Errorf("POST: %s", r.Status)
	}
	req, _ := http.NewRequest("GET", base, nil)
	req.Header.Set("X-Big", strings.Repeat("x", 64<<10))
	if r, err := http.DefaultClient.Do(req); err == nil {
		r.Body.Close()
		if r.StatusCode != 431 {
			t.Errorf("64 KB header: %s", r.Status)
		}
	}

	// A client that sends half a request is cut off.
	if d := cutOff(t, addr, "GET / HTTP/1.1\r\n"); d > 3*time.Second {
		t.Errorf("slow HTTP client kept for %v", d)
	}
}

// cutOff sends text and waits until the server closes the connection.
func cutOff(t *testing.T, addr, text string) time.Duration {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, text)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, c)
	return time.Since(start)
}

func finger(t *testing.T, addr, query string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, query)
	b, _ := io.ReadAll(bufio.NewReader(c))
	return string(b)
}

func TestFinger(t *testing.T) {
	h, _, addr := servedHarness(t)
	out := finger(t, addr, "\r\n")
	if !strings.HasPrefix(out, "Stats-Version: 2.0\r\n") || strings.Contains(strings.ReplaceAll(out, "\r\n", ""), "\n") {
		t.Errorf("finger @host:\n%q", out)
	}
	mlist2, _, _ := h.p.Render("mlist2.txt", now)
	if strings.ReplaceAll(out, "\r\n", "\n") != string(mlist2) {
		t.Error("finger @host is not mlist2.txt")
	}
	help := finger(t, addr, "help\r\n")
	for _, want := range []string{"finger @pinger.test", "finger keys@pinger.test", "finger chains@pinger.test", "finger NAME@pinger.test"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if out := finger(t, addr, "/W keys\r\n"); !strings.Contains(out, "-----Begin Mix Key-----") {
		t.Errorf("keys: %q", out)
	}
	if out := finger(t, addr, "xrem\r\n"); !strings.Contains(out, "xrem <xrem@remailer.test>") || !strings.Contains(out, "today      12    12") {
		t.Errorf("xrem:\n%s", out)
	}
	if out := finger(t, addr, "chains\r\n"); out != "No broken chains.\r\n" {
		t.Errorf("chains: %q", out)
	}
	if out := finger(t, addr, "user@elsewhere.test\r\n"); !strings.Contains(out, "forwarding") {
		t.Errorf("forwarding: %q", out)
	}
	if out := finger(t, addr, "nobody\x07\r\n"); !strings.Contains(out, `Nothing known as "nobody"`) {
		t.Errorf("unknown: %q", out)
	}
	if out := finger(t, addr, strings.Repeat("x", 2000)); !strings.Contains(out, "too long") {
		t.Errorf("long query: %q", out)
	}
	if d := cutOff(t, addr, "hel"); d > 3*time.Second {
		t.Errorf("slow finger client kept for %v", d)
	}
}

func TestPlanning(t *testing.T) {
	h := newHarness(t, now, "xrem", "yrem", "zrem")
	if n := h.p.PlanPings(now, 2*time.Hour); n != 3 {
		t.Fatalf("%d pings planned", n)
	}
	if n := h.p.PlanChains(now, 2*time.Hour, false); n != 6 {
		t.Fatalf("%d chain pings planned", n)
	}
	due, items, err := h.p.Store.TakeDue(now.Add(2*time.Hour), 100)
	if err != nil || len(items) != 9 {
		t.Fatalf("%d items, %v", len(items), err)
	}
	pairs := map[string]bool{}
	for i, it := range items {
		if due[i].Before(now) || !due[i].Before(now.Add(2*time.Hour)) || (i > 0 && due[i].Before(due[i-1])) {
			t.Errorf("item %d due at %v", i, due[i])
		}
		pairs[strings.Join(it.Targets, ">")] = true
	}
	if len(pairs) != 9 || !pairs[xrem] || !pairs[yrem+">"+xrem] || pairs[xrem+">"+xrem] {
		t.Errorf("planned %v", pairs)
	}
	if _, items, _ := h.p.Store.TakeDue(now.Add(3*time.Hour), 100); len(items) != 0 {
		t.Error("taken items stayed planned")
	}
	// Nine moments out of two hours: all equal would be a broken draw.
	if due[0].Equal(due[8]) {
		t.Error("plan is not spread")
	}
	for _, bad := range []string{"* * *", "@every", "61 * * * *"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("schedule %q accepted", bad)
		}
	}
	if s, err := ParseSchedule("@every 3s"); err != nil || s.Next(now).Sub(now) != 3*time.Second {
		t.Errorf("@every 3s: %v", err)
	}
}

func TestMedian(t *testing.T) {
	row := func(name, lh string, lat time.Duration, uh string, up float64, opts string) Row {
		return Row{Name: name, LatentHist: lh, Latency: lat, UptimeHist: uh, Uptime: up, Options: opts}
	}
	a := &List{Rows: []Row{
		row("alpha", "000000000000", 5*time.Minute, "++++++++++++", 100, "  M            "),
		row("bravo", "111111111111", 40*time.Minute, "999999999999", 90, "D M            "),
	}, Broken2: []Pair{{"alpha", "bravo"}, {Any, "bravo"}}, Caps: []Capstring{{Name: "alpha", Address: "a@x", Caps: []string{"mix"}}}}
	b := &List{Rows: []Row{
		row("alpha", "11111111111?", 9*time.Minute, "99999999999?", 96, "  M            "),
		row("bravo", "222222222222", 70*time.Minute, "888888888888", 80, "D M            "),
	}, Broken2: []Pair{{"alpha", "bravo"}}}
	c := &List{Rows: []Row{
		row("alpha", "22222222222?", NoLatency, "00000000000?", 0, " PM            "),
		row("charlie", "????????????", NoLatency, "000000000000", 0, "  M            "),
	}, Broken2: []Pair{{Any, "bravo"}, {"charlie", Any}}}
	m := MedianList([]*List{a, b, c}, now)
	if len(m.Rows) != 3 {
		t.Fatalf("rows %+v", m.Rows)
	}
	al := m.Rows[0]
	// Uptime median of 100, 96, 0; latency median of the known 5 and 9
	// minutes; per day the middle class; today only the first list knows.
	if al.Uptime != 96 || al.Latency != 7*time.Minute || al.LatentHist != "111111111110" || al.UptimeHist != "99999999999+" ||
		al.Options != "  M            " || al.History != "************" {
		t.Errorf("alpha %+v", al)
	}
	br := m.Rows[1]
	if br.Uptime != 85 || br.Latency != 55*time.Minute || br.LatentHist != "111111111111" || br.UptimeHist != "888888888888" {
		t.Errorf("bravo %+v", br)
	}
	if ch := m.Rows[2]; ch.Latency != NoLatency || ch.LatentHist != "????????????" || ch.History != "            " {
		t.Errorf("charlie %+v", ch)
	}
	if got := m.Broken2; len(got) != 2 || got[0] != (Pair{Any, "bravo"}) || got[1] != (Pair{"alpha", "bravo"}) {
		t.Errorf("broken %v", got)
	}
	if len(m.Caps) != 1 {
		t.Errorf("caps %v", m.Caps)
	}
	if l, err := ParseMlist2(RenderMlist2(m)); err != nil || len(l.Rows) != 3 {
		t.Errorf("median list reads back as %+v, %v", l, err)
	}
}

func TestFetchPeers(t *testing.T) {
	h, addr, _ := servedHarness(t)
	// The pinger fetches its own list as a peer's, and a broken URL.
	self := "http://" + addr + "/mlist2.txt"
	h.p.Cfg.AllPingers = []string{self, "http://" + addr + "/nothing", "ftp://x/"}
	h.p.FetchPeers(context.Background())
	if c := h.p.Counts(); c["peer-fetched"] != 1 || c["peer-fetch-failed"] != 2 {
		t.Errorf("counts %v", c)
	}
	v, _ := h.p.View(now)
	m, err := h.p.Median(v)
	if err != nil || len(m.Sources) != 2 || m.Sources[1] != self {
		t.Fatalf("median sources %v, %v", m.Sources, err)
	}
	// Two identical lists: the median is the list (latency cut to minutes
	// by the v2 format: 6:30 → 6:00, median of 6:30 and 6:00 is 6:15).
	if r := m.List.Rows[0]; r.Name != "xrem" || r.Uptime != 100 || r.Latency != 375*time.Second {
		t.Errorf("median row %+v", r)
	}
	if got := string(h.p.allPingersText()); !strings.Contains(got, "["+addr+"]\nbase=http://"+addr+"/\nmlist=http://"+addr+"/mlist.txt") {
		t.Errorf("allpingers.txt:\n%s", got)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRun runs the whole service on loopback ports: the schedule sends a
// ping into the spool, the "remailer" (the harness) carries it, it comes
// back over SMTP to the pinger's listener, and HTTP publishes the result.
func TestRun(t *testing.T) {
	h := newHarness(t, time.Now(), "xrem")
	h.p.Clock = time.Now
	smtpAt, httpAt, fingerAt := freeAddr(t), freeAddr(t), freeAddr(t)
	h.p.Cfg.Listen, h.p.Cfg.HTTP, h.p.Cfg.Finger = smtpAt, httpAt, fingerAt
	h.p.Cfg.Schedules = Schedules{Ping: "@every 1s"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	deadline := time.Now().Add(15 * time.Second)
	var mails [][]byte
	for len(mails) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		mails = h.outgoing()
	}
	if len(mails) == 0 {
		t.Fatal("no ping sent")
	}
	back := h.carry(mails[0], []string{xrem})
	if err := hub.Send(smtpAt, "xrem@remailer.test", []string{pingerAddr}, back); err != nil {
		t.Fatal(err)
	}
	if err := hub.Send(smtpAt, "x@y.test", []string{"someone@pinger.test"}, back); err == nil {
		t.Error("the listener took mail for another address")
	}
	for {
		_, body := get(t, "http://"+httpAt+"/mlist2.txt")
		if l, _ := ParseMlist2([]byte(body)); len(l.Rows) == 1 && l.Rows[0].LatentHist[Days-1] == '0' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the returned ping is not in mlist2.txt:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := finger(t, fingerAt, "\r\n"); !strings.Contains(out, "xrem") {
		t.Errorf("finger: %q", out)
	}
}
