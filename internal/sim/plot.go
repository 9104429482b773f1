package sim

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"time"
)

// Marked is a point the plot singles out (Mixmaster's default, the
// chosen one).
type Marked struct {
	Spec  Spec
	Name  string
	Color string
}

var curveColor = map[string]string{
	Curves[0]: "#1f77b4",
	Curves[1]: "#ff7f0e",
	Curves[2]: "#2ca02c",
	Curves[3]: "#9467bd",
}

// PlotSVG draws mean entropy against mean latency (log scale), one panel
// per trace and one curve per strategy, with the bound of Bound on the
// steady traces, as an SVG image.
func PlotSVG(out io.Writer, traces []Trace, results []Result, marks []Marked) error {
	const (
		cols, pw, ph   = 3, 330, 250 // panels: columns, width, height
		ml, mr, mt, mb = 46, 12, 28, 36
	)
	rows := (len(traces) + 1 + cols - 1) / cols // one cell for the legend
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", cols*pw, rows*ph+24)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(w, `<text x="%d" y="16" font-size="13" text-anchor="middle">Sender anonymity (mean entropy of the outputs) against mean latency</text>`+"\n", cols*pw/2)
	for i, tr := range traces {
		x0, y0 := (i%cols)*pw, 24+(i/cols)*ph
		var pts []Result
		for _, r := range results {
			if r.Trace == tr.Name && r.Measured > 0 {
				pts = append(pts, r)
			}
		}
		if len(pts) == 0 {
			continue
		}
		lo, hi := pts[0].MeanLatency, pts[0].MeanLatency
		hmin, hmax := math.Inf(1), 0.0
		for _, r := range pts {
			lo, hi = min(lo, r.MeanLatency), max(hi, r.MeanLatency)
			hmin, hmax = min(hmin, r.MeanEntropy), max(hmax, r.MeanEntropy)
		}
		lx0, lx1 := math.Log(float64(lo)/1.3), math.Log(float64(hi)*1.3)
		ybot, ytop := max(math.Floor(hmin-0.5), 0), math.Ceil(hmax+0.5)
		px := func(d time.Duration) float64 {
			return float64(x0+ml) + (math.Log(float64(d))-lx0)/(lx1-lx0)*float64(pw-ml-mr)
		}
		py := func(h float64) float64 {
			return float64(y0+ph-mb) - (h-ybot)/(ytop-ybot)*float64(ph-mt-mb)
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>`+"\n", x0+ml+(pw-ml-mr)/2, y0+mt-8, html.EscapeString(tr.Name))
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", x0+ml, y0+mt, pw-ml-mr, ph-mt-mb)
		for h := ybot; h <= ytop; h++ {
			y := py(h)
			fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", x0+ml, x0+pw-mr, y, y, x0+ml-4, y+4, h)
		}
		for _, t := range []time.Duration{5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 16 * time.Hour, 32 * time.Hour} {
			if x := px(t); x >= float64(x0+ml) && x <= float64(x0+pw-mr) {
				fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, x, y0+mt, y0+ph-mb, x, y0+ph-mb+13, short(t))
			}
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle">mean latency (log scale)</text>`+"\n", x0+ml+(pw-ml-mr)/2, y0+ph-mb+27)
		fmt.Fprintf(w, `<text transform="translate(%d,%d) rotate(-90)" text-anchor="middle">bits</text>`+"\n", x0+12, y0+mt+(ph-mt-mb)/2)
		if tr.Steady && pts[0].PerHour > 0 {
			var path string
			for j := 0; j <= 40; j++ {
				d := time.Duration(math.Exp(lx0 + (lx1-lx0)*float64(j)/40))
				path += fmt.Sprintf(" %.1f,%.1f", px(d), py(Bound(pts[0].PerHour, d)))
			}
			fmt.Fprintf(w, `<polyline points="%s" fill="none" stroke="#999" stroke-dasharray="4,3"/>`+"\n", path)
		}
		for _, fam := range Curves {
			c := Curve(results, tr.Name, fam)
			var path string
			for _, r := range c {
				path += fmt.Sprintf(" %.1f,%.1f", px(r.MeanLatency), py(r.MeanEntropy))
			}
			fmt.Fprintf(w, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n", path, curveColor[fam])
			for _, r := range c {
				fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`+"\n", px(r.MeanLatency), py(r.MeanEntropy), curveColor[fam])
			}
		}
		for _, mk := range marks {
			for _, r := range pts {
				if r.Spec.Family == mk.Spec.Family && r.Spec.Label == mk.Spec.Label {
					fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="6" fill="none" stroke="%s" stroke-width="2"/>`+"\n", px(r.MeanLatency), py(r.MeanEntropy), mk.Color)
				}
			}
		}
	}
	// Legend in the last cell.
	i := len(traces)
	x0, y0 := (i%cols)*pw+ml, 24+(i/cols)*ph+mt+10
	line := 0
	item := func(swatch, text string) {
		y := y0 + line*18
		fmt.Fprintf(w, swatch+"\n", x0, y, x0+24, y)
		fmt.Fprintf(w, `<text x="%d" y="%d">%s</text>`+"\n", x0+32, y+4, html.EscapeString(text))
		line++
	}
	for _, fam := range Curves {
		item(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="`+curveColor[fam]+`" stroke-width="2"/>`, fam)
	}
	item(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-dasharray="4,3"/>`, "bound (steady Poisson traffic)")
	for _, mk := range marks {
		y := y0 + line*18
		fmt.Fprintf(w, `<circle cx="%d" cy="%d" r="6" fill="none" stroke="%s" stroke-width="2"/>`+"\n", x0+12, y, mk.Color)
		fmt.Fprintf(w, `<text x="%d" y="%d">%s</text>`+"\n", x0+32, y+4, html.EscapeString(mk.Name))
		line++
	}
	fmt.Fprintln(w, "</svg>")
	return w.Flush()
}
