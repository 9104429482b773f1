package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// writeDir writes files into a new directory.
func writeDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil {
			out[e.Name()] = data
		}
	}
	return out
}

func TestUpdateFromDirectory(t *testing.T) {
	f := getFixture(t)
	ctx := context.Background()
	client := t.TempDir()
	// The user's own files are never touched.
	os.WriteFile(filepath.Join(client, FileConfig), []byte("minrel = 97\n"), 0o600)
	os.WriteFile(filepath.Join(client, FileStarex), []byte("banned\n"), 0o600)

	v2 := writeDir(t, map[string][]byte{FilePubring: f.pubring, FileType2: f.type2, FileMlist2: f.mlist2, "echolot.html": []byte("<html>")})
	set, err := Update(ctx, client, v2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if set.StatsFile != FileMlist2 || set.Keys != len(network)-1 || set.Type2 != len(network) {
		t.Fatalf("set %+v", set)
	}
	got := readDir(t, client)
	if !bytes.Equal(got[FilePubring], f.pubring) || !bytes.Equal(got[FileMlist2], f.mlist2) || !bytes.Equal(got[FileType2], f.type2) {
		t.Fatal("files differ from the source's")
	}
	if got["echolot.html"] != nil || LastSource(client) != v2 {
		t.Errorf("extra file copied or source not recorded: %v %q", len(got), LastSource(client))
	}

	// A source with only the v1 list replaces the v2 list: the old
	// mlist2.txt must not stay behind and win.
	v1 := writeDir(t, map[string][]byte{FilePubring: f.pubring, FileMlist: f.mlist})
	if _, err := Update(ctx, client, v1, nil); err != nil {
		t.Fatal(err)
	}
	got = readDir(t, client)
	if got[FileMlist2] != nil || got[FileType2] != nil || !bytes.Equal(got[FileMlist], f.mlist) {
		t.Fatalf("after the v1 update: %v", keys(got))
	}
	if string(got[FileConfig]) != "minrel = 97\n" || string(got[FileStarex]) != "banned\n" {
		t.Error("the user's files changed")
	}
	loaded, err := Load(client)
	if err != nil || loaded.StatsFile != FileMlist {
		t.Fatalf("load: %v %+v", err, loaded)
	}

	// Broken sources leave the previous set as it was.
	before := readDir(t, client)
	other := bytes.ReplaceAll(f.mlist2, []byte("good"), []byte("else"))
	other = bytes.ReplaceAll(other, []byte("small"), []byte("large"))
	for name, files := range map[string]map[string][]byte{
		"no pubring":          {FileMlist2: f.mlist2},
		"garbage pubring":     {FilePubring: []byte("<html>Not Found</html>\n"), FileMlist2: f.mlist2},
		"no statistics":       {FilePubring: f.pubring},
		"garbage statistics":  {FilePubring: f.pubring, FileMlist2: []byte("<html>\nService Unavailable\n</html>\n")},
		"empty type2.list":    {FilePubring: f.pubring, FileType2: []byte("\n"), FileMlist2: f.mlist2},
		"foreign statistics":  {FilePubring: f.pubring[:len(f.pubring)/3], FileMlist2: other},
		"truncated pubring":   {FilePubring: f.pubring[:200], FileMlist2: f.mlist2},
		"missing source dir":  nil,
		"statistics row-less": {FilePubring: f.pubring, FileMlist2: f.mlist2[:bytes.Index(f.mlist2, []byte("----\n"))+5]},
	} {
		src := filepath.Join(t.TempDir(), "nothing")
		if files != nil {
			src = writeDir(t, files)
		}
		_, err := Update(ctx, client, src, nil)
		if err == nil {
			t.Errorf("%s: update succeeded", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if name != "missing source dir" && !errors.Is(err, ErrBroken) {
			t.Errorf("%s: %v, want ErrBroken", name, err)
		}
		after := readDir(t, client)
		if len(after) != len(before) {
			t.Fatalf("%s: files %v, before %v", name, keys(after), keys(before))
		}
		for n, d := range before {
			if !bytes.Equal(after[n], d) {
				t.Fatalf("%s: %s changed", name, n)
			}
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A crash between the staging rename and the moves leaves .pending; the
// next Load (or Install) finishes it.
func TestInstallFinishesAfterCrash(t *testing.T) {
	f := getFixture(t)
	dir := t.TempDir()
	if err := Install(dir, map[string][]byte{FilePubring: []byte("old"), FileMlist: []byte("old"), FileSource: []byte("x\n")}); err != nil {
		t.Fatal(err)
	}
	// The state after a crash: .pending complete, pubring.mix already
	// moved, mlist2.txt not yet, mlist.txt (not in the new set) still there.
	pending := filepath.Join(dir, pendingDir)
	os.Mkdir(pending, 0o700)
	os.WriteFile(filepath.Join(dir, FilePubring), f.pubring, 0o600)
	os.WriteFile(filepath.Join(pending, FileMlist2), f.mlist2, 0o600)
	os.WriteFile(filepath.Join(pending, manifestFile), []byte(FileMlist2+"\n"+FilePubring+"\n"), 0o600)
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if set.StatsFile != FileMlist2 {
		t.Fatalf("statistics from %q", set.StatsFile)
	}
	got := readDir(t, dir)
	if got[FileMlist] != nil || got[FileSource] != nil || !bytes.Equal(got[FileMlist2], f.mlist2) {
		t.Errorf("files %v", keys(got))
	}
	if _, err := os.Stat(pending); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".pending left: %v", err)
	}
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoLists) {
		t.Errorf("empty directory: %v", err)
	}
}

func TestUpdateOverHTTP(t *testing.T) {
	f := getFixture(t)
	var status atomic.Int32 // for mlist2.txt; 0: serve it
	var requests atomic.Int32
	mux := http.NewServeMux()
	serve := func(name string, data []byte) {
		mux.HandleFunc("/stats/"+name, func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			if name == FileMlist2 {
				if s := status.Load(); s != 0 {
					http.Error(w, "no", int(s))
					return
				}
			}
			w.Write(data)
		})
	}
	serve(FilePubring, f.pubring)
	serve(FileType2, f.type2)
	serve(FileMlist2, f.mlist2)
	serve(FileMlist, f.mlist)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = l
	srv.Start()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := t.TempDir()
	for _, url := range []string{srv.URL + "/stats", srv.URL + "/stats/mlist2.txt"} {
		set, err := Update(ctx, client, url, nil)
		if err != nil || set.StatsFile != FileMlist2 {
			t.Fatalf("%s: %v", url, err)
		}
	}
	if n := requests.Load(); n != 6 {
		t.Errorf("%d requests for two updates, want 6 (mlist.txt only when mlist2.txt is missing)", n)
	}
	status.Store(http.StatusNotFound)
	if set, err := Update(ctx, client, srv.URL+"/stats", nil); err != nil || set.StatsFile != FileMlist {
		t.Fatalf("without mlist2.txt: %v", err)
	}
	status.Store(http.StatusInternalServerError)
	before := readDir(t, client)
	_, err = Update(ctx, client, srv.URL+"/stats", nil)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("server error: %v", err)
	}
	if !bytes.Equal(readDir(t, client)[FileMlist], before[FileMlist]) {
		t.Error("a failed download changed the lists")
	}
	if _, err := Update(ctx, client, srv.URL+"/nothing-here", nil); !errors.Is(err, ErrBroken) {
		t.Errorf("empty URL: %v", err)
	}
}

func TestStaleWarning(t *testing.T) {
	set, err := ParseSet(map[string][]byte{FilePubring: getFixture(t).pubring, FileMlist2: getFixture(t).mlist2})
	if err != nil {
		t.Fatal(err)
	}
	l := set.Stats
	if !l.Generated.Equal(now.Add(-2 * time.Hour)) {
		t.Fatalf("generated %v", l.Generated)
	}
	if w := StaleWarning(l, now, 24*time.Hour); w != "" {
		t.Errorf("fresh statistics: %q", w)
	}
	if w := StaleWarning(l, now, time.Hour); !strings.Contains(w, "2 h 00 min old") {
		t.Errorf("2 h old, limit 1 h: %q", w)
	}
	if w := StaleWarning(l, now.Add(72*time.Hour), 24*time.Hour); !strings.Contains(w, "3 days 2 h old") {
		t.Errorf("3 days old: %q", w)
	}
	if w := StaleWarning(l, now.Add(-4*time.Hour), 24*time.Hour); !strings.Contains(w, "future") {
		t.Errorf("future: %q", w)
	}
	if w := StaleWarning(l, now.Add(72*time.Hour), 0); w != "" {
		t.Errorf("limit off: %q", w)
	}
}

func TestSettings(t *testing.T) {
	d := DefaultSettings()
	if d.MinRel != 98 || d.RelFinal != 99 || d.MaxLat != 36*time.Hour || d.MinLat != 5*time.Minute || d.Distance != 2 || d.Chain != "*,*,*,*" || d.Copies != 1 {
		t.Fatalf("defaults %+v", d)
	}
	s, err := ParseSettings([]byte("# comment\nminrel = 95.5\nMAXLAT 2d\nchain = a,*,b\nstats_max_age=0\n\n"))
	if err != nil || s.MinRel != 95.5 || s.MaxLat != 48*time.Hour || s.Chain != "a,*,b" || s.MaxAge != 0 || s.RelFinal != 99 {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []string{"nosuch = 1", "minrel = many", "copies = 11", "minrel = 101", "maxlat = soon", "minlat = 2h\nmaxlat = 1h", "starttls = maybe", "distance = -1"} {
		if _, err := ParseSettings([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// The selector turns 0 ("no limit") into chain's "negative: off".
	s.MinLat = 0
	o := (&Selector{Settings: s}).Options(Message{})
	if o.MinLat >= 0 || o.MinRel != 95.5 || o.MaxLat != 48*time.Hour || o.Distance != 2 {
		t.Errorf("options %+v", o)
	}
}
