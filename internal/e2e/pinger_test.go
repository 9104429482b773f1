package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/pinger"
)

// The pinger role end to end: a pinger-only mixd finds three real mixd
// remailers by remailer-key/remailer-conf requests, pings them and every
// pair on short schedules, and publishes over HTTP and finger (port 79,
// for the real Debian finger client, which cannot be told another port).
// Stopping one remailer makes its reliability fall and the chains through
// it broken; a restart of the pinger keeps every measurement.

// pingerNode creates and starts a pinger-only mixd for the network.
func (nw *network) pingerNode(t *testing.T, httpAt, fingerAt string, conf ...string) *node {
	t.Helper()
	p := &node{name: "pinger", addr: "pinger@pinger.test", listen: freePort(t), dir: filepath.Join(nw.root, "pinger")}
	run(t, nil, bin("mixd"), "init", "--dir", p.dir, "--pinger-only", "--name", "pinger", "--address", p.addr,
		"--listen", p.listen, "--deliver", "smtp://"+nw.hubAt)
	var remailers []string
	for _, n := range nw.nodes {
		remailers = append(remailers, n.addr)
	}
	base := []string{"pinger_http = " + httpAt, "pinger_finger = " + fingerAt,
		"pinger_remailers = " + strings.Join(remailers, " "), "log_level = debug", "hostname = pinger.localhost"}
	appendFile(t, filepath.Join(p.dir, "mixd.conf"), strings.Join(append(base, conf...), "\n")+"\n")
	nw.hub.Route(p.addr, p.listen)
	p.start(t)
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("log of the pinger:\n%s", p.logText())
		}
	})
	return p
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return data
}

type pingerStats struct {
	Remailers []struct {
		Name           string   `json:"name"`
		Capabilities   string   `json:"capabilities"`
		AllowedHeaders []string `json:"allowed_headers"`
		Reliability    float64  `json:"reliability"`
		Sent           int      `json:"pings_sent"`
		Returned       int      `json:"pings_returned"`
	} `json:"remailers"`
	BrokenChains []struct{ From, To string } `json:"broken_chains"`
}

func (s pingerStats) byName(name string) (rel float64, sent, back int, ok bool) {
	for _, r := range s.Remailers {
		if r.Name == name {
			return r.Reliability, r.Sent, r.Returned, true
		}
	}
	return 0, 0, 0, false
}

