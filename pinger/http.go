package pinger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mixgo/mixgo/internal/netlimit"
)

// Publication over HTTP: the Echolot files (mlist2.txt, mlist.txt,
// rlist2.txt, type2.list, pubring.mix), the broken-chain list, an HTML page,
// JSON, OpenMetrics, and the median view of several pingers. Everything is
// computed from the store on request (cached, see View); nothing is written
// to disk. Slow or greedy clients are cut off: header and body timeouts, a
// small header limit, GET and HEAD only, a connection limit.

// Document is one published file.
type Document struct {
	Name        string // path without the leading slash
	ContentType string
	What        string // one line for the help texts
	render      func(p *Pinger, v *View) ([]byte, error)
}

const (
	ctText = "text/plain; charset=utf-8"
	ctHTML = "text/html; charset=utf-8"
	ctJSON = "application/json"
	ctOM   = "application/openmetrics-text; version=1.0.0; charset=utf-8"
)

// Documents are the published files, in the order the help lists them.
var Documents = []Document{
	{"mlist2.txt", ctText, "Type II statistics, Echolot v2 format (what clients and YAMN read)",
		func(p *Pinger, v *View) ([]byte, error) { return RenderMlist2(v.List), nil }},
	{"mlist.txt", ctText, "Type II statistics, v1 format (what Mixmaster 3 clients read)",
		func(p *Pinger, v *View) ([]byte, error) { return RenderMlist(v.List), nil }},
	{"rlist2.txt", ctText, "Type I statistics, v2 format (empty: this pinger measures Type II only)",
		func(p *Pinger, v *View) ([]byte, error) { return RenderRlist2(v.Type1), nil }},
	{"type2.list", ctText, "the listed remailers' key lines",
		func(p *Pinger, v *View) ([]byte, error) { return v.Type2Text(), nil }},
	{"pubring.mix", ctText, "the listed remailers' keys",
		func(p *Pinger, v *View) ([]byte, error) { return v.PubringText(), nil }},
	{"broken.txt", ctText, "broken chains, one (entry exit) pair a line",
		func(p *Pinger, v *View) ([]byte, error) { return v.BrokenText(), nil }},
	{"stats.json", ctJSON, "all statistics as JSON",
		func(p *Pinger, v *View) ([]byte, error) { return p.renderJSON(v) }},
	{"metrics", ctOM, "OpenMetrics (aggregates only)",
		func(p *Pinger, v *View) ([]byte, error) { return p.renderMetrics(v), nil }},
	{"median/mlist2.txt", ctText, "median of this and the other pingers' lists, v2 format",
		func(p *Pinger, v *View) ([]byte, error) {
			m, err := p.Median(v)
			if err != nil {
				return nil, err
			}
			return RenderMlist2(m.List), nil
		}},
	{"median/mlist.txt", ctText, "the same median view, v1 format",
		func(p *Pinger, v *View) ([]byte, error) {
			m, err := p.Median(v)
			if err != nil {
				return nil, err
			}
			return RenderMlist(m.List), nil
		}},
	{"allpingers.txt", ctText, "the pingers of the median view (Mixmaster's allpingers.txt format)",
		func(p *Pinger, v *View) ([]byte, error) { return p.allPingersText(), nil }},
	{"index.html", ctHTML, "this page: a table with latency charts",
		func(p *Pinger, v *View) ([]byte, error) { return p.renderHTML(v) }},
}

// Render returns a published file by name at now.
func (p *Pinger) Render(name string, now time.Time) ([]byte, string, error) {
	i := slices.IndexFunc(Documents, func(d Document) bool { return d.Name == name })
	if i < 0 {
		return nil, "", fmt.Errorf("pinger: no document %q", name)
	}
	v, err := p.View(now)
	if err != nil {
		return nil, "", err
	}
	data, err := Documents[i].render(p, v)
	return data, Documents[i].ContentType, err
}

type httpServer struct {
	srv *http.Server
	l   *netlimit.Listener
}

