// Command benchtool drives the daemon benchmarks of docs/PERFORMANCE.md
// (scripts/bench-*.sh): it makes packets as `mix send` does, submits them
// over SMTP and counts what a loopback SMTP sink receives.
//
//	benchtool gen  --pubring F --chain A,B --n N --out DIR
//	benchtool load --smtp HOST:PORT --rcpt ADDR (--in DIR | --pubring F --chain A,B --n N)
//	               [--sink HOST:PORT --expect N] [--conns C] [--timeout D]
//	benchtool sink --listen HOST:PORT --expect N [--timeout D]
//	benchtool fsync --dir DIR [--n N] [--size B] [--writers W] [--batch K]
//
// gen writes N packet e-mails (one packet each, a fresh message each) named
// 000001.eml… exactly as `mix send` writes them, built on all cores.
// load sends them (or, without --in, makes them on the fly, for runs too
// large to keep on disk) over C concurrent SMTP connections; with --sink it
// also runs an SMTP sink and waits until --expect mails arrived there. It
// prints one line of figures per phase. fsync compares two ways of making
// N files in DIR durable, as a dir: egress does: each file written,
// fsynced, renamed and the directory fsynced; or written and renamed with
// one syncfs(2) per K files (Linux). Every loop is bounded by N and by
// --timeout.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mixgo/mixgo/internal/mailout"
	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/packet"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool gen|load [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = cmdGen(os.Args[2:])
	case "load":
		err = cmdLoad(os.Args[2:])
	case "sink":
		err = cmdSink(os.Args[2:])
	case "fsync":
		err = cmdFsync(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

// maker builds one packet e-mail per call for a fixed chain.
type maker struct {
	hops []packet.Hop
	to   string
	exit keyring.PublicKey
	seq  atomic.Int64
}

func newMaker(pubring, chainSpec, rcpt string) (*maker, error) {
	data, err := os.ReadFile(pubring)
	if err != nil {
		return nil, err
	}
	keys, _ := keyring.ParsePubring(data)
	ring := keyring.NewPubring(keys)
	m := &maker{to: rcpt}
	now := time.Now()
	for _, name := range strings.Split(chainSpec, ",") {
		k, err := ring.Lookup(name, now)
		if err != nil {
			return nil, err
		}
		m.hops = append(m.hops, k.Hop())
		m.exit = *k
	}
	return m, nil
}

// mail returns one packet e-mail carrying a short message with a unique
// body, as `mix send --chain ... --to rcpt` writes it.
func (m *maker) mail() ([]byte, error) {
	n := m.seq.Add(1)
	msg := &packet.Message{
		Destinations: []string{m.to},
		Headers:      []string{"Subject: bench"},
		Body:         fmt.Appendf(nil, "benchmark message %d\n", n),
	}
	out, err := packet.BuildMessage(rand.Reader, time.Now(), msg, m.exit.Caps.Compress(), 1,
		func(int, int) ([]packet.Hop, error) { return m.hops, nil })
	if err != nil {
		return nil, err
	}
	if len(out) != 1 {
		return nil, fmt.Errorf("%d packets for a short message", len(out))
	}
	return packet.ArmorMail(packet.Envelope{From: "nobody@localhost", To: out[0].To}, packet.Version, out[0].Packet), nil
}

func cmdGen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	pubring := fs.String("pubring", "", "pubring.mix")
	chain := fs.String("chain", "", "remailer names, sending order")
	rcpt := fs.String("to", "sink@example.test", "final recipient")
	n := fs.Int("n", 1000, "packets")
	out := fs.String("out", "", "output directory")
	fs.Parse(args)
	if *pubring == "" || *chain == "" || *out == "" || *n <= 0 {
		return errors.New("gen: --pubring, --chain, --out and --n > 0 are required")
	}
	m, err := newMaker(*pubring, *chain, *rcpt)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, runtime.NumCPU())
	start := time.Now()
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(*n); i = next.Add(1) {
				mail, err := m.mail()
				if err == nil {
					err = os.WriteFile(filepath.Join(*out, fmt.Sprintf("%06d.eml", i)), mail, 0o600)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Printf("gen: %d packets in %.2fs\n", *n, time.Since(start).Seconds())
	return nil
}

// cmdSink only runs the sink until it got --expect mails.
func cmdSink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ExitOnError)
	addr := fs.String("listen", "", "listen here")
	expect := fs.Int("expect", 1, "mails to wait for")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on the wait")
	fs.Parse(args)
	sk, stop, err := startSink(*addr, *expect)
	if err != nil {
		return err
	}
	defer stop()
	select {
	case <-sk.done:
	case <-time.After(*timeout):
		return fmt.Errorf("sink got %d of %d mails before the timeout", sk.count.Load(), *expect)
	}
	sk.mu.Lock()
	d := sk.end.Sub(sk.first)
	sk.mu.Unlock()
	fmt.Printf("sink: %d mails, %.2fs from the first to the last = %.0f/s\n", sk.count.Load(), d.Seconds(), float64(sk.count.Load())/d.Seconds())
	return nil
}

