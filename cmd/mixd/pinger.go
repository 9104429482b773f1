package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mixgo/mixgo/internal/mailout"
	"github.com/mixgo/mixgo/mix"
	"github.com/mixgo/mixgo/pinger"
)

// The pinger role of mixd: `mixd run` starts it when mixd.conf says
// pinger = true, beside the remailer or (remailer = false) alone.

// runRoles runs what the node's configuration enables until SIGINT or
// SIGTERM; if one role fails the other is stopped too.
func runRoles(dir string) error {
	cfg, err := mix.LoadConfig(dir)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var roles []func(context.Context) error
	if cfg.Remailer {
		n, err := mix.Open(dir, nil)
		if err != nil {
			return err
		}
		defer n.Close()
		roles = append(roles, n.Run)
	}
	if cfg.Pinger {
		pc, err := pingerConfig(dir, cfg)
		if err != nil {
			return err
		}
		p, err := pinger.Open(pc, newLogger(cfg))
		if err != nil {
			return err
		}
		defer p.Close()
		roles = append(roles, p.Run)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(roles))
	for _, r := range roles {
		go func() {
			err := r(ctx)
			cancel()
			errs <- err
		}()
	}
	var all []error
	for range roles {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

func newLogger(cfg *mix.Config) *slog.Logger {
	var l slog.Level
	if l.UnmarshalText([]byte(cfg.LogLevel)) != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// pingerConfig maps the pinger_* options (and the shared egress ones).
func pingerConfig(dir string, c *mix.Config) (pinger.Config, error) {
	name := c.PingerName
	if name == "" {
		name = c.Name + " pinger"
	}
	mo := mailout.Options{
		HeloName:           c.Hostname,
		Username:           c.SMTPUser,
		StartTLS:           c.StartTLS,
		Resolver:           c.DNSResolver,
		Timeout:            c.WriteTimeout,
		RequireVerifiedTLS: strings.Fields(c.TLSVerifiedDomains),
	}
	if c.SMTPPasswordFile != "" {
		path := c.SMTPPasswordFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		pw, err := os.ReadFile(path)
		if err != nil {
			return pinger.Config{}, fmt.Errorf("smtp_password_file: %w", err)
		}
		mo.Password = strings.TrimRight(string(pw), "\r\n")
	}
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	}
	stats := pinger.DefaultOptions()
	stats.SkewAbs = c.PingerSkewAbs
	stats.ChainPeriod = c.PingerChainPeriod
	pc := pinger.Config{
		Dir: dir, Name: name, Address: c.PingerAddr(),
		Listen: c.PingerListen, HTTP: c.PingerHTTP, Finger: c.PingerFinger,
		Deliver: c.Deliver, MailOptions: mo,
		Remailers: split(c.PingerRemailers), SeedPubring: c.PingerSeedPubring, AllPingers: split(c.PingerAllPingers),
		Schedules: pinger.Schedules{
			Ping: c.PingerPingSchedule, Chain: c.PingerChainSchedule, ChainIC: c.PingerChainICSchedule,
			Discovery: c.PingerDiscoverySchedule, AllPingers: c.PingerAllPingersSchedule,
		},
		Stats:              stats,
		RecipientDelimiter: c.PingerDelimiter,
		StorePath:          "pinger.db",
		MaxMessageSize:     c.MaxMessageSize,
		Garbage:            2048, // sizes vary, yet a ping stays one packet
		ClientTimeout:      10 * time.Second,
		MaxConnections:     c.MaxConnections,
	}
	for _, s := range []string{c.PingerPingSchedule, c.PingerChainSchedule, c.PingerChainICSchedule, c.PingerDiscoverySchedule, c.PingerAllPingersSchedule} {
		if _, err := pinger.ParseSchedule(s); err != nil {
			return pc, err
		}
	}
	return pc, nil
}

// initPinger creates a pinger-only node: a mixd.conf with remailer =
// false and pinger = true. No key, passphrase or pool: a pinger decrypts
// nothing, and its store (pinger.db) is made at the first run.
func initPinger(dir string, o mix.InitOptions, stdout io.Writer) error {
	path := filepath.Join(dir, mix.ConfigFile)
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s already holds a node (%s exists)", dir, mix.ConfigFile)
	}
	cfg := mix.DefaultConfig()
	cfg.Name, cfg.Address = strings.ToLower(o.Name), o.Address
	cfg.Remailer, cfg.Pinger = false, true
	if o.Listen != "" {
		cfg.PingerListen = o.Listen
	}
	if o.Deliver != "" {
		cfg.Deliver = o.Deliver
	}
	if o.Hostname != "" {
		cfg.Hostname = o.Hostname
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeFileNew(path, cfg.Text()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created pinger %s <%s> in %s\n", cfg.Name, cfg.Address, dir)
	fmt.Fprintf(stdout, "configuration: %s (list remailers in pinger_remailers; see docs/CONFIG.md)\n", path)
	fmt.Fprintf(stdout, "mail for %s must reach %s; statistics on http://%s/ and finger %s\n",
		cfg.Address, cfg.PingerListen, cfg.PingerHTTP, cfg.PingerFinger)
	return nil
}

// enablePinger turns the pinger on beside the remailer just created.
func enablePinger(dir, address string, stdout io.Writer) error {
	cfg, err := mix.LoadConfig(dir)
	if err != nil {
		return err
	}
	cfg.Pinger, cfg.PingerAddress = true, address
	if err := cfg.Validate(); err != nil {
		return err
	}
	path := filepath.Join(dir, mix.ConfigFile)
	tmp := path + ".tmp"
	if err := writeFileNew(tmp, cfg.Text()); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pinger:          %s, mail for it must reach %s\n", address, cfg.PingerListen)
	return nil
}

// writeFileNew writes a new file, mode 0600, fsync'd.
func writeFileNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