func (p *Pinger) newHTTPServer() *httpServer {
	mux := http.NewServeMux()
	mux.HandleFunc("/", p.serveHTTP)
	t := p.Cfg.ClientTimeout
	return &httpServer{srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: t,
		ReadTimeout:       t,
		WriteTimeout:      3 * t,
		IdleTimeout:       6 * t,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(p.Log.Handler(), slog.LevelDebug), // peers' addresses stay out of the default log
	}}
}

func (h *httpServer) serve(l net.Listener) error {
	h.l = netlimit.New(l, 64, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	err := h.srv.Serve(h.l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (h *httpServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if h.srv.Shutdown(ctx) != nil {
		h.srv.Close()
	}
}

func (p *Pinger) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" {
		name = "index.html"
	}
	data, ct, err := p.Render(name, p.Clock())
	if err != nil {
		if strings.Contains(err.Error(), "no document") {
			http.NotFound(w, r)
			return
		}
		p.Log.Error("rendering", "document", name, "err", err)
		http.Error(w, "statistics unavailable", http.StatusInternalServerError)
		return
	}
	p.counts.Inc("http-served")
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Cache-Control", "max-age=60")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(data)
}

// JSON.

type jsonPair struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type jsonDay struct {
	DaysAgo        int      `json:"days_ago"`
	Sent           int      `json:"sent"`
	Returned       int      `json:"returned"`
	Uptime         float64  `json:"uptime"`
	LatencySeconds *float64 `json:"latency_seconds"`
}

type jsonRemailer struct {
	Name            string         `json:"name"`
	Address         string         `json:"address"`
	KeyID           string         `json:"key_id"`
	Capabilities    string         `json:"capabilities"`
	Middleman       bool           `json:"middleman"`
	Hidden          bool           `json:"hidden,omitempty"`
	Reliability     float64        `json:"reliability"`
	LatencySeconds  *float64       `json:"latency_seconds"`
	LatentHist      string         `json:"latent_hist"`
	UptimeHist      string         `json:"uptime_hist"`
	Options         string         `json:"options"`
	Sent            int            `json:"pings_sent"`
	Returned        int            `json:"pings_returned"`
	Days            []jsonDay      `json:"days"`
	Histogram       map[string]int `json:"latency_histogram"`
	AllowedHeaders  []string       `json:"allowed_headers,omitempty"`
	FilteredHeaders []string       `json:"filtered_headers,omitempty"`
	LastConf        *time.Time     `json:"last_conf,omitempty"`
	LastKey         *time.Time     `json:"last_key,omitempty"`
}

type jsonStats struct {
	Pinger        string         `json:"pinger"`
	Address       string         `json:"address"`
	Generated     time.Time      `json:"generated"`
	Remailers     []jsonRemailer `json:"remailers"`
	BrokenChains  []jsonPair     `json:"broken_chains"`
	BrokenPairs   []jsonPair     `json:"broken_pairs"`
	ChainPings    int            `json:"chain_pings"`
	ChainReturned int            `json:"chain_pings_returned"`
}

func seconds(d time.Duration) *float64 {
	s := math.Floor(d.Seconds())
	return &s
}

func pairsJSON(ps []Pair) []jsonPair {
	out := make([]jsonPair, 0, len(ps))
	for _, p := range ps {
		out = append(out, jsonPair{p.From, p.To})
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (p *Pinger) renderJSON(v *View) ([]byte, error) {
	out := jsonStats{Pinger: p.Cfg.Name, Address: p.Cfg.Address, Generated: v.Generated.UTC(),
		Remailers: []jsonRemailer{}, BrokenChains: pairsJSON(v.Broken), BrokenPairs: pairsJSON(v.BrokenPairs),
		ChainPings: v.ChainPings, ChainReturned: v.ChainReturned}
	for _, r := range v.Remailers {
		s := r.Stats
		jr := jsonRemailer{Name: r.Name, Address: r.Address, KeyID: fmt.Sprintf("%x", r.Key.KeyID[:]),
			Capabilities: r.Caps.String(), Middleman: r.Record.Middleman || r.Caps.Has("middle"), Hidden: r.Hidden,
			Reliability: s.Reliability, LatentHist: r.Row.LatentHist, UptimeHist: r.Row.UptimeHist, Options: r.Row.Options,
			Sent: s.Sent, Returned: s.Returned, Histogram: map[string]int{},
			AllowedHeaders: r.Record.AllowedHeaders, FilteredHeaders: r.Record.FilteredHeaders,
			LastConf: timePtr(r.Record.ConfAt), LastKey: timePtr(r.Record.KeyAt)}
		if s.Returned > 0 {
			jr.LatencySeconds = seconds(s.Latency)
		}
		for d, ds := range s.Day {
			jd := jsonDay{DaysAgo: d, Sent: ds.Sent, Returned: ds.Returned, Uptime: ds.Uptime()}
			if ds.Returned > 0 {
				jd.LatencySeconds = seconds(ds.Latency)
			}
			jr.Days = append(jr.Days, jd)
		}
		for i, n := range s.Histogram {
			if n > 0 {
				jr.Histogram[string(LatencyClasses[i])] = n
			}
		}
		out.Remailers = append(out.Remailers, jr)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// OpenMetrics: per-remailer figures that the lists publish anyway, and
// this process's counters. No per-ping series, nothing about single
// messages.

func omLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func (p *Pinger) renderMetrics(v *View) []byte {
	var b bytes.Buffer
	family := func(name, typ, unit, help string) {
		fmt.Fprintf(&b, "# TYPE %s %s\n", name, typ)
		if unit != "" {
			fmt.Fprintf(&b, "# UNIT %s %s\n", name, unit)
		}
		fmt.Fprintf(&b, "# HELP %s %s\n", name, help)
	}
	listed := 0
	for _, r := range v.Remailers {
		if !r.Hidden {
			listed++
		}
	}
	family("mixgo_pinger_remailers", "gauge", "", "Remailers in the published list.")
	fmt.Fprintf(&b, "mixgo_pinger_remailers %d\n", listed)
	family("mixgo_pinger_remailer_reliability", "gauge", "", "Weighted share of pings that returned over the last 12 days (0-1), as mlist2.txt.")
	for _, r := range v.Remailers {
		fmt.Fprintf(&b, "mixgo_pinger_remailer_reliability{remailer=\"%s\"} %g\n", omLabel(r.Name), r.Stats.Reliability)
	}
	family("mixgo_pinger_remailer_latency_seconds", "gauge", "seconds", "Median latency of returned pings over the last 12 days.")
	for _, r := range v.Remailers {
		if r.Stats.Returned > 0 {
			fmt.Fprintf(&b, "mixgo_pinger_remailer_latency_seconds{remailer=\"%s\"} %g\n", omLabel(r.Name), math.Floor(r.Stats.Latency.Seconds()))
		}
	}
	family("mixgo_pinger_remailer_pings", "gauge", "", "Pings in the 12-day window, by state.")
	for _, r := range v.Remailers {
		fmt.Fprintf(&b, "mixgo_pinger_remailer_pings{remailer=\"%s\",state=\"returned\"} %d\n", omLabel(r.Name), r.Stats.Returned)
		fmt.Fprintf(&b, "mixgo_pinger_remailer_pings{remailer=\"%s\",state=\"outstanding\"} %d\n", omLabel(r.Name), r.Stats.Sent-r.Stats.Returned)
	}
	family("mixgo_pinger_broken_chains", "gauge", "", "Broken chains as published (after compression).")
	fmt.Fprintf(&b, "mixgo_pinger_broken_chains %d\n", len(v.Broken))
	family("mixgo_pinger_chain_pings", "gauge", "", "Chain pings in the judgement period, by state.")
	fmt.Fprintf(&b, "mixgo_pinger_chain_pings{state=\"returned\"} %d\n", v.ChainReturned)
	fmt.Fprintf(&b, "mixgo_pinger_chain_pings{state=\"outstanding\"} %d\n", v.ChainPings-v.ChainReturned)
	family("mixgo_pinger_events", "counter", "", "Events since the process started.")
	c := p.Counts()
	names := make([]string, 0, len(c))
	for k := range c {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(&b, "mixgo_pinger_events_total{event=\"%s\"} %d\n", omLabel(k), c[k])
	}
	b.WriteString("# EOF\n")
	return b.Bytes()
}
