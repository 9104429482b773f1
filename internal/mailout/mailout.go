// Package mailout hands a finished e-mail to the outside world: it is how a
// remailer, the client and the pinger send mail.
//
// [New] builds a [Sender] from a spec string:
//
//	smtp://HOST[:PORT]    a smarthost (port 25 by default), STARTTLS per Options.StartTLS
//	smtps://HOST[:PORT]   a smarthost over implicit TLS (port 465 by default), certificate verified
//	mx                    direct delivery to each recipient domain's mail hosts
//	sendmail:/PATH        pipe to a sendmail-compatible program
//	dir:/PATH             one file per message in a directory, written atomically
//
// # Direct delivery ("mx")
//
// As RFC 5321 §5: the domain's MX records by preference, in random order
// among equal preferences, each host's IPv4 then IPv6 addresses; with no MX
// record, the domain's own addresses (implicit MX). A temporary failure
// (connection, TLS, greeting, 4xx) moves on to the next address, which is
// offered only the recipients still pending; a 5xx reply to MAIL or DATA,
// or to one recipient's RCPT, is final. At most 10 hosts and 10 addresses
// are tried per domain and Send. Recipients are grouped by domain, one SMTP
// transaction per domain. Address literals (user@[192.0.2.1]) are refused.
// DNS goes to Options.Resolver with github.com/miekg/dns (UDP, TCP when
// truncated), or to the system resolver.
//
// # TLS
//
// In the default opportunistic mode STARTTLS is used whenever the server
// offers it, without verifying the certificate, as MTAs do; the message goes
// in plain text only if the server does not offer STARTTLS. A server that
// offers it and then refuses it or fails the handshake is a temporary
// failure, never a reason to go on in clear. StartTLSRequired (and
// Options.RequireVerifiedTLS for "mx") needs STARTTLS and a certificate
// verified for the host connected to. AUTH credentials go only over verified
// TLS (see Options.Username).
//
// # sendmail
//
// "sendmail:/PATH" runs PATH -oi -f FROM -- RCPT... (FROM "" as "<>") with
// the message on standard input. Exit status 0 is success; 75 (EX_TEMPFAIL)
// and 71 (EX_OSERR) are temporary failures and any other status a permanent
// one; a program that cannot be started, is killed, or outlives
// Options.Timeout is a temporary failure.
//
// # dir
//
// "dir:/PATH" writes each message to its own file, mode 0600:
//
//	X-Envelope-From: <FROM>
//	X-Envelope-To: <RCPT>        (one line per recipient)
//	MESSAGE
//
// named by 128 random bits in hex plus ".eml", never derived from the
// content or the time. On Linux the file is written unnamed (O_TMPFILE) and
// linked in once complete; elsewhere it is written under a temporary name
// starting with "." and renamed. Either way a reader sees only complete
// files and should ignore names starting with ".". Send returns once the
// file is durable (one syncfs(2) shared by concurrent Sends on Linux; an
// fsync of the file and the directory elsewhere); [BatchSender.SendBatch]
// writes a whole batch, two files per core at once, then syncs once. Any
// failure to write is temporary.
//
// # Connections to a smarthost
//
// "smtp://" and "smtps://" keep up to 16 connections open after a
// successful transaction, as Postfix's connection cache does: an unused
// one is closed (QUIT) after 2 seconds, none is used for more than 300
// seconds, and one left after a network error, a timeout or a malformed
// reply is closed at once. A cached connection the relay has dropped is
// replaced, before anything of the mail was sent, by a new one. "mx" opens
// a connection per Send. Both send the message as one BDAT LAST chunk
// (RFC 3030), without dot-stuffing, where the server offers CHUNKING, and
// as DATA otherwise.
//
// # Message text
//
// The message is complete: headers, a blank line, the body, with LF or CRLF
// line ends. Over SMTP every line end (CRLF, LF, or a lone CR) is sent as
// CRLF, and with DATA leading dots are stuffed; to sendmail and into dir:
// files line ends are LF. Nothing else is changed.
//
// # Errors
//
// Every error Send returns is classified by [IsTemporary]: a caller retries a
// temporary failure later (with backoff) and drops a permanent one; it never
// sends a bounce. Temporary: SMTP 4xx replies, network errors, timeouts, DNS
// server failures, STARTTLS refused or failed, TLS required but not offered
// or not verified, authentication failures, the sendmail cases above, dir:
// write failures, and cancellation of the context. Permanent: SMTP 5xx
// replies, a domain that does not exist, has neither MX nor address records,
// or has a null MX (RFC 7505), MX hosts that do not exist, an invalid
// address, and the sendmail cases above. An invalid address anywhere in the
// envelope fails the whole Send before anything is sent.
//
// Errors are [*Error] or [*RecipientsError]. Their Error text never
// contains an address, a host name, an IP address, the server's reply text
// or any part of the message, so it may be logged; the underlying error,
// which may contain such things, is reachable with errors.Unwrap and
// errors.As. This package does not log.
//
// # Recipients
//
// A remailer normally gives one recipient per Send, and then the error is
// always an [*Error]. With several recipients (duplicates are dropped), a
// server may accept some and refuse others, and "mx" delivers to each domain
// separately. Send returns nil only if every recipient was delivered; an
// [*Error] if one failure applies to all of them (such as a connection, TLS,
// MAIL or DATA failure); otherwise a [*RecipientsError] listing who was
// delivered and why each other recipient failed: the caller should then
// retry only [RecipientsError.Temporary], never the whole Send.
package mailout

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A Sender delivers one message.
//
// from is the envelope sender (the SMTP MAIL FROM, "" for the null sender
// <>); to are the envelope recipients (at least one); msg is the complete
// message text. Send is safe for concurrent use. See the package
// documentation for the errors it returns.
type Sender interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// A Mail is one message of a batch: its envelope recipients and its
// complete text, as for Send.
type Mail struct {
	To  []string
	Msg []byte
}

