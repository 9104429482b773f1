package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mixgo/mixgo/internal/client"
	"github.com/mixgo/mixgo/internal/mailout"
	"github.com/mixgo/mixgo/packet"
)

// maxBody bounds the message read: what an exit decompresses at most.
const maxBody = packet.MaxDecompressed

const sendUsage = "mix send [--chain A,*,B | --hops N] [--copies N] --to ADDR [--to ADDR]... [--newsgroups G] [--subject S] [--header 'Name: value']... [--body FILE] (--out DIR | --smtp HOST:PORT) < body"

func cmdSend(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("mix send", stderr)
	sf := addSelFlags(fs, true)
	var to, headers listFlag
	fs.Var(&to, "to", "recipient `address` (repeatable)")
	fs.Var(&headers, "header", "extra header line 'Name: value' (repeatable)")
	newsgroups := fs.String("newsgroups", "", "post to these comma-separated `groups` (the exit must be able to post)")
	subject := fs.String("subject", "", "Subject of the message")
	from := fs.String("from", "", "From `address` of the e-mails that carry the packets (the envelope sender; default \"from\" of mix.conf, nobody@localhost)")
	outDir := fs.String("out", "", "write one e-mail file per packet into `dir` instead of sending")
	smtpAddr := fs.String("smtp", "", "send the packets through this mail server: host:port, smtp://, smtps:// or sendmail:/path (default \"smtp\" of mix.conf)")
	smtpUser := fs.String("smtp-user", "", "AUTH user for the mail server")
	smtpPass := fs.String("smtp-password-file", "", "`file` holding the AUTH password")
	startTLS := fs.String("starttls", "", "STARTTLS: opportunistic, required or off (default \"starttls\" of mix.conf, opportunistic)")
	bodyFile := fs.String("body", "", "read the message body from `file` instead of stdin")
	verbose := fs.Bool("verbose", false, "print the chains and where the packets went")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (len(to) == 0 && *newsgroups == "") || fs.NArg() > 0 {
		return fmt.Errorf("%w: %s", errUsage, sendUsage)
	}
	now := time.Now()
	s, err := sf.load(now)
	if err != nil {
		return err
	}
	st := s.settings
	for name, v := range map[string]*string{"from": from, "smtp": smtpAddr, "smtp_user": smtpUser, "smtp_password_file": smtpPass, "starttls": startTLS} {
		if *v != "" {
			if err := st.Set(name, *v); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
		}
	}
	if err := st.Check(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *outDir == "" && st.SMTP == "" {
		return fmt.Errorf("%w: give --out DIR or --smtp HOST:PORT (or smtp in %s)", errUsage, client.FileConfig)
	}
	if *outDir != "" && *smtpAddr != "" {
		return fmt.Errorf("%w: give --out or --smtp, not both", errUsage)
	}

	msg := &packet.Message{Destinations: to}
	if *newsgroups != "" {
		msg.Destinations = append(msg.Destinations, "post: "+*newsgroups)
	}
	if *subject != "" {
		msg.Headers = append(msg.Headers, "Subject: "+*subject)
	}
	for _, h := range headers {
		if name, _, ok := strings.Cut(h, ":"); !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t") {
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
		return fmt.Errorf("message larger than %d bytes, the most an exit accepts", maxBody)
	}
	need, err := messageNeeds(msg, *newsgroups != "")
	if err != nil {
		return err
	}

	s.warn(stderr)
	chains, err := client.NewChains(s.sel, s.spec, need, st.Copies)
	if err != nil {
		return err
	}
	// The exit decides compression, so it is chosen first.
	exit, err := chains.Exit()
	if err != nil {
		return explainErr(err)
	}
	out, err := packet.BuildMessage(randReader, now, msg, exit.Caps.Compress(), st.Copies, chains.ChainFunc())
	if err != nil {
		return explainErr(err)
	}

	if *outDir != "" {
		err = writePackets(*outDir, st.From, out, stdout, *verbose)
	} else {
		err = sendPackets(st, out, stdout, *verbose)
	}
	if err != nil {
		return err
	}
	if *verbose {
		reportChains(stdout, chains, len(out))
	}
	return nil
}

// messageNeeds works out what the exit must accept: the size it delivers and
// whether the message fits into 255 packets only compressed.
func messageNeeds(msg *packet.Message, post bool) (client.Message, error) {
	m := client.Message{Post: post, Size: int64(len(msg.Body))}
	for _, h := range msg.Headers {
		m.Size += int64(len(h) + 1)
	}
	m.Size += int64(len("To: ") + len(strings.Join(msg.Destinations, ",")) + 1)
	plain, err := msg.Encode(false)
	if err != nil {
		return m, err
	}
	if len(plain)/packet.MaxChunkData+1 <= packet.MaxChunks {
		return m, nil
	}
	packed, err := msg.Encode(true)
	if err != nil {
		return m, err
	}
	if n := len(packed)/packet.MaxChunkData + 1; n > packet.MaxChunks {
		return m, fmt.Errorf("%w: %d bytes need %d packets even compressed, at most %d", packet.ErrMessageTooLarge, len(msg.Body), n, packet.MaxChunks)
	}
	m.NeedCompress = true
	return m, nil
}

// writePackets writes one e-mail per packet into dir, as Mixmaster's
// client does for an MTA.
func writePackets(dir, from string, out []packet.Outgoing, stdout io.Writer, verbose bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	width := max(len(fmt.Sprint(len(out))), 2)
	for i, o := range out {
		mail := packet.ArmorMail(packet.Envelope{From: from, To: o.To}, packet.Version, o.Packet)
		name := filepath.Join(dir, fmt.Sprintf("%0*d.eml", width, i+1))
		if err := writeFileSync(name, mail); err != nil {
			return err
		}
		if verbose {
			fmt.Fprintf(stdout, "%s -> %s\n", name, o.To)
		}
	}
	return nil
}

// sendPackets hands every packet e-mail to the mail server. It succeeds
// only when the server accepted all of them.
func sendPackets(st client.Settings, out []packet.Outgoing, stdout io.Writer, verbose bool) error {
	spec := st.SMTP
	if !strings.Contains(spec, "://") && !strings.HasPrefix(spec, "sendmail:") {
		spec = "smtp://" + spec
	}
	opt := mailout.Options{
		// The client's host name is nobody's business.
		HeloName: "localhost",
		StartTLS: st.StartTLS,
		Timeout:  time.Minute,
	}
	if st.SMTPUser != "" {
		pass, err := os.ReadFile(st.SMTPPass)
		if err != nil {
			return fmt.Errorf("reading the SMTP password: %w", err)
		}
		opt.Username, opt.Password = st.SMTPUser, strings.TrimRight(string(pass), "\r\n")
		opt.AllowInsecureAuth = loopback(spec)
	}
	sender, err := mailout.New(spec, opt)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for i, o := range out {
		mail := packet.ArmorMail(packet.Envelope{From: st.From, To: o.To}, packet.Version, o.Packet)
		if err := sender.Send(ctx, st.From, []string{o.To}, mail); err != nil {
			var more string
			if i > 0 {
				more = fmt.Sprintf(" (%d of %d packets were sent; send the message again)", i, len(out))
			}
			return fmt.Errorf("sending packet %d of %d: %w%s", i+1, len(out), err, more)
		}
		if verbose {
			fmt.Fprintf(stdout, "packet %d -> %s\n", i+1, o.To)
		}
	}
	return nil
}

// loopback reports whether a mailout spec names a loopback host, where
// AUTH without TLS exposes nothing.
func loopback(spec string) bool {
	_, hostport, ok := strings.Cut(spec, "://")
	if !ok {
		return false
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// reportChains prints the chains chosen (--verbose).
func reportChains(w io.Writer, c *client.Chains, packets int) {
	same := true
	for _, ch := range c.Chosen[1:] {
		if client.Names(ch) != client.Names(c.Chosen[0]) {
			same = false
		}
	}
	if same {
		fmt.Fprintf(w, "chain %s, %d packet(s)\n", client.Names(c.Chosen[0]), packets)
		return
	}
	for i, ch := range c.Chosen {
		fmt.Fprintf(w, "chain %d: %s\n", i+1, client.Names(ch))
	}
	fmt.Fprintf(w, "%d packet(s)\n", packets)
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