func startSink(addr string, want int) (*sink, func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	sk := &sink{want: int64(want), done: make(chan struct{})}
	srv := smtp.NewServer(sk)
	srv.Domain = "sink.localhost"
	srv.MaxMessageBytes = 1 << 20
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	go srv.Serve(l)
	return sk, func() { srv.Close() }, nil
}

// sink is an SMTP server that accepts everything and counts it.
type sink struct {
	count      atomic.Int64
	mu         sync.Mutex
	first, end time.Time
	want       int64
	done       chan struct{}
	once       sync.Once
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{s}, nil }

type sinkSession struct{ s *sink }

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (ss sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s := ss.s
	c := s.count.Add(1)
	s.mu.Lock()
	now := time.Now()
	if s.first.IsZero() {
		s.first = now
	}
	s.end = now
	s.mu.Unlock()
	if c >= s.want {
		s.once.Do(func() { close(s.done) })
	}
	return nil
}

func cmdLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	smtpAddr := fs.String("smtp", "", "the node's SMTP listener")
	rcpt := fs.String("rcpt", "", "the node's address")
	in := fs.String("in", "", "directory of packet e-mails (from gen)")
	pubring := fs.String("pubring", "", "without --in: make packets on the fly with this pubring.mix")
	chain := fs.String("chain", "", "without --in: the chain")
	n := fs.Int("n", 0, "without --in: number of packets")
	conns := fs.Int("conns", 8, "concurrent SMTP connections")
	sinkAddr := fs.String("sink", "", "run an SMTP sink here and wait for --expect mails")
	expect := fs.Int("expect", 0, "mails the sink must receive (default: all sent)")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on the whole run")
	via := fs.String("via", "mailout", "SMTP client: mailout (a mixgo node's: cached connections, BDAT where offered) or data (go-smtp, DATA on one connection per sender, as an MTA without CHUNKING)")
	fs.Parse(args)
	if *via != "mailout" && *via != "data" {
		return fmt.Errorf("load: --via %q: want mailout or data", *via)
	}
	if *smtpAddr == "" || *rcpt == "" {
		return errors.New("load: --smtp and --rcpt are required")
	}
	// The source of mails: files, or made on the fly.
	var next func(i int) ([]byte, error)
	total := *n
	if *in != "" {
		files, err := filepath.Glob(filepath.Join(*in, "*.eml"))
		if err != nil {
			return err
		}
		sort.Strings(files)
		total = len(files)
		next = func(i int) ([]byte, error) { return os.ReadFile(files[i]) }
	} else {
		m, err := newMaker(*pubring, *chain, "sink@example.test")
		if err != nil {
			return err
		}
		next = func(int) ([]byte, error) { return m.mail() }
	}
	if total <= 0 {
		return errors.New("load: nothing to send")
	}
	if *expect == 0 {
		*expect = total
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var sk *sink
	if *sinkAddr != "" {
		var stop func()
		var err error
		if sk, stop, err = startSink(*sinkAddr, *expect); err != nil {
			return err
		}
		defer stop()
	}

	out, err := mailout.New("smtp://"+*smtpAddr, mailout.Options{HeloName: "bench.localhost", StartTLS: mailout.StartTLSOff})
	if err != nil {
		return err
	}
	start := time.Now()
	var idx atomic.Int64
	var sent atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, *conns)
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sub submitter = &dataSubmitter{addr: *smtpAddr}
			if *via == "mailout" {
				sub = mailoutSubmitter{out}
			}
			if err := sendLoop(ctx, sub, *rcpt, total, &idx, &sent, next); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	sendDur := time.Since(start)
	fmt.Printf("submitted: %d mails in %.2fs = %.0f/s (%d connections)\n", sent.Load(), sendDur.Seconds(),
		float64(sent.Load())/sendDur.Seconds(), *conns)
	if sk == nil {
		return nil
	}
	select {
	case <-sk.done:
	case <-ctx.Done():
		return fmt.Errorf("sink got %d of %d mails before the timeout", sk.count.Load(), *expect)
	}
	sk.mu.Lock()
	end := sk.end
	sk.mu.Unlock()
	d := end.Sub(start)
	fmt.Printf("delivered: %d mails to the sink, %.2fs after the first submission = %.0f/s end to end\n",
		sk.count.Load(), d.Seconds(), float64(sk.count.Load())/d.Seconds())
	return nil
}

