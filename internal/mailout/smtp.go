package mailout

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// tlsPolicy is how one SMTP connection uses TLS.
type tlsPolicy int

const (
	tlsOff           tlsPolicy = iota // never STARTTLS
	tlsOpportunistic                  // STARTTLS if offered, certificate not verified
	tlsVerified                       // STARTTLS required, certificate verified
	tlsImplicit                       // TLS from the first byte, certificate verified
)

// maxPreambleBytes bounds what is read from the server before go-smtp takes
// over (greeting, EHLO reply, STARTTLS reply).
const maxPreambleBytes = 64 << 10

// quitTimeout bounds the wait for the reply to QUIT after a transaction.
const quitTimeout = 5 * time.Second

// tlsConfig returns the TLS configuration for a connection to host.
func (o *options) tlsConfig(host string, verify bool) *tls.Config {
	cfg := &tls.Config{}
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	}
	cfg.ServerName = host
	if !verify {
		// Opportunistic TLS beats plain text even when old: as MTAs do,
		// accept TLS 1.0 and RSA key exchange unless told otherwise, since
		// a failed handshake does not fall back to plain text.
		cfg.InsecureSkipVerify = true
		if cfg.MinVersion == 0 {
			cfg.MinVersion = tls.VersionTLS10
		}
		if cfg.CipherSuites == nil {
			for _, cs := range tls.CipherSuites() {
				cfg.CipherSuites = append(cfg.CipherSuites, cs.ID)
			}
			cfg.CipherSuites = append(cfg.CipherSuites,
				tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
				tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA)
		}
	}
	return cfg
}

// session is one SMTP connection, after EHLO.
type session struct {
	raw  net.Conn
	nc   net.Conn // raw, or the TLS connection over it: what go-smtp uses
	c    *smtp.Client
	tls  bool
	stop func() bool // stops the context watcher
}

func (s *session) close() {
	s.stop()
	if s.c != nil {
		s.c.Close()
	}
	s.raw.Close()
}

// prefixConn is a net.Conn whose reads come from r (a prefix, then the
// connection itself). It lets go-smtp take over a connection on which this
// package already read the greeting and perhaps negotiated TLS: r starts
// with a stand-in greeting.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// handoff gives nc to go-smtp; buffered are bytes already read past the
// greeting.
func handoff(nc net.Conn, buffered []byte, timeout time.Duration) *smtp.Client {
	prefix := append([]byte("220 mailout\r\n"), buffered...)
	c := smtp.NewClient(&prefixConn{Conn: nc, r: io.MultiReader(bytes.NewReader(prefix), nc)})
	c.CommandTimeout = timeout
	c.SubmissionTimeout = timeout
	return c
}

// toSMTPError converts a reply error of net/textproto as go-smtp does.
func toSMTPError(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &smtp.SMTPError{Code: te.Code, Message: te.Msg}
	}
	return err
}

