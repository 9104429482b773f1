package pinger

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mixgo/mixgo/internal/counter"
	"github.com/mixgo/mixgo/internal/mailout"
	"github.com/mixgo/mixgo/internal/netlimit"
	"github.com/mixgo/mixgo/keyring"
)

// Config is the pinger service's configuration. mixd fills it from its
// mixd.conf (the pinger_* options, see docs/CONFIG.md).
type Config struct {
	Dir     string // relative file names resolve here
	Name    string // the pinger's name, shown on its pages
	Address string // pings and request replies come back here

	Listen string // SMTP listener for returning mail (host:port)
	HTTP   string // HTTP listener; "" = none
	Finger string // finger (RFC 1288) listener; "" = none

	Deliver     string          // how mail leaves (a mailout spec)
	MailOptions mailout.Options // egress details

	Remailers   []string // addresses to send remailer-key/-conf requests to
	SeedPubring string   // pubring.mix to import keys from at start and each discovery round
	AllPingers  []string // other pingers' mlist2.txt URLs

	Schedules Schedules
	Stats     Options // statistics tunables (zero = Echolot's)

	RecipientDelimiter string // "+": replies to requests go to local+token@domain
	StorePath          string // the bbolt file
	MaxMessageSize     int64  // largest returning mail accepted
	Garbage            int    // ping padding: up to this many random bytes
	ClientTimeout      time.Duration
	MaxConnections     int
	SortByLatency      bool // Echolot's stats_sort_by_latency
}

// Schedules are cron specs (robfig/cron: five fields or @every/@daily…).
// Each run plans its actions at random moments within the period up to the
// next run.
type Schedules struct {
	Ping       string // a ping through every remailer
	Chain      string // a chain ping through every ordered pair
	ChainIC    string // chain pings of the pairs in intensive care
	Discovery  string // remailer-key and remailer-conf to every remailer
	AllPingers string // fetch the other pingers' lists
}

// DefaultSchedules are Echolot's cadences: single pings every 2 hours,
// chain pings weekly (daily in intensive care), requests daily.
func DefaultSchedules() Schedules {
	return Schedules{
		Ping:       "0 */2 * * *",
		Chain:      "0 0 * * 1",
		ChainIC:    "0 0 * * *",
		Discovery:  "0 3 * * *",
		AllPingers: "0 * * * *",
	}
}

// Echolot's fixed horizons.
const (
	keyExpiry     = 5 * day // a key not re-advertised for this long is dropped (expire_keys)
	requestExpiry = 3 * day // a reply to an older request is ignored
	lateLimit     = day     // a planned action this late is dropped
)

// Pinger is the pinger service: it plans and sends pings and requests,
// takes back what returns, and publishes the statistics.
type Pinger struct {
	Cfg   Config
	Store *Store
	Log   *slog.Logger
	Clock func() time.Time
	Rand  io.Reader
	// Sender hands mail to the outside world.
	Sender mailout.Sender

	secret []byte
	counts counter.Set
	bg     sync.WaitGroup // background fetches, waited for by Run
	gen    atomic.Uint64  // bumped on every change the statistics depend on

	mu       sync.Mutex
	view     *View
	viewGen  uint64
	viewTime time.Time
}

// Open opens the store and the egress; Run starts the service.
func Open(cfg Config, log *slog.Logger) (*Pinger, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if !strings.Contains(cfg.Address, "@") {
		return nil, fmt.Errorf("pinger: address %q is not an e-mail address", cfg.Address)
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 1 << 20
	}
	if cfg.ClientTimeout <= 0 {
		cfg.ClientTimeout = 10 * time.Second
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 64
	}
	if cfg.Name == "" {
		cfg.Name = "mixgo pinger"
	}
	cfg.Stats = cfg.Stats.orDefault()
	if cfg.StorePath == "" {
		cfg.StorePath = "pinger.db"
	}
	sender, err := mailout.New(cfg.Deliver, cfg.MailOptions)
	if err != nil {
		return nil, fmt.Errorf("pinger: egress %q: %w", cfg.Deliver, err)
	}
	st, err := OpenStore(cfg.path(cfg.StorePath))
	if err != nil {
		return nil, err
	}
	secret, err := st.Secret()
	if err != nil {
		st.Close()
		return nil, err
	}
	return &Pinger{Cfg: cfg, Store: st, Log: log, Clock: time.Now, Rand: rand.Reader, Sender: sender, secret: secret}, nil
}

