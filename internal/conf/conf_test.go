package conf

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Name  string        `conf:"name" default:"alpha" doc:"a name"`
	Count int           `conf:"count" default:"3"`
	Size  int64         `conf:"size"`
	Rate  float64       `conf:"rate" default:"98.5"`
	On    bool          `conf:"on" default:"y"`
	Wait  time.Duration `conf:"wait" default:"15m"`
	skip  int
}

func TestDefaultsAndParse(t *testing.T) {
	var s sample
	if err := SetDefaults(&s); err != nil {
		t.Fatal(err)
	}
	if s.Name != "alpha" || s.Count != 3 || s.Rate != 98.5 || !s.On || s.Wait != 15*time.Minute {
		t.Fatalf("defaults %+v", s)
	}
	text := "# comment\n\nname = bravo\nCOUNT 7\nsize=1048576\non = n\nwait = 2w\n"
	if err := Parse(&s, []byte(text), Syntax{SpaceSeparated: true, FoldCase: true}); err != nil {
		t.Fatal(err)
	}
	if s.Name != "bravo" || s.Count != 7 || s.Size != 1<<20 || s.On || s.Wait != 14*24*time.Hour {
		t.Fatalf("parsed %+v", s)
	}
	if len(Fields(&s)) != 6 {
		t.Errorf("fields %v", Fields(&s))
	}
}

func TestErrors(t *testing.T) {
	var s sample
	for _, c := range []struct{ text, want string }{
		{"nosuch = 1", "line 1: unknown option"},
		{"count = many", "line 1: count"},
		{"\nwait = soon", "line 2: wait"},
		{"on = maybe", "boolean"},
		{"name bravo", "expected 'name = value'"}, // strict syntax
	} {
		err := Parse(&s, []byte(c.text), Syntax{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
	if err := Set(&s, "nosuch", "1"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Set of an unknown name: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "90s": 90 * time.Second, "7d": 7 * 24 * time.Hour, "1.5d": 36 * time.Hour, "2w": 14 * 24 * time.Hour, "1h30m": 90 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "-1d", "soon"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