// dial connects to addr, reads the greeting, negotiates TLS per policy
// (verifying the certificate for host where the policy says so) and says
// EHLO.
func dial(ctx context.Context, o *options, addr, host string, policy tlsPolicy) (*session, *Error) {
	if err := ctx.Err(); err != nil {
		return nil, classify(ctx, "connect", err)
	}
	d := net.Dialer{Timeout: o.Timeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, classify(ctx, "connect", err)
	}
	s := &session{raw: raw, stop: context.AfterFunc(ctx, func() { raw.Close() })}
	fail := func(e *Error) (*session, *Error) {
		s.close()
		return nil, e
	}

	var nc net.Conn = raw
	if policy == tlsImplicit {
		tc := tls.Client(raw, o.tlsConfig(host, true))
		raw.SetDeadline(time.Now().Add(o.Timeout))
		if err := tc.Handshake(); err != nil {
			return fail(classify(ctx, "tls", err))
		}
		nc, s.tls = tc, true
	}

	nc.SetDeadline(time.Now().Add(o.Timeout))
	br := bufio.NewReader(io.LimitReader(nc, maxPreambleBytes))
	tp := textproto.NewReader(br)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return fail(classify(ctx, "greeting", toSMTPError(err)))
	}

	if policy == tlsOpportunistic || policy == tlsVerified {
		offered, e := ehloOffersStartTLS(ctx, nc, tp, o.HeloName)
		if e != nil {
			return fail(e)
		}
		switch {
		case offered:
			if _, err := io.WriteString(nc, "STARTTLS\r\n"); err != nil {
				return fail(classify(ctx, "tls", err))
			}
			if _, _, err := tp.ReadResponse(220); err != nil {
				e := classify(ctx, "tls", toSMTPError(err))
				if e.Code != 0 {
					// Offered, then refused: not a reason to go on in
					// clear, and not a verdict on the message either.
					e.Temporary, e.reason = true, "STARTTLS refused"
				}
				return fail(e)
			}
			if br.Buffered() > 0 {
				return fail(temporary("tls", "data received before TLS", nil))
			}
			tc := tls.Client(raw, o.tlsConfig(host, policy == tlsVerified))
			if err := tc.Handshake(); err != nil {
				return fail(classify(ctx, "tls", err))
			}
			nc, s.tls = tc, true
			br = nil // nothing of the plain-text phase is kept
		case policy == tlsVerified:
			return fail(temporary("tls", "STARTTLS required but not offered", nil))
		}
	}

	var buffered []byte
	if br != nil {
		buffered, _ = br.Peek(br.Buffered())
	}
	s.c = handoff(nc, buffered, o.Timeout)
	s.nc = nc
	nc.SetDeadline(time.Time{})
	if err := s.c.Hello(o.HeloName); err != nil {
		return fail(classify(ctx, "ehlo", err))
	}
	return s, nil
}

// ehloOffersStartTLS says EHLO and reports whether the reply lists
// STARTTLS. A server that does not know EHLO (500, 502) offers nothing.
func ehloOffersStartTLS(ctx context.Context, nc net.Conn, tp *textproto.Reader, helo string) (bool, *Error) {
	if _, err := io.WriteString(nc, "EHLO "+helo+"\r\n"); err != nil {
		return false, classify(ctx, "ehlo", err)
	}
	_, msg, err := tp.ReadResponse(250)
	if err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && (te.Code == 500 || te.Code == 502) {
			return false, nil
		}
		return false, classify(ctx, "ehlo", toSMTPError(err))
	}
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
			return true, nil
		}
	}
	return false, nil
}

// auth authenticates with AUTH PLAIN, never in clear unless allowed. Every
// failure is temporary: a wrong password must not make messages be dropped.
func (s *session) auth(ctx context.Context, o *options) *Error {
	if !s.tls && !o.AllowInsecureAuth {
		return temporary("auth", "refusing to send credentials without TLS", nil)
	}
	if !s.c.SupportsAuth(sasl.Plain) {
		return temporary("auth", "server does not offer AUTH PLAIN", nil)
	}
	if err := s.c.Auth(sasl.NewPlainClient("", o.Username, o.Password)); err != nil {
		e := classify(ctx, "auth", err)
		if e.Code != 0 {
			e.Temporary, e.reason = true, "authentication failed"
		}
		return e
	}
	return nil
}

// transact runs one mail transaction: MAIL, RCPT for each of rcpts, DATA.
// It returns each recipient's outcome (nil = delivered), or txErr for a
// failure that applies to all of rcpts (nothing was delivered).
func (s *session) transact(ctx context.Context, timeout time.Duration, from string, rcpts []string, data []byte) (out map[string]*Error, txErr *Error) {
	c := s.c
	opts := &smtp.MailOptions{Size: int64(len(data))}
	if !isASCII(from) || !allASCII(rcpts) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return nil, permanent("mail", "non-ASCII address and no SMTPUTF8", nil)
		}
		opts.UTF8 = true
	}
	if err := c.Mail(from, opts); err != nil {
		return nil, classify(ctx, "mail", err)
	}
	out = make(map[string]*Error, len(rcpts))
	var accepted []string
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				out[r] = classify(ctx, "rcpt", err)
				continue
			}
			return nil, classify(ctx, "rcpt", err)
		}
		accepted = append(accepted, r)
	}
	if len(accepted) == 0 {
		return out, nil
	}
	var dataErr *Error
	if ok, _ := c.Extension("CHUNKING"); ok {
		if err := s.bdat(timeout, data); err != nil {
			dataErr = classify(ctx, "data", err)
		}
	} else if w, err := c.Data(); err != nil {
		dataErr = classify(ctx, "data", err)
	} else {
		s.raw.SetDeadline(time.Now().Add(timeout))
		if _, err := w.Write(data); err != nil {
			dataErr = classify(ctx, "data", err)
		} else if err := w.Close(); err != nil {
			dataErr = classify(ctx, "data", err)
		}
	}
	for _, r := range accepted {
		out[r] = dataErr
	}
	return out, nil
}

