package mix

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mixgo/mixgo/pool"
)

// SMTP replies of the ingress. go-smtp answers any other error from Data
// with a permanent 554, which would make a sender drop a message we merely
// failed to store: storage failures must be the temporary 451.
var (
	errNoRelay     = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied: not a local address"}
	errNoRecipient = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Need RCPT first"}
	errStorage     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary storage failure, try again later"}
	errBusy        = "421 4.7.0 Too many connections, try again later\r\n"
)

// localParts are the service addresses a remailer answers besides its own
// address (§16): the abuse mailbox and the usual role names.
var localParts = []string{"abuse", "postmaster", "remailer-admin"}

// accepts reports whether rcpt is one of this node's addresses.
func (n *Node) accepts(rcpt string) bool {
	rcpt = strings.ToLower(strings.Trim(strings.TrimSpace(rcpt), "<>"))
	if rcpt == strings.ToLower(n.Cfg.Address) {
		return true
	}
	local, domain, ok := strings.Cut(rcpt, "@")
	if !ok || domain != strings.ToLower(n.Cfg.Domain()) {
		return false
	}
	for _, p := range localParts {
		if local == p {
			return true
		}
	}
	if c := strings.ToLower(n.Cfg.Complaints); c != "" && rcpt == c {
		return true
	}
	return false
}

// Receive stores one mail durably and queues it for processing. It returns
// only after the mail is fsync'd: callers may then say "accepted".
func (n *Node) Receive(raw []byte) error {
	id, err := n.store(raw)
	if err != nil {
		return err
	}
	n.enqueue(id)
	return nil
}

// ReceiveNow is what the SMTP listener does with a mail before it answers:
// packets are decrypted at once and only their results stored (replay log
// and pool, one commit), as `mixd process` does, which spares each packet
// a sealed copy in the incoming queue and reading it back; other mail is
// stored and queued as Receive does. It returns only once everything is
// durable. A packet dropped (malformed, replayed, unknown key) is still
// "accepted": the sender learns nothing from the reply.
func (n *Node) ReceiveNow(raw []byte) error {
	n.counts.Inc("received")
	if err := n.ProcessDirect(raw); err != nil && !errors.Is(err, errDropped) {
		return err
	}
	return nil
}

// store stores one mail durably.
func (n *Node) store(raw []byte) (pool.ID, error) {
	id, err := n.Store.AddIncoming(raw)
	if err != nil {
		return id, err
	}
	n.counts.Inc("received")
	return id, nil
}

type smtpBackend struct{ n *Node }

func (b smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{n: b.n}, nil
}

// smtpSession accepts mail for the node's own addresses only.
type smtpSession struct {
	n      *Node
	rcpts  int
	errors int
}

// tarpit slows down a client after repeated errors, as Postfix does.
func (s *smtpSession) tarpit() {
	s.errors++
	if over := s.errors - s.n.Cfg.TarpitErrors; over > 0 {
		time.Sleep(time.Duration(min(over, 10)) * s.n.Cfg.TarpitDelay)
	}
}

func (s *smtpSession) Mail(from string, opts *smtp.MailOptions) error { return nil }

func (s *smtpSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if !s.n.accepts(to) {
		s.n.counts.Inc("smtp-relay-denied")
		s.tarpit()
		return errNoRelay
	}
	s.rcpts++
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	if s.rcpts == 0 {
		s.tarpit()
		return errNoRecipient
	}
	// Sized for a packet mail (about 28 KB): io.ReadAll would make five
	// growing copies of each.
	var buf bytes.Buffer
	buf.Grow(32 << 10)
	_, err := buf.ReadFrom(r)
	raw := buf.Bytes()
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			s.n.counts.Inc("smtp-too-large")
			s.tarpit()
			return se // 552 from go-smtp's size limit
		}
		return err
	}
	if err := s.n.ReceiveNow(raw); err != nil {
		s.n.Log.Error("storing incoming mail", "err", err)
		return errStorage
	}
	return nil
}

func (s *smtpSession) Reset()        { s.rcpts = 0 }
func (s *smtpSession) Logout() error { return nil }

// newSMTPServer configures go-smtp with the limits a remailer needs.
func (n *Node) newSMTPServer() *smtp.Server {
	srv := smtp.NewServer(smtpBackend{n})
	srv.Domain = n.Cfg.Hostname
	srv.MaxMessageBytes = n.Cfg.MaxMessageSize
	srv.MaxRecipients = 10
	srv.MaxLineLength = 2000
	srv.ReadTimeout = n.Cfg.ReadTimeout
	srv.WriteTimeout = n.Cfg.WriteTimeout
	srv.ErrorLog = smtpLog{n}
	srv.TLSConfig = n.listenerTLS() // STARTTLS; nil when no certificate
	return srv
}

// smtpLog sends go-smtp's own messages to the debug log (they can carry
// peer addresses, which the default level must not record).
type smtpLog struct{ n *Node }

func (l smtpLog) Printf(format string, v ...any) { l.n.Log.Debug(fmt.Sprintf(format, v...)) }
func (l smtpLog) Println(v ...any)               { l.n.Log.Debug(fmt.Sprint(v...)) }