// A BatchSender delivers many mails at once more cheaply than one Send
// each: "dir:" writes them all and makes them durable with one sync.
// errs[i] is what Send would have returned for mails[i] (same envelope
// sender from); a mail with a nil error is durable when SendBatch returns.
type BatchSender interface {
	Sender
	SendBatch(ctx context.Context, from string, mails []Mail) (errs []error)
}

// StartTLS modes (Options.StartTLS).
const (
	// StartTLSOpportunistic uses STARTTLS when the server offers it, without
	// verifying the certificate (as MTAs do), and sends in plain text when
	// the server does not offer it. A server that offers STARTTLS but then
	// fails it is a temporary failure, not a reason to fall back.
	StartTLSOpportunistic = "opportunistic"
	// StartTLSRequired requires STARTTLS and a certificate that verifies
	// (against Options.TLSConfig.RootCAs, or the system roots) for the name
	// of the host connected to: the smarthost's name, or the MX host name.
	StartTLSRequired = "required"
	// StartTLSOff never uses STARTTLS.
	StartTLSOff = "off"
)

// DefaultTimeout is used when Options.Timeout is zero.
const DefaultTimeout = 2 * time.Minute

// Options configures a Sender. The zero value is usable.
type Options struct {
	// HeloName is the name given in EHLO/HELO; default os.Hostname(), or
	// "localhost" if that fails. A remailer should set its public name.
	HeloName string

	// Username and Password, if Username is set, are sent to a smarthost with
	// AUTH PLAIN. Credentials go only over TLS: with Username set, "smtp://"
	// in the default opportunistic mode behaves as StartTLS "required"
	// (verified), and Send fails (temporarily) rather than send them in
	// clear, unless AllowInsecureAuth is set.
	Username, Password string
	// AllowInsecureAuth allows AUTH without TLS (and keeps the opportunistic
	// mode as it is when Username is set). Only for a smarthost on a trusted
	// link such as loopback.
	AllowInsecureAuth bool

	// StartTLS is StartTLSOpportunistic (the default, ""),
	// StartTLSRequired or StartTLSOff. It applies to "smtp://" and "mx".
	StartTLS string
	// RequireVerifiedTLS lists recipient domains for which "mx" delivery
	// requires STARTTLS with a certificate verified for the MX host name
	// (like an MTA-STS "enforce" policy). MX names come from unauthenticated
	// DNS, so this defends against eavesdroppers and network attackers, not
	// against forged DNS answers.
	RequireVerifiedTLS []string
	// TLSConfig is cloned for every TLS connection (e.g. RootCAs for tests);
	// ServerName is set to the host connected to. In opportunistic mode
	// InsecureSkipVerify is set, and TLS 1.0 and RSA key exchange are
	// allowed unless MinVersion or CipherSuites are set. InsecureSkipVerify
	// set here turns verification off in every mode. nil means defaults.
	TLSConfig *tls.Config

	// Resolver is the "host:port" of the DNS server "mx" asks; "" uses the
	// system resolver (net.Resolver).
	Resolver string
	// Port is the port "mx" connects to (default 25).
	Port int
	// Timeout bounds each connection attempt, each SMTP command, the
	// message transfer, each DNS query and a sendmail run (default
	// DefaultTimeout). The context passed to Send bounds the whole Send.
	Timeout time.Duration
}