// bdat sends data as one BDAT LAST chunk (RFC 3030) where the server
// offers CHUNKING: the bytes go as they are, without dot-stuffing on
// either side, which for 28 KB packets was most of the CPU time of DATA
// on both ends (docs/PERFORMANCE.md). go-smtp's client has no BDAT, so
// the command and its reply go over the connection directly; nothing is
// pipelined, so go-smtp has nothing buffered in between.
func (s *session) bdat(timeout time.Duration, data []byte) error {
	s.nc.SetDeadline(time.Now().Add(timeout))
	defer s.nc.SetDeadline(time.Time{})
	var end []byte
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		end = []byte("\r\n") // as DATA's terminator would add it
	}
	cmd := []byte("BDAT " + strconv.Itoa(len(data)+len(end)) + " LAST\r\n")
	bufs := net.Buffers{cmd, data, end}
	if _, err := bufs.WriteTo(s.nc); err != nil {
		return err
	}
	return readReply(s.nc)
}

// readReply reads one SMTP reply byte by byte (so that nothing after it
// is consumed) and returns nil for 2xx, an *smtp.SMTPError for 4xx and
// 5xx, and another error for anything else.
func readReply(r io.Reader) error {
	var line []byte
	var msg []string
	var b [1]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return err
		}
		if b[0] != '\n' {
			if len(line) >= 1000 || len(msg) > 100 {
				return errors.New("over-long reply")
			}
			line = append(line, b[0])
			continue
		}
		l := strings.TrimSuffix(string(line), "\r")
		line = line[:0]
		if len(l) < 3 {
			return errors.New("malformed reply")
		}
		code, err := strconv.Atoi(l[:3])
		if err != nil || code < 100 || code > 599 {
			return errors.New("malformed reply")
		}
		msg = append(msg, strings.TrimLeft(l[3:], " -"))
		if len(l) > 3 && l[3] == '-' {
			continue
		}
		switch code / 100 {
		case 2:
			return nil
		case 1, 3:
			return errors.New("unexpected reply")
		}
		e := &smtp.SMTPError{Code: code, Message: strings.Join(msg, "\n")}
		if f := strings.Fields(msg[0]); len(f) > 0 {
			var c smtp.EnhancedCode
			if n, _ := fmt.Sscanf(f[0], "%d.%d.%d", &c[0], &c[1], &c[2]); n == 3 && c[0] == code/100 {
				e.EnhancedCode = c
				e.Message = strings.TrimSpace(strings.TrimPrefix(e.Message, f[0]))
			}
		}
		return e
	}
}

// quit ends the session politely.
func (s *session) quit(timeout time.Duration) {
	s.c.CommandTimeout = min(timeout, quitTimeout)
	s.c.Quit()
}

// deliver makes one SMTP session to addr and one transaction in it. It
// returns each recipient's outcome, or sessErr for a failure that applies
// to all of rcpts; early reports that sessErr came before the transaction
// (connection, TLS, greeting, EHLO, AUTH), when another host may do
// better.
func deliver(ctx context.Context, o *options, addr, host string, policy tlsPolicy, doAuth bool,
	from string, rcpts []string, data []byte) (out map[string]*Error, sessErr *Error, early bool) {
	s, e := dial(ctx, o, addr, host, policy)
	if e != nil {
		return nil, e, true
	}
	defer s.close()
	if doAuth {
		if e := s.auth(ctx, o); e != nil {
			return nil, e, true
		}
	}
	out, e = s.transact(ctx, o.Timeout, from, rcpts, data)
	if e == nil {
		s.quit(o.Timeout)
	}
	return out, e, false
}

