// Package client is the logic behind the `mix` command that is worth
// testing on its own: the client directory (the remailer lists a pinger
// publishes, fetched and replaced as one set), the client settings, and
// turning statistics and a message into the chains it travels through.
//
// The client directory (default ~/.mix, or $MIXDIR) holds what `mix update`
// fetched from a pinger, exactly as Echolot publishes it: pubring.mix,
// type2.list and the statistics mlist2.txt (or the v1 mlist.txt), plus the
// user's own mix.conf and starex.txt, which updates never touch.
package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mixgo/mixgo/internal/chain"
	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/packet"
	"github.com/mixgo/mixgo/pinger"
)

// Files of the client directory.
const (
	FilePubring = "pubring.mix" // remailer keys
	FileType2   = "type2.list"  // remailer attribute lines (optional)
	FileMlist2  = "mlist2.txt"  // statistics, Echolot v2 format
	FileMlist   = "mlist.txt"   // statistics, v1 format (read when there is no mlist2.txt)
	FileSource  = "source.txt"  // where the lists came from (written by update)
	FileConfig  = "mix.conf"    // client settings (the user's)
	FileStarex  = "starex.txt"  // remailers never chosen at random (the user's)
	EnvDir      = "MIXDIR"      // environment variable naming the client directory
)

// listFiles are the files an update replaces, as one set.
var listFiles = []string{FilePubring, FileType2, FileMlist2, FileMlist, FileSource}

// ErrBroken means a set of lists cannot be used (no key, no statistics
// table, files that do not belong together).
var ErrBroken = errors.New("client: unusable remailer lists")

// ErrNoLists means the client directory has no pubring.mix.
var ErrNoLists = errors.New("client: no remailer lists")

// DefaultDir is the client directory: $MIXDIR, else ~/.mix.
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("client: no home directory for ~/.mix (set %s or give --dir): %w", EnvDir, err)
	}
	return filepath.Join(home, ".mix"), nil
}

// Set is a checked set of remailer lists.
type Set struct {
	// Pubring holds the keys of pubring.mix, plus the type2.list entries
	// whose key is not in pubring.mix (without a key: selection reports
	// them rather than choosing them).
	Pubring *keyring.Pubring
	Keys    int // entries read from pubring.mix
	Type2   int // entries read from type2.list; 0 when absent
	// Stats is the statistics list, nil when there is none.
	Stats     *pinger.List
	StatsFile string // FileMlist2 or FileMlist; "" without statistics
	// Problems are the entries and lines that were skipped, for --verbose.
	Problems []string
}

// ParseSet checks a set of list files (file name → content; missing files
// absent). pubring.mix must hold a usable key; type2.list, when present,
// must hold an entry; the statistics (mlist2.txt, else mlist.txt), when
// present, must have a remailer table naming at least one remailer of the
// key ring. Malformed entries and lines are skipped and listed in
// Problems, as real pingers' files carry a few.
func ParseSet(files map[string][]byte) (*Set, error) {
	s := &Set{}
	data, ok := files[FilePubring]
	if !ok {
		return nil, fmt.Errorf("%w: no %s", ErrBroken, FilePubring)
	}
	keys, errs := keyring.ParsePubring(data)
	for _, e := range errs {
		s.Problems = append(s.Problems, FilePubring+": "+e.Error())
	}
	if len(keys) == 0 {
		if len(errs) > 0 {
			return nil, fmt.Errorf("%w: %s holds no usable key (%v)", ErrBroken, FilePubring, errs[0])
		}
		return nil, fmt.Errorf("%w: %s holds no key", ErrBroken, FilePubring)
	}
	s.Keys = len(keys)
	all := keys
	if data, ok := files[FileType2]; ok {
		entries, errs := keyring.ParseType2List(data)
		for _, e := range errs {
			s.Problems = append(s.Problems, FileType2+": "+e.Error())
		}
		if len(entries) == 0 {
			return nil, fmt.Errorf("%w: %s holds no remailer line", ErrBroken, FileType2)
		}
		s.Type2 = len(entries)
		have := make(map[packet.KeyID]bool, len(keys))
		for _, k := range keys {
			have[k.KeyID] = true
		}
		for _, e := range entries {
			if !have[e.KeyID] {
				all = append(all, e)
			}
		}
	}
	s.Pubring = keyring.NewPubring(all)

	name, parse := FileMlist2, pinger.ParseMlist2
	data, ok = files[FileMlist2]
	if !ok {
		name, parse = FileMlist, pinger.ParseMlist
		data, ok = files[FileMlist]
	}
	if !ok {
		return s, nil
	}
	l, err := parse(data)
	if errors.Is(err, pinger.ErrNoTable) {
		return nil, fmt.Errorf("%w: %s has no remailer table", ErrBroken, name)
	}
	if err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			s.Problems = append(s.Problems, name+": "+e)
		}
	}
	if len(l.Rows) == 0 {
		return nil, fmt.Errorf("%w: %s lists no remailer", ErrBroken, name)
	}
	known := 0
	for _, r := range l.Rows {
		if s.hasName(r.Name) {
			known++
		}
	}
	if known == 0 {
		return nil, fmt.Errorf("%w: none of the %d remailers of %s is in %s: the files do not belong together",
			ErrBroken, len(l.Rows), name, FilePubring)
	}
	s.Stats, s.StatsFile = l, name
	return s, nil
}