// New returns the Sender described by spec (see the package documentation).
// It checks spec and opt; it does not connect anywhere. For "dir:" it creates
// the directory (mode 0700) if it does not exist.
func New(spec string, opt Options) (Sender, error) {
	o, err := opt.normalise()
	if err != nil {
		return nil, err
	}
	switch {
	case spec == "mx":
		return newMX(o), nil
	case strings.HasPrefix(spec, "smtp://"), strings.HasPrefix(spec, "smtps://"):
		return newSmarthost(spec, o)
	case strings.HasPrefix(spec, "sendmail:"):
		return newSendmail(strings.TrimPrefix(spec, "sendmail:"), o)
	case strings.HasPrefix(spec, "dir:"):
		return newDir(strings.TrimPrefix(spec, "dir:"))
	}
	return nil, fmt.Errorf("mailout: unknown delivery spec %q (want smtp://HOST:PORT, smtps://HOST:PORT, mx, sendmail:PATH or dir:PATH)", spec)
}

// options is Options with defaults applied and checked.
type options struct {
	Options
	verifiedDomains map[string]bool // ASCII, lower case
}

func (opt Options) normalise() (*options, error) {
	o := &options{Options: opt}
	if o.HeloName == "" {
		h, err := os.Hostname()
		if err != nil || checkHelo(h) != nil {
			h = "localhost"
		}
		o.HeloName = h
	}
	if err := checkHelo(o.HeloName); err != nil {
		return nil, err
	}
	switch o.StartTLS {
	case "":
		o.StartTLS = StartTLSOpportunistic
	case StartTLSOpportunistic, StartTLSRequired, StartTLSOff:
	default:
		return nil, fmt.Errorf("mailout: StartTLS %q: want %s, %s or %s", o.StartTLS, StartTLSOpportunistic, StartTLSRequired, StartTLSOff)
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("mailout: negative Timeout")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Port == 0 {
		o.Port = 25
	}
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("mailout: Port %d out of range", o.Port)
	}
	if o.Resolver != "" {
		if _, _, err := net.SplitHostPort(o.Resolver); err != nil {
			return nil, fmt.Errorf("mailout: Resolver %q: want host:port", o.Resolver)
		}
	}
	if strings.ContainsAny(o.Username+o.Password, "\x00\r\n") {
		return nil, fmt.Errorf("mailout: Username or Password contains NUL, CR or LF")
	}
	o.verifiedDomains = make(map[string]bool)
	for _, d := range o.RequireVerifiedTLS {
		a, err := asciiDomain(strings.TrimSuffix(d, "."))
		if err != nil {
			return nil, fmt.Errorf("mailout: RequireVerifiedTLS: invalid domain %q", d)
		}
		o.verifiedDomains[a] = true
	}
	return o, nil
}

func checkHelo(h string) error {
	if h == "" || len(h) > 255 || strings.ContainsFunc(h, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return fmt.Errorf("mailout: invalid HeloName %q", h)
	}
	return nil
}

// newSmarthost parses "smtp://HOST[:PORT]" or "smtps://HOST[:PORT]".
func newSmarthost(spec string, o *options) (Sender, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("mailout: bad smarthost spec: %v", err)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("mailout: smarthost spec must be %s://HOST[:PORT] (credentials go in Options)", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("mailout: smarthost spec has no host")
	}
	implicit := u.Scheme == "smtps"
	port := u.Port()
	if port == "" {
		port = "25"
		if implicit {
			port = "465"
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, fmt.Errorf("mailout: smarthost port %q out of range", port)
	}
	s := &smarthost{opt: o, addr: net.JoinHostPort(host, port), host: host}
	switch {
	case implicit:
		s.policy = tlsImplicit
	case o.StartTLS == StartTLSOff:
		s.policy = tlsOff
	case o.StartTLS == StartTLSRequired:
		s.policy = tlsVerified
	case o.Username != "" && !o.AllowInsecureAuth:
		// Never send credentials over a TLS session whose peer is not
		// authenticated.
		s.policy = tlsVerified
	default:
		s.policy = tlsOpportunistic
	}
	return s, nil
}

func newSendmail(path string, o *options) (Sender, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("mailout: sendmail path %q is not absolute", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("mailout: sendmail: %v", err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("mailout: sendmail %q is not an executable file", path)
	}
	return &sendmail{path: path, timeout: o.Timeout}, nil
}

func newDir(path string) (Sender, error) {
	if path == "" {
		return nil, fmt.Errorf("mailout: dir: empty path")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("mailout: dir: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("mailout: dir: %v", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("mailout: dir: %q is not a directory", path)
	}
	return newDirSender(path), nil
}