// smarthost sends everything to one relay. Like Postfix's connection
// cache it keeps a few connections open between mails: a mail then costs
// MAIL, RCPT and DATA instead of a new TCP connection, greeting, EHLO,
// TLS handshake and AUTH. The relay sees nothing it would not see
// otherwise: every mail comes from this node anyway.
type smarthost struct {
	opt    *options
	addr   string // host:port
	host   string // name the certificate is verified for
	policy tlsPolicy

	mu   sync.Mutex
	idle []*idleSession
}

// Connection reuse limits, Postfix's defaults: an unused connection is
// closed after idleTimeout, and none is used for longer than reuseLimit.
const (
	idleTimeout     = 2 * time.Second
	reuseLimit      = 300 * time.Second
	maxIdleSessions = 16
)

// idleSession is a connection waiting for the next mail.
type idleSession struct {
	s      *session
	opened time.Time
	timer  *time.Timer // closes it after idleTimeout
}

func (h *smarthost) Send(ctx context.Context, from string, to []string, msg []byte) error {
	rcpts, e := checkEnvelope(from, to)
	if e != nil {
		return e
	}
	data := toCRLF(msg)
	// A cached connection the relay has closed in the meantime fails at
	// MAIL, before anything of the mail was sent: then a new one.
	for {
		s, opened := h.takeIdle(ctx)
		if s == nil {
			break
		}
		out, e := s.transact(ctx, h.opt.Timeout, from, rcpts, data)
		if e != nil && e.Op == "mail" && (e.Code == 0 || e.Code == 421) && ctx.Err() == nil {
			s.close()
			continue
		}
		h.release(s, opened, reusable(out, e))
		if e != nil {
			return e
		}
		return result(rcpts, out)
	}
	s, e := dial(ctx, h.opt, h.addr, h.host, h.policy)
	if e != nil {
		return e
	}
	opened := time.Now()
	if h.opt.Username != "" {
		if e := s.auth(ctx, h.opt); e != nil {
			s.close()
			return e
		}
	}
	out, e := s.transact(ctx, h.opt.Timeout, from, rcpts, data)
	h.release(s, opened, reusable(out, e))
	if e != nil {
		return e
	}
	return result(rcpts, out)
}

// reusable reports whether a connection is in a known state after a
// transaction: it ended, or the server refused it with a reply. After a
// network error, a timeout or a malformed reply it is not.
func reusable(out map[string]*Error, txErr *Error) bool {
	if txErr != nil {
		return false
	}
	for _, e := range out {
		if e != nil && e.Code == 0 {
			return false
		}
	}
	return true
}

// takeIdle returns a cached connection, watched by ctx, or nil.
func (h *smarthost) takeIdle(ctx context.Context) (*session, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.idle) > 0 {
		is := h.idle[len(h.idle)-1]
		h.idle = h.idle[:len(h.idle)-1]
		if !is.timer.Stop() {
			// Its timer fired: expire will not find it any more.
			is.s.close()
			continue
		}
		raw := is.s.raw
		is.s.stop = context.AfterFunc(ctx, func() { raw.Close() })
		return is.s, is.opened
	}
	return nil, time.Time{}
}

// release caches a connection after a successful transaction, or ends it.
func (h *smarthost) release(s *session, opened time.Time, ok bool) {
	if !ok {
		s.close()
		return
	}
	if !s.stop() {
		s.close() // its context ended: the connection is closed
		return
	}
	h.mu.Lock()
	if time.Since(opened) >= reuseLimit || len(h.idle) >= maxIdleSessions {
		h.mu.Unlock()
		s.quit(h.opt.Timeout)
		s.close()
		return
	}
	is := &idleSession{s: s, opened: opened}
	is.timer = time.AfterFunc(idleTimeout, func() { h.expire(is) })
	h.idle = append(h.idle, is)
	h.mu.Unlock()
}

// expire closes a connection unused for idleTimeout.
func (h *smarthost) expire(is *idleSession) {
	h.mu.Lock()
	i := slices.Index(h.idle, is)
	if i >= 0 {
		h.idle = slices.Delete(h.idle, i, i+1)
	}
	h.mu.Unlock()
	if i >= 0 {
		is.s.quit(h.opt.Timeout)
		is.s.close()
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}
