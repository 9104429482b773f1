//go:build screenshot

package pinger

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScreenshot loads the HTML statistics page in real headless Chromium
// and saves a screenshot for the README (docs/pinger-stats.png). Run it
// with `make screenshot`; it needs the chromium package (`make deps`).
//
// The data are synthetic, drawn from a fixed seed: 12 days of two-hourly
// pings to six remailers shaped like the examples of the Echolot document
// (a fast middleman, a slow one, a lossy one, a dead one) and chain pings
// with one broken pair.
func TestScreenshot(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is missing: run `make deps`")
	}
	h := newHarness(t, now.Add(-13*day), "austria", "dizum", "slowpoke", "frell", "hermes", "dead")
	h.set(now)
	h.p.importSeed(now)
	h.p.Cfg.Name = "mixgo pinger (synthetic data)"
	rng := rand.New(rand.NewPCG(1, 2))
	type shape struct {
		addr     string
		lat      time.Duration
		spread   float64 // latency varies by ± this share
		loss     float64
		lossDays int // loss only on the newest days (0 = all)
	}
	shapes := []shape{
		{"austria@remailer.test", 5 * time.Minute, 0.6, 0, 0},
		{"dizum@remailer.test", 14 * time.Minute, 0.5, 0.04, 0},
		{"slowpoke@remailer.test", 8 * time.Hour, 0.3, 0.04, 0},
		{"frell@remailer.test", 37 * time.Minute, 0.5, 0.09, 0},
		{"hermes@remailer.test", 115 * time.Minute, 0.4, 0.28, 0},
		{"dead@remailer.test", time.Hour, 0, 1, 0},
	}
	var recs []PingRecord
	for _, s := range shapes {
		for k := 143; k >= 0; k-- {
			sent := now.Add(-time.Duration(k)*2*time.Hour - time.Duration(rng.IntN(7200))*time.Second)
			r := PingRecord{Remailers: []string{s.addr}, KeyIDs: []string{"00"}, Sent: sent}
			lat := time.Duration(float64(s.lat) * (1 + s.spread*(2*rng.Float64()-1)))
			if rng.Float64() >= s.loss && !sent.Add(lat).After(now) {
				r.Received = sent.Add(lat)
			}
			recs = append(recs, r)
		}
	}
	for i, a := range shapes {
		for j, b := range shapes {
			if i == j {
				continue
			}
			for d := 1; d <= 4; d++ {
				r := PingRecord{Remailers: []string{a.addr, b.addr}, KeyIDs: []string{"00", "00"}, Sent: now.Add(-time.Duration(d)*day - time.Duration(rng.IntN(3600))*time.Second)}
				broken := a.addr == "hermes@remailer.test" && b.addr == "frell@remailer.test"
				if a.loss < 1 && b.loss < 1 && !broken && rng.Float64() > 0.1 {
					r.Received = r.Sent.Add(a.lat + b.lat)
				}
				recs = append(recs, r)
			}
		}
	}
	for i := range recs {
		recs[i].Nonce[0], recs[i].Nonce[1] = byte(i), byte(i>>8)
		if err := h.p.Store.AddPing(recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	h.p.changed()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := h.p.newHTTPServer()
	go hs.serve(l)
	defer hs.close()
	url := "http://" + l.Addr().String() + "/"

	chrome := func(args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1",
			"--user-data-dir=" + t.TempDir()}
		out, err := exec.CommandContext(ctx, browser, append(base, args...)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		return out
	}
	dom := string(chrome("--dump-dom", url))
	for _, want := range []string{"<table", "<svg", "austria", "slowpoke", "(hermes frell)", "(* dead)"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page Chromium loaded lacks %q", want)
		}
	}
	shot, err := filepath.Abs(filepath.Join("..", "docs", "pinger-stats.png"))
	if err != nil {
		t.Fatal(err)
	}
	chrome("--window-size=1240,1400", "--screenshot="+shot, url)
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 10000 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot %s: %d bytes, %v", shot, len(png), err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}
