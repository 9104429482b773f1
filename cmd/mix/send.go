package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/packet"
)

// maxBody bounds the message read from stdin: 255 full chunks.
const maxBody = packet.MaxChunks * packet.MaxChunkData

func cmdSend(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("mix send", stderr)
	pubring := fs.String("pubring", "", "remailer public keys (pubring.mix) `file`")
	chainArg := fs.String("chain", "", "remailers in sending order, by name or address, separated by commas")
	var to, headers listFlag
	fs.Var(&to, "to", "recipient `address` (repeatable)")
	fs.Var(&headers, "header", "extra header line 'Name: value' (repeatable)")
	subject := fs.String("subject", "", "Subject of the message")
	from := fs.String("from", "nobody@localhost", "From `address` of the e-mails that carry the packets (the MTA's envelope sender)")
	outDir := fs.String("out", "", "write one e-mail file per packet into `dir`")
	bodyFile := fs.String("body", "", "read the message body from `file` instead of stdin")
	verbose := fs.Bool("verbose", false, "print the chain and the files written")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pubring == "" || *chainArg == "" || len(to) == 0 || *outDir == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: mix send --pubring FILE --chain A,B,C --to ADDR [--to ADDR]... [--subject S] [--header 'Name: value']... --out DIR < body", errUsage)
	}
	now := time.Now()
	ring, err := loadPubring(*pubring)
	if err != nil {
		return err
	}
	chain, err := namedChain(ring, *chainArg, now)
	if err != nil {
		return err
	}
	msg := &packet.Message{Destinations: to}
	if *subject != "" {
		msg.Headers = append(msg.Headers, "Subject: "+*subject)
	}
	for _, h := range headers {
		if !strings.Contains(h, ":") {
			return fmt.Errorf("header %q is not of the form 'Name: value'", h)
		}
		msg.Headers = append(msg.Headers, h)
	}
	var in io.Reader = stdin
	if *bodyFile != "" {
		f, err := os.Open(*bodyFile)
		if err != nil {
			return fmt.Errorf("reading body: %w", err)
		}
		defer f.Close()
		in = f
	}
	if msg.Body, err = io.ReadAll(io.LimitReader(in, maxBody+1)); err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if len(msg.Body) > maxBody {
		return fmt.Errorf("message larger than %d bytes, the most %d packets carry", maxBody, packet.MaxChunks)
	}
	hops := make([]packet.Hop, len(chain))
	for i, k := range chain {
		hops[i] = k.Hop()
	}
	exit := chain[len(chain)-1]
	out, err := packet.BuildMessage(randReader, now, msg, exit.Caps.Compress(), 1,
		func(int, int) ([]packet.Hop, error) { return hops, nil })
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*outDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", *outDir, err)
	}
	width := len(fmt.Sprint(len(out)))
	width = max(width, 2)
	for i, o := range out {
		mail := packet.ArmorMail(packet.Envelope{From: *from, To: o.To}, packet.Version, o.Packet)
		name := filepath.Join(*outDir, fmt.Sprintf("%0*d.eml", width, i+1))
		if err := writeFileSync(name, mail); err != nil {
			return err
		}
		if *verbose {
			fmt.Fprintf(stdout, "%s -> %s\n", name, o.To)
		}
	}
	if *verbose {
		names := make([]string, len(chain))
		for i, k := range chain {
			names[i] = k.Name
		}
		fmt.Fprintf(stdout, "chain %s, %d packet(s)\n", strings.Join(names, ","), len(out))
	}
	return nil
}

func loadPubring(path string) (*keyring.Pubring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading pubring: %w", err)
	}
	keys, errs := keyring.ParsePubring(data)
	if len(keys) == 0 {
		if len(errs) > 0 {
			return nil, fmt.Errorf("pubring %s: %w", path, errs[0])
		}
		return nil, fmt.Errorf("pubring %s holds no key", path)
	}
	return keyring.NewPubring(keys), nil
}

// namedChain resolves a chain of names or addresses (Mixmaster also takes
// ';' and ':' as separators).
func namedChain(ring *keyring.Pubring, spec string, now time.Time) ([]*keyring.PublicKey, error) {
	fields := strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ';' || r == ':' })
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: empty chain", errUsage)
	}
	if len(fields) > packet.MaxSlots {
		return nil, fmt.Errorf("chain of %d hops: at most %d", len(fields), packet.MaxSlots)
	}
	chain := make([]*keyring.PublicKey, len(fields))
	slots := 0
	for i, f := range fields {
		f = strings.TrimSpace(f)
		if f == "*" {
			return nil, fmt.Errorf("random hop '*' in chain: give remailer names (random hops need remailer statistics)")
		}
		k, err := ring.Lookup(f, now)
		if err != nil {
			return nil, err
		}
		chain[i] = k
		slots += k.Hop().Slots()
	}
	if slots > packet.MaxSlots {
		return nil, fmt.Errorf("%w: %d hops need %d header slots (large keys take two)", packet.ErrChainTooLong, len(chain), slots)
	}
	return chain, nil
}

// writeFileSync writes a file and fsyncs it: a packet written for an MTA
// must not vanish in a crash after we said it was there.
func writeFileSync(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", name, err)
	}
	return f.Close()
}
