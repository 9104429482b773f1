package client

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/pinger"
)

// now is the tests' clock; keys and statistics are dated from it.
var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// remailer is one remailer of the test network: its key attributes and
// what the statistics say of it.
type remailer struct {
	name     string
	caps     keyring.Caps
	uptime   float64       // percent
	latency  time.Duration // median
	capWords []string      // its capability line (klen…)
	noKey    bool          // in type2.list and the statistics, not in pubring.mix
}

// network is a mix of reliability, latency and capabilities: which
// remailers the thresholds let through is known for each.
var network = []remailer{
	{name: "good1", caps: "CNm", uptime: 100, latency: 10 * time.Minute, capWords: []string{"mix", "post"}}, // the only one that posts
	{name: "good2", caps: "C", uptime: 99.9, latency: 20 * time.Minute},
	{name: "good3", caps: "C", uptime: 99.5, latency: 2 * time.Hour},
	{name: "good4", caps: "C", uptime: 100, latency: 35 * time.Hour},
	{name: "good5", caps: "C", uptime: 99.2, latency: 6 * time.Minute},
	{name: "small", caps: "C", uptime: 100, latency: 15 * time.Minute, capWords: []string{"mix", "klen10"}}, // delivers ≤ 10 kB
	{name: "nocomp", caps: "", uptime: 100, latency: 15 * time.Minute},                                      // no C
	{name: "hop98", caps: "C", uptime: 98.5, latency: 30 * time.Minute},                                     // a hop, not an exit (relfinal 99)
	{name: "middle", caps: "MC", uptime: 100, latency: 12 * time.Minute, capWords: []string{"mix", "middle"}},
	{name: "flaky", caps: "C", uptime: 91.3, latency: 25 * time.Minute},       // below minrel
	{name: "slow", caps: "C", uptime: 100, latency: 40 * time.Hour},           // above maxlat
	{name: "hasty", caps: "C", uptime: 100, latency: 2 * time.Minute},         // below minlat
	{name: "ghost", uptime: 100, latency: 10 * time.Minute, noKey: true},      // no key
	{name: "unlisted", caps: "C", uptime: -1, latency: 10 * time.Minute},      // key, no statistics
	{name: "banned", caps: "C", uptime: 100, latency: 10 * time.Minute},       // in starex
	{name: "brokenb", caps: "C", uptime: 100, latency: 10 * time.Minute},      // never right after good2
	{name: "deadend", caps: "C", uptime: 99.99, latency: 9 * time.Minute},     // sends to nobody: (deadend *)
	{name: "lonely", caps: "C", uptime: 99.99, latency: 9*time.Minute + 59e9}, // (* lonely): nobody sends to it
}

var brokenPairs = []pinger.Pair{{From: "good2", To: "brokenb"}, {From: "deadend", To: "*"}, {From: "*", To: "lonely"}}

// fixture is the network's files, made once (key generation is the slow
// part).
type fixture struct {
	pubring, type2, mlist2, mlist []byte
}

var (
	fixOnce sync.Once
	fix     fixture
)

func getFixture(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() {
		var pub, t2 bytes.Buffer
		l := &pinger.List{Generated: now.Add(-2 * time.Hour), Broken2: brokenPairs}
		for _, r := range network {
			addr := r.name + "@remailer.test"
			sk, err := keyring.Generate(1024, now.Add(-48*time.Hour), 365*24*time.Hour)
			if err != nil {
				panic(err)
			}
			pk := sk.Public(r.name, addr, "2:3.0.2d", r.caps)
			if !r.noKey {
				pub.Write(pk.KeyTxt())
			}
			t2.WriteString(pk.Type2Line() + "\n")
			if r.uptime < 0 {
				continue
			}
			words := r.capWords
			if words == nil {
				words = []string{"mix"}
			}
			l.Rows = append(l.Rows, pinger.Row{
				Name: r.name, LatentHist: "000000000000", History: "************", Latency: r.latency,
				UptimeHist: "++++++++++++", Uptime: r.uptime, Options: pinger.OptionsColumn(words),
			})
			l.Caps = append(l.Caps, pinger.Capstring{Name: r.name, Address: addr, Caps: words})
		}
		pinger.SortRows(l.Rows, false)
		fix.pubring, fix.type2 = pub.Bytes(), t2.Bytes()
		fix.mlist2, fix.mlist = pinger.RenderMlist2(l), pinger.RenderMlist(l)
	})
	return &fix
}

func capsOf(name string, words ...string) pinger.Capstring {
	return pinger.Capstring{Name: name, Address: name + "@remailer.test", Caps: append([]string{"mix"}, words...)}
}