// Close closes the store.
func (p *Pinger) Close() error { return p.Store.Close() }

func (c *Config) path(name string) string {
	if name == "" || filepath.IsAbs(name) || c.Dir == "" {
		return name
	}
	return filepath.Join(c.Dir, name)
}

// changed invalidates the cached statistics.
func (p *Pinger) changed() { p.gen.Add(1) }

// Counts returns this process's event counts.
func (p *Pinger) Counts() map[string]uint64 { return p.counts.Snapshot() }

// Target is a remailer the pinger can ping: its record and current key.
type Target struct {
	Rec RemailerRecord
	Key *keyring.PublicKey
}

// currentKey is the key of r to ping and publish at now: among the keys
// advertised in the last keyExpiry and valid now, the one seen last (ties:
// Mixmaster's preference, the larger key).
func currentKey(r RemailerRecord, now time.Time) *keyring.PublicKey {
	var best *keyring.PublicKey
	var bestSeen time.Time
	for _, kr := range r.Keys {
		if now.Sub(kr.Seen) > keyExpiry {
			continue
		}
		keys, _ := keyring.ParsePubring(kr.Text)
		for _, k := range keys {
			if !k.ValidAt(now) || !strings.EqualFold(k.Address, r.Address) {
				continue
			}
			if best == nil || kr.Seen.After(bestSeen) || (kr.Seen.Equal(bestSeen) && k.Bits() > best.Bits()) {
				best, bestSeen = k, kr.Seen
			}
		}
	}
	return best
}

// Targets returns the remailers with a current key, sorted by address.
func (p *Pinger) Targets(now time.Time) ([]Target, error) {
	recs, err := p.Store.Remailers()
	if err != nil {
		return nil, err
	}
	var out []Target
	for _, r := range recs {
		if k := currentKey(r, now); k != nil {
			out = append(out, Target{Rec: r, Key: k})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rec.Address < out[j].Rec.Address })
	return out, nil
}

// SendPing sends one ping through the remailers at addrs (one: a single
// ping; two: a chain ping), using each one's current key. The ping is
// recorded before it leaves, so one that cannot even be handed over counts
// as lost: from outside, a remailer that does not take mail is down.
func (p *Pinger) SendPing(ctx context.Context, addrs []string) error {
	now := p.Clock()
	targets, err := p.Targets(now)
	if err != nil {
		return err
	}
	var hops []*keyring.PublicKey
	for _, a := range addrs {
		var k *keyring.PublicKey
		for _, t := range targets {
			if strings.EqualFold(t.Rec.Address, a) {
				k = t.Key
			}
		}
		if k == nil {
			return fmt.Errorf("pinger: no current key for a remailer to ping")
		}
		hops = append(hops, k)
	}
	tok, mails, err := BuildPing(p.Rand, now, p.secret, p.Cfg.Address, hops, p.Cfg.Garbage)
	if err != nil {
		return err
	}
	if err := p.Store.AddPing(PingRecord{Nonce: tok.Nonce, Remailers: tok.Remailers, KeyIDs: tok.KeyIDs, Sent: tok.Sent}); err != nil {
		return fmt.Errorf("pinger: recording a ping: %w", err)
	}
	p.changed()
	kind := "ping"
	if len(hops) > 1 {
		kind = "chain-ping"
	}
	p.counts.Inc(kind + "-sent")
	for _, m := range mails {
		if err := p.Sender.Send(ctx, p.Cfg.Address, []string{m.To}, m.Data); err != nil {
			p.counts.Inc(kind + "-send-failed")
			return fmt.Errorf("pinger: handing over a %s: %w", kind, err)
		}
	}
	return nil
}

