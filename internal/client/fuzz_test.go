package client

import (
	"os"
	"testing"
	"time"

	"github.com/mixgo/mixgo/pinger"
)

// FuzzParseSet: the lists come from the network; whatever they hold,
// ParseSet returns a set or an error, and a set it returns is usable.
// The seeds are Mixmaster's golden key files (generating keys under the
// fuzzer's instrumentation is too slow).
func FuzzParseSet(f *testing.F) {
	pubring, err := os.ReadFile("../../testdata/mixmaster/pubring.mix")
	if err != nil {
		f.Fatal(err)
	}
	type2, err := os.ReadFile("../../testdata/mixmaster/type2.list")
	if err != nil {
		f.Fatal(err)
	}
	l := &pinger.List{Generated: now, Broken2: []pinger.Pair{{From: "alpha", To: "*"}}}
	for i, n := range []string{"alpha", "bravo", "charlie", "delta", "echo"} {
		l.Rows = append(l.Rows, pinger.Row{Name: n, LatentHist: "000000000000", History: "************",
			Latency: time.Duration(i+1) * 7 * time.Minute, UptimeHist: "++++++++++++", Uptime: 100 - float64(i), Options: pinger.OptionsColumn([]string{"mix"})})
		l.Caps = append(l.Caps, capsOf(n, "klen1"))
	}
	f.Add(pubring, type2, pinger.RenderMlist2(l), false)
	f.Add(pubring[:600], type2[:80], pinger.RenderMlist(l), true)
	f.Add([]byte("x"), []byte(""), []byte("Stats-Version: 2.0\n"), false)
	f.Fuzz(func(t *testing.T, pubring, type2, stats []byte, v1 bool) {
		files := map[string][]byte{FilePubring: pubring, FileType2: type2, FileMlist2: stats}
		if v1 {
			delete(files, FileMlist2)
			files[FileMlist] = stats
		}
		s, err := ParseSet(files)
		if err != nil {
			return
		}
		if len(s.Pubring.Keys()) == 0 {
			t.Fatal("set without keys")
		}
		sel := &Selector{Pubring: s.Pubring, Stats: s.Stats, Settings: DefaultSettings(), Now: now}
		sel.First([]string{"*", "*"}, Message{Size: 5000})
		_ = sel.WriteTable(discard{})
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// FuzzParseSettings: mix.conf gives a clear error or settings in range.
func FuzzParseSettings(f *testing.F) {
	f.Add([]byte("minrel = 95\nmaxlat 2d\n# x\nchain = a,*,b\n"))
	f.Add([]byte("copies=0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSettings(data)
		if err == nil && s.Check() != nil {
			t.Fatalf("accepted settings out of range: %+v", s)
		}
	})
}
