package sim

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// TestReportAndPlot: the tables name every run and the plot is
// well-formed SVG with one curve per strategy and panel.
func TestReportAndPlot(t *testing.T) {
	traces := []Trace{{Name: "steady", PerHour: 30, Steady: true}, {Name: "bursty", PerHour: 30}}
	var results []Result
	for _, tr := range traces {
		for i, s := range append(Grid(), Mixmaster(), Chosen()) {
			l := time.Duration(i+1) * 10 * time.Minute
			results = append(results, Result{Spec: s, Trace: tr.Name, Measured: 100, PerHour: 30,
				MeanLatency: l, P95Latency: 3 * l, MeanEntropy: Bound(30, l), MinEntropy: 1})
		}
	}
	var md bytes.Buffer
	if err := WriteResults(&md, traces, results); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#### steady", "#### bursty", "(Mixmaster)", "(**default**)", "At Mixmaster's mean latency"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("tables lack %q", want)
		}
	}
	var svg bytes.Buffer
	if err := PlotSVG(&svg, traces, results, []Marked{{Spec: Mixmaster(), Name: "M", Color: "black"}}); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&svg)
	lines := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	// Per panel one line per curve, plus the bound on the steady one.
	if want := len(traces)*len(Curves) + 1; lines != want {
		t.Errorf("%d polylines, want %d", lines, want)
	}
}
