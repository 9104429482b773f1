package pinger

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// The pinger's own SMTP listener: pings and request replies come back
// here, and a ping's latency ends when its mail has been received (end of
// DATA), not when some later poll of a mailbox finds it, as with Echolot.
// The reply is 250 once the receipt is committed (fsync'd), 451 if the
// store failed, so the sender retries.

var (
	errNotHere  = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errNoRcpt   = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Need RCPT first"}
	errStoreTmp = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary storage failure, try again later"}
	errBusy     = "421 4.7.0 Too many connections, try again later\r\n"
)

// accepts reports whether rcpt is the pinger's address, with or without a
// tag after the recipient delimiter.
func (p *Pinger) accepts(rcpt string) bool {
	rcpt = strings.ToLower(strings.Trim(strings.TrimSpace(rcpt), "<>"))
	own := strings.ToLower(p.Cfg.Address)
	if rcpt == own {
		return true
	}
	local, domain, ok := strings.Cut(rcpt, "@")
	plocal, pdomain, _ := strings.Cut(own, "@")
	if !ok || domain != pdomain || p.Cfg.RecipientDelimiter == "" {
		return false
	}
	return strings.HasPrefix(local, plocal+strings.ToLower(p.Cfg.RecipientDelimiter))
}

type smtpBackend struct{ p *Pinger }

func (b smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{p: b.p}, nil }

type smtpSession struct {
	p     *Pinger
	rcpts []string
}

func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.p.accepts(to) {
		s.p.counts.Inc("smtp-rcpt-refused")
		return errNotHere
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	if len(s.rcpts) == 0 {
		return errNoRcpt
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			s.p.counts.Inc("smtp-too-large")
			return se
		}
		return err
	}
	at := s.p.Clock()
	if err := s.p.Receive(raw, s.rcpts, at); err != nil {
		s.p.Log.Error("storing returned mail", "err", err)
		return errStoreTmp
	}
	return nil
}

func (s *smtpSession) Reset()        { s.rcpts = nil }
func (s *smtpSession) Logout() error { return nil }

func (p *Pinger) newSMTPServer() *smtp.Server {
	srv := smtp.NewServer(smtpBackend{p})
	_, domain, _ := strings.Cut(p.Cfg.Address, "@")
	srv.Domain = domain
	srv.MaxMessageBytes = p.Cfg.MaxMessageSize
	srv.MaxRecipients = 10
	srv.MaxLineLength = 2000
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = smtpLog{p}
	return srv
}

// smtpLog keeps go-smtp's messages (which name peers) at debug level.
type smtpLog struct{ p *Pinger }

func (l smtpLog) Printf(format string, v ...any) { l.p.Log.Debug(fmt.Sprintf(format, v...)) }
func (l smtpLog) Println(v ...any)               { l.p.Log.Debug(fmt.Sprint(v...)) }

// readLimited reads at most limit bytes, failing beyond.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("pinger: more than %d bytes", limit)
	}
	return b, nil
}