// Receive takes one mail that came back to the pinger at at: a ping (its
// token is checked and the ping marked received) or a reply to a request.
// rcpts are the envelope recipients. It returns nil for mail it drops
// (counted): only a storage failure is an error, worth a retry.
func (p *Pinger) Receive(raw []byte, rcpts []string, at time.Time) error {
	tok, err := OpenToken(p.secret, raw)
	if err == nil {
		rec, err := p.Store.MarkReceived(tok.Sent, tok.Nonce, at)
		switch {
		case errors.Is(err, ErrUnknownPing):
			p.counts.Inc("ping-unknown")
			return nil
		case errors.Is(err, ErrDuplicate):
			p.counts.Inc("ping-duplicate")
			return nil
		case err != nil:
			return err
		}
		p.changed()
		if rec.Chain() {
			p.counts.Inc("chain-ping-received")
		} else {
			p.counts.Inc("ping-received")
		}
		return nil
	}
	if !errors.Is(err, ErrBadToken) {
		return err
	}
	if strings.Contains(string(raw), tokenBegin) {
		p.counts.Inc("ping-forged")
		p.Log.Debug("dropped a mail with a bad ping token", "err", err)
		return nil
	}
	return p.handleReply(raw, rcpts, at)
}

// Run serves the SMTP, HTTP and finger listeners, runs the schedules and
// the planned actions until ctx ends.
func (p *Pinger) Run(ctx context.Context) error {
	sch, err := p.parseSchedules()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	listen := func(what, addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("pinger: %s listener on %s: %w", what, addr, err)
		}
		listeners = append(listeners, l)
		return l, nil
	}
	smtpL, err := listen("SMTP", p.Cfg.Listen)
	if err != nil {
		return err
	}
	var httpL, fingerL net.Listener
	if p.Cfg.HTTP != "" {
		if httpL, err = listen("HTTP", p.Cfg.HTTP); err != nil {
			return err
		}
	}
	if p.Cfg.Finger != "" {
		if fingerL, err = listen("finger", p.Cfg.Finger); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	serve := func(what string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				p.Log.Error("listener stopped", "what", what, "err", err)
				cancel()
			}
		}()
	}
	srv := p.newSMTPServer()
	serve("smtp", func() error { return srv.Serve(netlimit.New(smtpL, p.Cfg.MaxConnections, errBusy)) })
	var hs *httpServer
	if httpL != nil {
		hs = p.newHTTPServer()
		serve("http", func() error { return hs.serve(httpL) })
	}
	if fingerL != nil {
		serve("finger", func() error { return p.serveFinger(ctx, fingerL) })
	}

	p.importSeed(p.Clock())
	c := p.startCron(ctx, sch)
	wg.Add(1)
	go func() { defer wg.Done(); p.runPlan(ctx) }()
	p.Log.Info("pinger started", "address", p.Cfg.Address, "smtp", smtpL.Addr().String(),
		"http", addrOf(httpL), "finger", addrOf(fingerL))
	<-ctx.Done()
	<-c.Stop().Done()
	srv.Close()
	if hs != nil {
		hs.close()
	}
	closeAll()
	wg.Wait()
	p.bg.Wait()
	p.logCounts()
	p.Log.Info("pinger stopped")
	return nil
}

func addrOf(l net.Listener) string {
	if l == nil {
		return "off"
	}
	return l.Addr().String()
}

// logCounts writes the event counts at info level.
func (p *Pinger) logCounts() {
	p.Log.Info("pinger counts", "events", counter.Format(p.Counts()))
}