func (s *Set) hasName(name string) bool {
	for _, k := range s.Pubring.Keys() {
		if strings.EqualFold(k.Name, name) {
			return true
		}
	}
	return false
}

// Load reads and checks the lists of the client directory dir. A missing
// pubring.mix is ErrNoLists. An update interrupted by a crash is finished
// first (see Install).
func Load(dir string) (*Set, error) {
	_ = finishPending(dir) // best effort: a read-only directory still loads
	files := make(map[string][]byte)
	for _, name := range []string{FilePubring, FileType2, FileMlist2, FileMlist} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("client: %w", err)
		}
		files[name] = data
	}
	if _, ok := files[FilePubring]; !ok {
		return nil, fmt.Errorf("%w: no %s in %s (run 'mix update --from URL' or give --pubring FILE)", ErrNoLists, FilePubring, dir)
	}
	s, err := ParseSet(files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return s, nil
}

// LoadStats reads a statistics file on its own (`mix send --stats`), in
// the v2 format, or v1 when it has no v2 table.
func LoadStats(path string) (*pinger.List, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client: reading statistics: %w", err)
	}
	l, err := pinger.ParseMlist2(data)
	if errors.Is(err, pinger.ErrNoTable) {
		l, err = pinger.ParseMlist(data)
	}
	if errors.Is(err, pinger.ErrNoTable) || l == nil || len(l.Rows) == 0 {
		return nil, fmt.Errorf("%w: %s has no remailer table", ErrBroken, path)
	}
	return l, nil
}

// ChainStats turns a statistics list into what chain selection reads.
func ChainStats(l *pinger.List) map[string]chain.Stat {
	if l == nil {
		return nil
	}
	m := make(map[string]chain.Stat, len(l.Rows))
	for _, r := range l.Rows {
		m[r.Name] = chain.Stat{Reliability: r.Uptime, Latency: r.Latency, Known: true}
	}
	return m
}

// BrokenChains returns the broken type-II chains of a statistics list.
func BrokenChains(l *pinger.List) [][2]string {
	if l == nil {
		return nil
	}
	out := make([][2]string, len(l.Broken2))
	for i, p := range l.Broken2 {
		out[i] = [2]string{p.From, p.To}
	}
	return out
}

// SizeLimit returns the largest message (bytes) the remailer's capability
// line says it delivers (klen, in kB), or 0 when it states none.
func SizeLimit(l *pinger.List, name string) int64 {
	if l == nil {
		return 0
	}
	for _, c := range l.Caps {
		if !strings.EqualFold(c.Name, name) {
			continue
		}
		for _, w := range c.Caps {
			digits, ok := strings.CutPrefix(strings.ToLower(w), "klen")
			if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 9 {
				continue
			}
			var kb int64
			for _, d := range digits {
				kb = kb*10 + int64(d-'0')
			}
			return kb * 1024
		}
	}
	return 0
}

// StaleWarning returns a warning when the statistics are older than maxAge
// (or carry no date, or a date in the future), else "".
func StaleWarning(l *pinger.List, now time.Time, maxAge time.Duration) string {
	if l == nil || maxAge <= 0 {
		return ""
	}
	if l.Generated.IsZero() {
		return "the statistics carry no date; they may be stale (run 'mix update')"
	}
	age := now.Sub(l.Generated)
	switch {
	case age < -time.Hour:
		return fmt.Sprintf("the statistics are dated %s, in the future: check the clock", l.Generated.Format(time.RFC1123))
	case age > maxAge:
		return fmt.Sprintf("the statistics are %s old (generated %s, older than %s): run 'mix update'",
			roundAge(age), l.Generated.Format(time.RFC1123), fmtLimit(maxAge))
	}
	return ""
}

// roundAge writes an age as days and hours, hours and minutes, or minutes.
func roundAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days %d h", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%d h %02d min", d/time.Hour, (d%time.Hour)/time.Minute)
	}
	return fmt.Sprintf("%d min", d/time.Minute)
}
