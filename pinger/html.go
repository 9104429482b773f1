package pinger

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"
)

// The HTML statistics page: one table, a latency chart per remailer drawn
// as inline SVG (hover titles, no script), the broken chains and a legend.
// The Content-Security-Policy header forbids scripts altogether.

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Name}}: remailer statistics</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1180px; padding: 0 1em; color: #1d232b; background: #fbfbfa; }
h1 { font-size: 1.5em; margin: 0 0 .2em; }
h2 { font-size: 1.15em; margin: 1.6em 0 .4em; }
header p { margin: .2em 0; color: #4a5563; }
nav a { margin-right: .9em; }
a { color: #1f5fa8; }
table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
th, td { padding: .4em .6em; text-align: left; vertical-align: middle; border-bottom: 1px solid #e3e6ea; }
th { background: #eef1f4; font-weight: 600; font-size: .9em; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.mono, code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .88em; white-space: pre; }
td.name { font-weight: 600; }
.addr { color: #4a5563; font-size: .82em; font-weight: normal; }
.good { color: #17733a; } .fair { color: #8a6100; } .bad { color: #b42318; }
.meter { display: inline-block; width: 4.5em; height: .55em; background: #e3e6ea; border-radius: .3em; margin-left: .4em; vertical-align: middle; overflow: hidden; }
.meter span { display: block; height: 100%; }
.tag { display: inline-block; font-size: .75em; padding: 0 .35em; border-radius: .3em; background: #eef1f4; color: #4a5563; margin-left: .3em; font-weight: normal; }
svg { display: block; }
ul.pairs { columns: 4; font-family: ui-monospace, monospace; }
dl.legend dt { font-weight: 600; } dl.legend dd { margin: 0 0 .5em 1em; color: #4a5563; }
footer { margin-top: 2em; color: #6b7480; font-size: .85em; }
</style>
</head>
<body>
<header>
<h1>{{.Name}}</h1>
<p>Type II (Mixmaster) remailer statistics measured by <code>{{.Address}}</code>. Generated {{.Generated}}.</p>
<p>{{.Listed}} remailers listed, {{.Good}} over 98&nbsp;% reliable; {{len .Broken}} broken chains.</p>
<nav>{{range .Links}}<a href="{{.}}">{{.}}</a>{{end}}</nav>
</header>
<h2>Remailers</h2>
<table>
<thead><tr><th>Remailer</th><th>Latency</th><th>Reliability</th><th>Pings back</th><th>Latent-Hist</th><th>Uptime-Hist</th><th>Options</th><th>Latency, last 12 days</th></tr></thead>
<tbody>
{{range .Rows}}<tr>
<td class="name">{{.Name}}{{if .Middleman}}<span class="tag">middleman</span>{{end}}{{if .Hidden}}<span class="tag">testing</span>{{end}}<br><span class="addr">{{.Address}}</span></td>
<td class="num">{{.Latency}}</td>
<td class="num {{.Class}}">{{.Reliability}}<span class="meter"><span style="width: {{.Percent}}%; background: {{.Color}}"></span></span></td>
<td class="num">{{.Back}}</td>
<td class="mono">{{.LatentHist}}</td>
<td class="mono">{{.UptimeHist}}</td>
<td class="mono">{{.Options}}</td>
<td>{{.Chart}}</td>
</tr>
{{else}}<tr><td colspan="8">No remailer known yet: discovery has not heard from any.</td></tr>
{{end}}</tbody>
</table>
<h2>Broken chains</h2>
{{if .Broken}}<p>Chains whose pings came back far less often than their remailers' reliability predicts (<a href="broken.txt">broken.txt</a>); clients avoid them. <code>(* x)</code> means any chain into <code>x</code>, <code>(x *)</code> any chain out of it.</p>
<ul class="pairs">{{range .Broken}}<li>{{.}}</li>{{end}}</ul>
{{else}}<p>None.</p>{{end}}
<p>{{.ChainPings}} chain pings judged, {{.ChainReturned}} back.</p>
{{if .Peers}}<h2>Other pingers</h2>
<p>The <a href="median/mlist2.txt">median view</a> combines this pinger with {{len .Peers}} others:</p>
<ul>{{range .Peers}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
<h2>Legend</h2>
<dl class="legend">
<dt>Latency</dt><dd>Median time from sending a ping to its return over the last 12 days (h:mm).</dd>
<dt>Reliability</dt><dd>Share of pings that came back, today's pings weighing half and older days less (Echolot's weights); a ping still under way counts as back with the probability that this remailer's pings take longer.</dd>
<dt>Latent-Hist</dt><dd>One character a day, today rightmost: 0 &lt; 20 min, 1 &lt; 1 h, 2–9 hours, A &lt; 12 h, B &lt; 18 h, C &lt; 24 h … H ≥ 48 h, ? nothing back.</dd>
<dt>Uptime-Hist</dt><dd>One character a day: + ≥ 99.99 %, else tens of per cent, ? no ping sent.</dd>
<dt>Chart</dt><dd>Each dot is a returned ping (time sent, latency on a log scale), the blue bar the day's median, a red mark a ping that did not come back. Hover for the figures.</dd>
<dt>Options</dt><dd>D middleman, P posts to Usenet, M/R/2 mix/remix/remix2, L latent, A max, T test, I inflt, N rhop, last digit the size limit (100s of kB).</dd>
</dl>
<footer>mixgo pinger · Echolot 2.1.9-compatible lists · no JavaScript · also over finger: <code>finger @{{.Host}}</code>, <code>finger help@{{.Host}}</code></footer>
</body>
</html>
`))

type htmlRow struct {
	Name, Address, Latency, Reliability, Back string
	LatentHist, UptimeHist, Options           string
	Class, Color                              string
	Percent                                   string
	Middleman, Hidden                         bool
	Chart                                     template.HTML
}

type htmlPage struct {
	Name, Address, Generated, Host string
	Listed, Good                   int
	Rows                           []htmlRow
	Broken                         []string
	ChainPings, ChainReturned      int
	Peers                          []string
	Links                          []string
}

var pageLinks = []string{"mlist2.txt", "mlist.txt", "rlist2.txt", "type2.list", "pubring.mix", "broken.txt", "stats.json", "metrics"}

func (p *Pinger) renderHTML(v *View) ([]byte, error) {
	_, host, _ := strings.Cut(p.Cfg.Address, "@")
	pg := htmlPage{Name: p.Cfg.Name, Address: p.Cfg.Address, Generated: v.Generated.UTC().Format(dateLayout), Host: host,
		ChainPings: v.ChainPings, ChainReturned: v.ChainReturned, Links: pageLinks}
	for _, r := range v.Remailers {
		s := r.Stats
		if !r.Hidden {
			pg.Listed++
			if s.Reliability > 0.98 {
				pg.Good++
			}
		}
		row := htmlRow{Name: r.Name, Address: r.Address, Latency: strings.TrimSpace(latency2(s.RowLatency())),
			Reliability: fmt.Sprintf("%.1f %%", s.Reliability*100), Back: fmt.Sprintf("%d / %d", s.Returned, s.Sent),
			LatentHist: r.Row.LatentHist, UptimeHist: r.Row.UptimeHist, Options: r.Row.Options,
			Percent:   fmt.Sprintf("%.1f", s.Reliability*100),
			Middleman: r.Record.Middleman || r.Caps.Has("middle"), Hidden: r.Hidden,
			Chart: latencyChart(r, v.Generated, p.Cfg.Stats.orDefault())}
		if s.Returned == 0 {
			row.Latency = "—"
		}
		switch {
		case s.Reliability >= 0.95:
			row.Class, row.Color = "good", "#2f9e57"
		case s.Reliability >= 0.8:
			row.Class, row.Color = "fair", "#d49a1a"
		default:
			row.Class, row.Color = "bad", "#d8433a"
		}
		pg.Rows = append(pg.Rows, row)
	}
	for _, b := range v.Broken {
		pg.Broken = append(pg.Broken, b.String())
	}
	pg.Peers = p.Cfg.AllPingers
	if len(pg.Peers) > 0 {
		pg.Links = append(append([]string(nil), pg.Links...), "median/mlist2.txt", "allpingers.txt")
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, pg); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Chart geometry: 12 day columns, latency on a log scale from 10 s to 48 h.
const (
	chartW, chartH         = 288.0, 64.0
	chartLeft, chartTop    = 26.0, 8.0
	chartBottom            = 4.0
	chartMinLat, chartMaxL = 10.0, 48 * 3600.0
)

// latencyChart draws one remailer's last 12 days as an SVG: day columns
// (today right), a dot per returned ping, the day's median as a bar, a red
// mark per ping the model counts as lost. Only numbers and escaped text go
// into the markup.
func latencyChart(r RemailerView, now time.Time, opts Options) template.HTML {
	plotW := chartW - chartLeft
	plotH := chartH - chartTop - chartBottom
	span := float64(Days) * day.Seconds()
	x := func(t time.Time) float64 {
		age := now.Sub(t).Seconds()
		return chartLeft + plotW*(1-age/span)
	}
	y := func(lat time.Duration) float64 {
		s := math.Min(math.Max(lat.Seconds(), chartMinLat), chartMaxL)
		f := math.Log(s/chartMinLat) / math.Log(chartMaxL/chartMinLat)
		return chartTop + plotH*(1-f)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="latency of %s over the last 12 days">`,
		chartW, chartH, chartW, chartH, template.HTMLEscapeString(r.Name))
	colW := plotW / Days
	for d := 0; d < Days; d++ {
		x0 := chartLeft + plotW - float64(d+1)*colW
		fill := "#f4f6f8"
		if d%2 == 1 {
			fill = "#eaedf1"
		}
		ds := r.Stats.Day[d]
		title := fmt.Sprintf("%d days ago: no ping sent", d)
		if d == 0 {
			title = "today: no ping sent"
		}
		if ds.Sent > 0 {
			when := fmt.Sprintf("%d days ago", d)
			if d == 0 {
				when = "today"
			}
			title = fmt.Sprintf("%s: %d sent, %d back", when, ds.Sent, ds.Returned)
			if ds.Returned > 0 {
				title += ", median " + strings.TrimSpace(latency1(ds.Latency))
			}
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
			x0, chartTop, colW, plotH, fill, template.HTMLEscapeString(title))
	}
	for _, g := range []struct {
		lat   time.Duration
		label string
	}{{time.Minute, "1m"}, {time.Hour, "1h"}, {24 * time.Hour, "1d"}} {
		gy := y(g.lat)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#c9ced6" stroke-width="0.5"/>`, chartLeft, gy, chartW, gy)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="8" fill="#6b7480" text-anchor="end" font-family="sans-serif">%s</text>`, chartLeft-3, gy+3, g.label)
	}
	for d := 0; d < Days; d++ {
		ds := r.Stats.Day[d]
		if ds.Returned == 0 {
			continue
		}
		x0 := chartLeft + plotW - float64(d+1)*colW
		my := y(ds.Latency)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="2" fill="#1f5fa8"/>`, x0+1, my-1, colW-2)
	}
	var lats []time.Duration
	for _, pg := range r.Pings {
		if returned(pg, now) {
			lats = append(lats, pg.Received.Sub(pg.Sent))
		}
	}
	slices.Sort(lats)
	for _, pg := range r.Pings {
		px := x(pg.Sent)
		if returned(pg, now) {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="1.6" fill="#1f5fa8" fill-opacity="0.45"/>`, px, y(pg.Received.Sub(pg.Sent)))
			continue
		}
		if survival(now.Sub(pg.Sent), lats, opts) < 0.5 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="1.6" height="5" fill="#d8433a"/>`, px-0.8, chartTop-6)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