// A submitter hands one mail to the node.
type submitter interface {
	submit(ctx context.Context, rcpt string, mail []byte) error
	close()
}

// dataSubmitter keeps one go-smtp connection and uses DATA; a new
// connection is opened after an error.
type dataSubmitter struct {
	addr string
	c    *smtp.Client
}

func (d *dataSubmitter) submit(_ context.Context, rcpt string, mail []byte) (err error) {
	if d.c == nil {
		if d.c, err = smtp.Dial(d.addr); err == nil {
			err = d.c.Hello("bench.localhost")
		}
	}
	if err == nil {
		err = sendOne(d.c, rcpt, mail)
	}
	if err != nil {
		d.close()
	}
	return err
}

func (d *dataSubmitter) close() {
	if d.c != nil {
		d.c.Quit()
		d.c.Close()
		d.c = nil
	}
}

// mailoutSubmitter sends as a mixgo node does.
type mailoutSubmitter struct{ out mailout.Sender }

func (m mailoutSubmitter) submit(ctx context.Context, rcpt string, mail []byte) error {
	return m.out.Send(ctx, "nobody@localhost", []string{rcpt}, mail)
}

func (mailoutSubmitter) close() {}

// sendLoop submits mails until all are taken, retrying each up to 20
// times.
func sendLoop(ctx context.Context, s submitter, rcpt string, total int, idx, sent *atomic.Int64, next func(int) ([]byte, error)) error {
	defer s.close()
	for {
		i := int(idx.Add(1) - 1)
		if i >= total {
			return nil
		}
		mail, err := next(i)
		if err != nil {
			return err
		}
		for attempt := 0; ; attempt++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err = s.submit(ctx, rcpt, mail); err == nil {
				sent.Add(1)
				break
			}
			if attempt >= 20 {
				return fmt.Errorf("mail %d: %w", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func sendOne(c *smtp.Client, rcpt string, mail []byte) error {
	if err := c.Mail("nobody@localhost", nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, bytes.NewReader(mail)); err != nil {
		return err
	}
	return w.Close()
}

// cmdFsync measures per-file against batched durability of new files.
func cmdFsync(args []string) error {
	fs := flag.NewFlagSet("fsync", flag.ExitOnError)
	dir := fs.String("dir", "", "scratch directory (files are removed)")
	n := fs.Int("n", 2000, "files per way")
	size := fs.Int("size", 28000, "bytes per file (a packet e-mail)")
	writers := fs.Int("writers", 8, "concurrent writers")
	batch := fs.Int("batch", 256, "files per syncfs")
	fs.Parse(args)
	if *dir == "" || *n <= 0 {
		return errors.New("fsync: --dir and --n > 0 are required")
	}
	data := make([]byte, *size)
	for _, perFile := range []bool{true, false} {
		d, err := os.MkdirTemp(*dir, "fsync")
		if err != nil {
			return err
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		var mu sync.Mutex
		errc := make(chan error, *writers)
		start, cpu0 := time.Now(), cpuTime()
		for range *writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)); i <= *n; i = int(next.Add(1)) {
					if err := writeOne(d, i, data, perFile); err != nil {
						errc <- err
						return
					}
					if !perFile && (i%*batch == 0 || i == *n) {
						mu.Lock()
						err := syncfs(d)
						mu.Unlock()
						if err != nil {
							errc <- err
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		el, cpu := time.Since(start), cpuTime()-cpu0
		os.RemoveAll(d)
		close(errc)
		if err := <-errc; err != nil {
			return err
		}
		how := "each: write, fsync, rename, fsync dir"
		if !perFile {
			how = fmt.Sprintf("write, rename, one syncfs per %d", *batch)
		}
		fmt.Printf("%-40s %d files of %d bytes, %d writers: %.2fs = %.0f files/s, CPU %.2f ms per file\n",
			how, *n, *size, *writers, el.Seconds(), float64(*n)/el.Seconds(), float64(cpu)/1e6/float64(*n))
	}
	return nil
}

func writeOne(dir string, i int, data []byte, sync bool) error {
	tmp := filepath.Join(dir, fmt.Sprintf(".tmp-%d", i))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("%d.eml", i))); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
