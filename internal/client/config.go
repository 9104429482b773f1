package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mixgo/mixgo/internal/chain"
	"github.com/mixgo/mixgo/internal/conf"
)

// Settings are the client's settings: the defaults below, then mix.conf in
// the client directory, then the command-line flags of the same names.
// The tags give each setting's name in mix.conf, its default and its
// documentation (docs/CLIENT.md lists them; a test keeps it current).
type Settings struct {
	Chain    string        `conf:"chain" default:"*,*,*,*" doc:"Chain used when --chain and --hops are not given: names or addresses in sending order, * for a random remailer."`
	Copies   int           `conf:"copies" default:"1" doc:"Copies of each packet, sent through independent chains that share the exit (1–10)."`
	MinRel   float64       `conf:"minrel" default:"98" doc:"Reliability (%) a random intermediate hop needs; 0 = no limit."`
	RelFinal float64       `conf:"relfinal" default:"99" doc:"Reliability (%) a random exit needs; 0 = no limit."`
	MinLat   time.Duration `conf:"minlat" default:"5m" doc:"Smallest latency of a random hop (a remailer that answers at once does not mix); 0 = no limit."`
	MaxLat   time.Duration `conf:"maxlat" default:"36h" doc:"Largest latency of a random hop; 0 = no limit."`
	Distance int           `conf:"distance" default:"2" doc:"A random hop differs from the remailers up to this many positions away; 0 = no rule."`
	MaxAge   time.Duration `conf:"stats_max_age" default:"24h" doc:"Warn when the statistics are older than this; 0 = never."`
	Source   string        `conf:"source" doc:"Where 'mix update' fetches the lists when --from is not given: a pinger's URL or a directory (default: the last source used)."`
	SMTP     string        `conf:"smtp" doc:"Mail server 'mix send' hands packets to when --out is not given: host:port (STARTTLS when offered), smtp://host:port, smtps://host:port or sendmail:/path."`
	SMTPUser string        `conf:"smtp_user" doc:"AUTH user for the mail server (sent only over verified TLS unless the server is on loopback)."`
	SMTPPass string        `conf:"smtp_password_file" doc:"File holding the AUTH password."`
	StartTLS string        `conf:"starttls" default:"opportunistic" doc:"STARTTLS to the mail server: opportunistic, required (verified certificate) or off."`
	From     string        `conf:"from" default:"nobody@localhost" doc:"From address of the e-mails that carry the packets (the envelope sender)."`
}

// DefaultSettings returns the settings' defaults.
func DefaultSettings() Settings {
	var s Settings
	if err := conf.SetDefaults(&s); err != nil {
		panic(err) // a default tag that does not parse: caught by every test
	}
	return s
}

// SettingDoc is one setting for the documentation.
type SettingDoc struct{ Name, Default, Doc string }

// SettingDocs lists every setting in declaration order.
func SettingDocs() []SettingDoc {
	var out []SettingDoc
	for _, f := range conf.Fields(&Settings{}) {
		out = append(out, SettingDoc{f.Name, f.Default, f.Doc})
	}
	return out
}

// Set assigns a setting by its mix.conf name.
func (s *Settings) Set(name, value string) error { return conf.Set(s, name, value) }

// Check reports settings out of range.
func (s *Settings) Check() error {
	switch {
	case s.Copies < 1 || s.Copies > 10:
		return fmt.Errorf("copies %d: want 1 to 10", s.Copies)
	case s.MinRel < 0 || s.MinRel > 100:
		return fmt.Errorf("minrel %g: want 0 to 100", s.MinRel)
	case s.RelFinal < 0 || s.RelFinal > 100:
		return fmt.Errorf("relfinal %g: want 0 to 100", s.RelFinal)
	case s.MinLat < 0 || s.MaxLat < 0 || s.MaxAge < 0:
		return errors.New("negative minlat, maxlat or stats_max_age")
	case s.MaxLat > 0 && s.MinLat > s.MaxLat:
		return fmt.Errorf("minlat %v above maxlat %v", s.MinLat, s.MaxLat)
	case s.Distance < 0 || s.Distance > chain.MaxEntries:
		return fmt.Errorf("distance %d: want 0 to %d", s.Distance, chain.MaxEntries)
	}
	switch s.StartTLS {
	case "opportunistic", "required", "off":
	default:
		return fmt.Errorf("starttls %q: want opportunistic, required or off", s.StartTLS)
	}
	return nil
}

// ParseSettings reads mix.conf over the defaults: lines "name = value" (or
// "name value", as Mixmaster's files), # comments, blank lines.
func ParseSettings(data []byte) (Settings, error) {
	s := DefaultSettings()
	if err := conf.Parse(&s, data, conf.Syntax{SpaceSeparated: true, FoldCase: true}); err != nil {
		return s, err
	}
	return s, s.Check()
}

// LoadSettings reads dir/mix.conf; without it, the defaults.
func LoadSettings(dir string) (Settings, error) {
	path := filepath.Join(dir, FileConfig)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return DefaultSettings(), nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("client: %w", err)
	}
	s, err := ParseSettings(data)
	if err != nil {
		return s, fmt.Errorf("client: %s: %w", path, err)
	}
	return s, nil
}

// LoadStarex reads dir/starex.txt: remailers never chosen at random, one
// per line (# comments). A missing file is no exclusion.
func LoadStarex(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, FileStarex))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

// limit turns a setting where 0 means "no limit" into chain.Options'
// convention (0 = default, negative = no limit).
func limit[T int | float64 | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}
