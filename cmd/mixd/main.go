// Command mixd is the remailer daemon and its operator commands.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"

	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/mix"
	"github.com/mixgo/mixgo/packet"
)

const usage = `usage: mixd COMMAND --dir DIR [flags]

commands:
  init      create a remailer in DIR: configuration, key, filter files
  key       print the node's pubring.mix entry (--type2: its type2.list line)
  run       run the daemon (SMTP in, decrypt, pool, send; the pinger if enabled)
  process   store and decrypt mail from stdin or FILE... (MTA pipe, like mixmaster -R)
  flush     run a pool round and send what is due (--all: drain the whole pool)
  pool      show the pool and outgoing queue
  backup    write a consistent copy of the store to --to FILE (also while running)
  import-mixmaster  create DIR from a Mixmaster installation: MIXDIR [--passphrase-file F]
  block-destination  add ADDRESS... (or @domain) to dest.blk (a running daemon applies it at once)
  doctor    check DNS (A, PTR, MX, SPF, DKIM, DMARC), block lists, TLS and the SMTP banner
  dkim-record  print the DNS TXT record publishing the DKIM key
  demo      run a local network of four remailers and send messages through it
  sim       measure the mixing strategies' anonymity and latency (docs/ANONYMITY.md)
  version   print the version

Run 'mixd COMMAND -h' for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func([]string, io.Reader, io.Writer, io.Writer) error{
		"init": cmdInit, "key": cmdKey, "run": cmdRun, "process": cmdProcess,
		"flush": cmdFlush, "pool": cmdPool, "backup": cmdBackup, "gendoc": cmdGendoc, "demo": cmdDemo,
		"doctor": cmdDoctor, "dkim-record": cmdDKIMRecord,
		"import-mixmaster": cmdImport, "block-destination": cmdBlock, "sim": cmdSim,
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintf(stdout, "mixd (mixgo), Mixmaster protocol 2, compatible with %s\n", packet.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	f, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "mixd: unknown command %q\n%s", args[0], usage)
		return 2
	}
	// For the benchmarks (scripts/bench-*.sh): a CPU profile of this run.
	if p := os.Getenv("MIXD_CPUPROFILE"); p != "" {
		if pf, err := os.Create(p); err == nil && pprof.StartCPUProfile(pf) == nil {
			defer func() { pprof.StopCPUProfile(); pf.Close() }()
		}
	}
	if p := os.Getenv("MIXD_TRACE"); p != "" {
		if pf, err := os.Create(p); err == nil && trace.Start(pf) == nil {
			defer func() { trace.Stop(); pf.Close() }()
		}
	}
	err := f(args[1:], stdin, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "mixd %s: %v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(stderr, "mixd %s: %s\n", args[0], strings.ReplaceAll(err.Error(), "\n", " "))
	if args[0] == "process" {
		// EX_TEMPFAIL: the MTA that piped the mail keeps it and retries.
		return 75
	}
	return 1
}

var errUsage = errors.New("usage")

func flags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("mixd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "the node's `directory`")
	return fs, dir
}

func parse(fs *flag.FlagSet, dir *string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%w: --dir is required", errUsage)
	}
	return nil
}

func cmdInit(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs, dir := flags("init", stderr)
	var o mix.InitOptions
	fs.StringVar(&o.Name, "name", "", "short remailer `name`")
	fs.StringVar(&o.Address, "address", "", "remailer e-mail `address`")
	fs.IntVar(&o.KeyBits, "key-bits", 4096, "RSA key size: 1024, 2048, 3072 or 4096")
	fs.BoolVar(&o.Middleman, "middleman", false, "run as a middleman (never deliver final messages itself)")
	fs.StringVar(&o.Listen, "listen", "", "SMTP listener `host:port` (default 127.0.0.1:2525)")
	fs.StringVar(&o.Deliver, "deliver", "", "egress: smtp://HOST:PORT, mx, sendmail:PATH or dir:PATH (default mx)")
	fs.StringVar(&o.Hostname, "hostname", "", "public host `name` (greeting, EHLO, self-signed certificate; default localhost)")
	pingerOnly := fs.Bool("pinger-only", false, "create a pinger without a remailer: --name/--address are the pinger's, --listen its SMTP listener")
	pingerAddr := fs.String("pinger-address", "", "also run a pinger beside the remailer, with this `address`")
	if err := parse(fs, dir, args); err != nil {
		return err
	}
	if o.Name == "" || o.Address == "" {
		return fmt.Errorf("%w: --name and --address are required", errUsage)
	}
	if *pingerOnly {
		return initPinger(*dir, o, stdout)
	}
	pub, err := mix.Init(*dir, o)
	if err != nil {
		return err
	}
	if *pingerAddr != "" {
		if err := enablePinger(*dir, *pingerAddr, stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "created remailer %s in %s\n", pub.Name, *dir)
	fmt.Fprintf(stdout, "type2.list line: %s\n", pub.Type2Line())
	fmt.Fprintf(stdout, "configuration:   %s (commented; see docs/CONFIG.md)\n", filepath.Join(*dir, mix.ConfigFile))
	fmt.Fprintf(stdout, "passphrase:      %s (move it off the disk and set %s for real protection)\n",
		filepath.Join(*dir, "passphrase"), mix.PassphraseEnv)
	fmt.Fprintf(stdout, "other remailers' keys go into %s (and %s)\n", filepath.Join(*dir, mix.PubringFile), filepath.Join(*dir, mix.Type2File))
	return nil
}

func cmdKey(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs, dir := flags("key", stderr)
	type2 := fs.Bool("type2", false, "print the type2.list line instead")
	if err := parse(fs, dir, args); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(*dir, mix.KeyFile))
	if err != nil {
		return err
	}
	keys, errs := keyring.ParsePubring(data)
	if len(keys) == 0 {
		return fmt.Errorf("%s holds no key: %v", mix.KeyFile, errs)
	}
	for _, k := range keys {
		if *type2 {
			fmt.Fprintln(stdout, k.Type2Line())
		} else {
			stdout.Write(k.KeyTxt())
		}
	}
	return nil
}

func cmdRun(args []string, _ io.Reader, _, stderr io.Writer) error {
	fs, dir := flags("run", stderr)
	if err := parse(fs, dir, args); err != nil {
		return err
	}
	return runRoles(*dir) // the remailer and/or the pinger (pinger.go)
}

func cmdProcess(args []string, stdin io.Reader, _, stderr io.Writer) error {
	fs, dir := flags("process", stderr)
	if err := parse(fs, dir, args); err != nil {
		return err
	}
	inputs := fs.Args()
	read := func(i int) ([]byte, error) {
		if len(inputs) == 0 {
			return io.ReadAll(stdin)
		}
		return os.ReadFile(inputs[i])
	}
	count := max(len(inputs), 1)
	// A running daemon holds the store: hand each mail to it.
	if err := mix.Control(*dir, "pool", nil, io.Discard); err == nil {
		for i := range count {
			data, err := read(i)
			if err != nil {
				return err
			}
			var out bytes.Buffer
			if err := mix.Control(*dir, "process", bytes.NewReader(data), &out); err != nil {
				return err
			}
			if !strings.HasPrefix(out.String(), "ok") {
				return fmt.Errorf("daemon: %s", strings.TrimSpace(out.String()))
			}
		}
		return nil
	}
	n, err := mix.Open(*dir, nil)
	if err != nil {
		return err
	}
	defer n.Close()
	// Store each mail (from then on nothing is lost) and decrypt it, like
	// mixmaster -R.
	return n.ProcessBatch(count, read)
}

// viaDaemon runs a control command if a daemon is running; ok is false
// when none is.
func viaDaemon(dir, command string, stdout io.Writer) (ok bool, err error) {
	var out bytes.Buffer
	if err := mix.Control(dir, command, nil, &out); err != nil {
		if errors.Is(err, mix.ErrNoDaemon) {
			return false, nil
		}
		return true, err
	}
	s := out.String()
	if strings.HasPrefix(s, "error") {
		return true, errors.New(strings.TrimSpace(strings.TrimPrefix(s, "error")))
	}
	io.WriteString(stdout, strings.TrimPrefix(strings.TrimPrefix(s, "ok\n"), "ok "))
	return true, nil
}

func cmdFlush(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs, dir := flags("flush", stderr)
	all := fs.Bool("all", false, "send the whole pool (for shutting a node down)")
	if err := parse(fs, dir, args); err != nil {
		return err
	}
	cmd := "flush"
	if *all {
		cmd = "flush all"
	}
	if ok, err := viaDaemon(*dir, cmd, stdout); ok {
		return err
	}
	n, err := mix.Open(*dir, nil)
	if err != nil {
		return err
	}
	defer n.Close()
	s, err := n.NewSender()
	if err != nil {
		return err
	}
	sent, failed, err := n.Flush(context.Background(), *all, s)
	fmt.Fprintf(stdout, "sent=%d failed=%d\n", sent, failed)
	return err
}

func cmdPool(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs, dir := flags("pool", stderr)
	if err := parse(fs, dir, args); err != nil {
		return err
	}
	if ok, err := viaDaemon(*dir, "pool", stdout); ok {
		return err
	}
	n, err := mix.Open(*dir, nil)
	if err != nil {
		return err
	}
	defer n.Close()
	text, err := n.PoolReport()
	if err != nil {
		return err
	}
	io.WriteString(stdout, text)
	return nil
}

func cmdBackup(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs, dir := flags("backup", stderr)
	to := fs.String("to", "", "backup `file` to write")
	if err := parse(fs, dir, args); err != nil {
		return err
	}
	if *to == "" {
		return fmt.Errorf("%w: --to is required", errUsage)
	}
	tmp := *to + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	err = mix.Control(*dir, "backup", nil, f)
	if errors.Is(err, mix.ErrNoDaemon) {
		var n *mix.Node
		if n, err = mix.Open(*dir, nil); err == nil {
			_, err = n.Store.Backup(f)
			n.Close()
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, *to); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s\n", *to)
	return nil
}
