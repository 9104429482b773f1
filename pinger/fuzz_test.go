package pinger

import (
	"errors"
	"strings"
	"testing"
)

// Lists come from other pingers over the network: the parsers must never
// panic, must report errors as LineErrors or ErrNoTable, and what they
// accept must render and read back.

func addSeeds(f *testing.F, texts ...string) {
	for _, s := range texts {
		f.Add([]byte(s))
		f.Add([]byte(strings.ReplaceAll(s, "\n", "\r\n")))
	}
	f.Add([]byte{})
	f.Add([]byte("\n\n(\n$remailer\n%\n"))
}

func checkErrors(t *testing.T, err error) {
	if err == nil {
		return
	}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var le *LineError
		if !errors.As(e, &le) && !errors.Is(e, ErrNoTable) {
			t.Fatalf("unexpected error %v", e)
		}
		if le != nil && (le.Line < 1 || !errors.Is(le, ErrSyntax)) {
			t.Fatalf("bad line error %v", le)
		}
	}
}

func FuzzParseMlist2(f *testing.F) {
	addSeeds(f, docMlist2, specMlist2)
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseMlist2(data)
		if l == nil {
			t.Fatal("nil list")
		}
		checkErrors(t, err)
		for _, r := range l.Rows {
			if r.Name == "" || strings.ContainsAny(r.Name, " \t\n") {
				t.Fatalf("bad row %+v", r)
			}
		}
		// Rows whose fields fit the columns read back the same.
		back, _ := ParseMlist2(RenderMlist2(l))
		if len(back.Rows) != len(l.Rows) {
			t.Fatalf("rows %d → %d", len(l.Rows), len(back.Rows))
		}
		_ = RenderMlist(l)
	})
}

func FuzzParseMlist(f *testing.F) {
	addSeeds(f, docMlist, specMlist)
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseMlist(data)
		if l == nil {
			t.Fatal("nil list")
		}
		checkErrors(t, err)
		for _, r := range l.Rows {
			if r.Name == "" || len(r.History) != 12 || r.Uptime < 0 || r.Uptime > 999.99 || r.Latency < 0 {
				t.Fatalf("bad row %+v", r)
			}
		}
		_ = RenderMlist2(l)
		_ = RenderMlist(l)
	})
}