// waitStats polls stats.json until ok says so.
func waitStats(t *testing.T, base, what string, timeout time.Duration, ok func(pingerStats) bool) pingerStats {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var s pingerStats
	for {
		s = pingerStats{}
		if err := json.Unmarshal(httpGet(t, base+"stats.json"), &s); err != nil {
			t.Fatal(err)
		}
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v; last stats %+v", what, timeout, s)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// needFinger fails (never skips) when the finger test cannot run.
func needFinger(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("finger")
	if err != nil {
		t.Fatal("the finger client is missing: run `make deps` (apt-get install finger)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the finger test serves 127.0.0.1:79 and must run as root (as CI does)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:79")
	if err != nil {
		t.Fatalf("127.0.0.1:79 is taken (another test run at the same time?): %v", err)
	}
	l.Close()
	return path
}

func TestPingerMeasuresNetwork(t *testing.T) {
	fingerBin := needFinger(t)
	start := time.Now()
	nw := newNetwork(t, []string{"alpha", "bravo", "charlie"}, nil)
	nw.startAll()
	httpAt := freePort(t)
	base := "http://" + httpAt + "/"
	p := nw.pingerNode(t, httpAt, "127.0.0.1:79",
		"pinger_ping_schedule = @every 1s", "pinger_chain_schedule = @every 1s", "pinger_chain_ic_schedule = ",
		"pinger_discovery_schedule = @every 4s",
		// Seconds-long latencies: no 15-minute grace before a ping counts
		// as lost, and chain pings judged over the last 10 seconds.
		"pinger_skew_abs = 0s", "pinger_chain_period = 10s")

	// Discovery: keys and capabilities come from the remailers' answers,
	// then every remailer's pings come back.
	s := waitStats(t, base, "three remailers discovered and measured", 40*time.Second, func(s pingerStats) bool {
		if len(s.Remailers) != 3 {
			return false
		}
		for _, r := range s.Remailers {
			if r.Returned < 3 || r.Reliability < 0.99 {
				return false
			}
		}
		return true
	})
	t.Logf("%v: three remailers discovered and measured", time.Since(start).Round(time.Millisecond))
	for _, r := range s.Remailers {
		if !strings.Contains(r.Capabilities, "remix inflt50 rhop5") || len(r.AllowedHeaders) == 0 {
			t.Errorf("%s: capabilities %q, allowed headers %v (not from its remailer-conf answer?)", r.Name, r.Capabilities, r.AllowedHeaders)
		}
	}

	// The real finger client.
	out, err := exec.Command(fingerBin, "@127.0.0.1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Stats-Version: 2.0") || !strings.Contains(string(out), "Remailer-Capabilities:") ||
		!strings.Contains(string(out), "alpha ") {
		t.Errorf("finger @127.0.0.1: %v\n%s", err, out)
	}
	out, err = exec.Command(fingerBin, "help@127.0.0.1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "finger keys@pinger.test") || !strings.Contains(string(out), "finger chains@pinger.test") {
		t.Errorf("finger help@127.0.0.1: %v\n%s", err, out)
	}
	out, err = exec.Command(fingerBin, "keys@127.0.0.1").CombinedOutput()
	if err != nil || strings.Count(string(out), "-----Begin Mix Key-----") != 3 {
		t.Errorf("finger keys@127.0.0.1: %v\n%s", err, out)
	}

	// Stop charlie: its pings stop coming back, and so do the chain pings
	// through it.
	nw.nodes["charlie"].stop(t)
	s = waitStats(t, base, "charlie unreliable and its chains broken", 45*time.Second, func(s pingerStats) bool {
		rel, _, _, _ := s.byName("charlie")
		in, out := false, false
		for _, b := range s.BrokenChains {
			in = in || b.To == "charlie"
			out = out || b.From == "charlie"
		}
		return rel < 0.5 && in && out
	})
	t.Logf("%v: charlie stopped, unreliable and its chains broken", time.Since(start).Round(time.Millisecond))
	for _, name := range []string{"alpha", "bravo"} {
		if rel, _, _, _ := s.byName(name); rel < 0.9 {
			t.Errorf("%s's reliability fell to %.2f with charlie", name, rel)
		}
	}
	for _, b := range s.BrokenChains {
		if b.From != "charlie" && b.To != "charlie" {
			t.Errorf("broken chain (%s %s) does not involve charlie", b.From, b.To)
		}
	}

	// Every published file reads back with our own parsers.
	mlist2 := httpGet(t, base+"mlist2.txt")
	l, err := pinger.ParseMlist2(mlist2)
	if err != nil || len(l.Rows) != 3 || l.Rows[2].Name != "charlie" || l.Rows[2].Uptime >= 50 || len(l.Broken2) == 0 || len(l.Caps) != 3 {
		t.Errorf("mlist2.txt reads as %+v, %v:\n%s", l, err, mlist2)
	}
	if l1, err := pinger.ParseMlist(httpGet(t, base+"mlist.txt")); err != nil || len(l1.Rows) != 3 || len(l1.Broken2) == 0 {
		t.Errorf("mlist.txt reads as %+v, %v", l1, err)
	}
	if keys, errs := keyring.ParsePubring(httpGet(t, base+"pubring.mix")); len(keys) != 3 || len(errs) != 0 {
		t.Errorf("pubring.mix: %d keys, %v", len(keys), errs)
	}
	if keys, errs := keyring.ParseType2List(httpGet(t, base+"type2.list")); len(keys) != 3 || len(errs) != 0 {
		t.Errorf("type2.list: %d lines, %v", len(keys), errs)
	}
	if broken := string(httpGet(t, base+"broken.txt")); !strings.Contains(broken, "charlie") {
		t.Errorf("broken.txt: %q", broken)
	}
	if m := string(httpGet(t, base+"metrics")); !strings.HasSuffix(m, "# EOF\n") || !strings.Contains(m, `mixgo_pinger_remailer_reliability{remailer="charlie"}`) {
		t.Errorf("metrics:\n%s", m)
	}
	if page := string(httpGet(t, base)); !strings.Contains(page, "<svg") || !strings.Contains(page, "charlie") {
		t.Errorf("index.html lacks the charts")
	}

	// A restart keeps the measurements (bbolt store).
	_, sent, back, _ := s.byName("alpha")
	p.stop(t)
	p.start(t)
	waitStats(t, base, "statistics kept across a restart", 10*time.Second, func(s pingerStats) bool {
		_, sent2, back2, ok := s.byName("alpha")
		rel, _, _, _ := s.byName("charlie")
		return ok && sent2 >= sent && back2 >= back && rel < 0.5
	})
	if strings.Contains(p.logText(), "level=ERROR msg=\"storing") {
		t.Errorf("storage errors:\n%s", p.logText())
	}
}
