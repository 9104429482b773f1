package mailout

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"syscall"

	"github.com/emersion/go-smtp"
)

// ErrInvalidAddress is wrapped by the (permanent) error for an envelope
// address that is malformed, or a recipient domain "mx" cannot use.
var ErrInvalidAddress = errors.New("mailout: invalid address")

// Error is a delivery failure. Its Error text names only the stage, a fixed
// description of the cause, the SMTP reply code (or sendmail exit status) if
// any, and the classification; Err, the underlying error, may contain
// addresses, host names, IP addresses or server reply text and should not be
// logged.
type Error struct {
	// Op is the stage that failed: "address", "dns", "connect", "tls",
	// "greeting", "ehlo", "auth", "mail", "rcpt", "data", "sendmail" or
	// "dir".
	Op string
	// Code is the SMTP reply code, or sendmail's exit status; 0 if none.
	Code int
	// Temporary reports whether a later retry may succeed.
	Temporary bool
	// Err is the underlying error.
	Err error

	reason   string // fixed text, never derived from data
	enhanced smtp.EnhancedCode
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mailout: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.reason)
	if e.Code != 0 {
		if e.Op == "sendmail" {
			fmt.Fprintf(&b, " (exit status %d)", e.Code)
		} else {
			fmt.Fprintf(&b, " (%03d", e.Code)
			if ec := e.enhanced; ec[0] > 0 {
				fmt.Fprintf(&b, " %d.%d.%d", ec[0], ec[1], ec[2])
			}
			b.WriteString(")")
		}
	}
	if e.Temporary {
		b.WriteString(", temporary")
	} else {
		b.WriteString(", permanent")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// RecipientsError is returned by Send when its recipients had different
// outcomes: some delivered, or failing for different reasons (different
// domains, or a server accepting some RCPTs and refusing others).
type RecipientsError struct {
	// Delivered lists the recipients that were delivered, in the order given.
	Delivered []string
	// Failed maps each other recipient, as given, to its *Error.
	Failed map[string]error
}

func (e *RecipientsError) Error() string {
	return fmt.Sprintf("mailout: %d of %d recipients failed (%d temporary)",
		len(e.Failed), len(e.Failed)+len(e.Delivered), len(e.Temporary()))
}

// Temporary returns the failed recipients whose failure is temporary, sorted:
// those a caller should retry.
func (e *RecipientsError) Temporary() []string {
	var r []string
	for rcpt, err := range e.Failed {
		if IsTemporary(err) {
			r = append(r, rcpt)
		}
	}
	sort.Strings(r)
	return r
}

// Unwrap returns the per-recipient errors (so errors.Is/As look into them).
func (e *RecipientsError) Unwrap() []error {
	keys := make([]string, 0, len(e.Failed))
	for k := range e.Failed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	errs := make([]error, len(keys))
	for i, k := range keys {
		errs[i] = e.Failed[k]
	}
	return errs
}

// IsTemporary reports whether err is a temporary failure, one a later retry
// may cure. For a [*RecipientsError] it reports whether any recipient failed
// temporarily. nil is not temporary. An error this package does not know as
// permanent is temporary: a caller retries it until it gives up on the
// message.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var re *RecipientsError
	if errors.As(err, &re) {
		return len(re.Temporary()) > 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code/100 != 5
	}
	return !errors.Is(err, ErrInvalidAddress)
}

// permanent and temporary make errors with a fixed reason.
func permanent(op, reason string, err error) *Error {
	return &Error{Op: op, reason: reason, Err: err}
}

func temporary(op, reason string, err error) *Error {
	return &Error{Op: op, reason: reason, Temporary: true, Err: err}
}

func invalidAddress(err error) *Error {
	return permanent("address", "invalid address", fmt.Errorf("%w: %v", ErrInvalidAddress, err))
}

// classify wraps an error from stage op. ctx, if done, takes precedence: a
// cancelled Send is a temporary failure whatever the connection reported.
func classify(ctx context.Context, op string, err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if ctx != nil && ctx.Err() != nil {
		return temporary(op, "cancelled or timed out", errors.Join(ctx.Err(), err))
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		r := &Error{Op: op, Code: se.Code, Temporary: se.Code/100 != 5, Err: err, enhanced: se.EnhancedCode}
		switch se.Code / 100 {
		case 4:
			r.reason = "server replied with a temporary failure"
		case 5:
			r.reason = "server replied with a permanent failure"
		default:
			r.reason = "server replied unexpectedly"
		}
		return r
	}
	return temporary(op, netReason(err), err)
}

// netReason describes a connection-level error in fixed words.
func netReason(err error) string {
	var ne net.Error
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var rae tls.RecordHeaderError
	var ae tls.AlertError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host or network unreachable"
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie):
		return "certificate not verified"
	case errors.As(err, &rae), errors.As(err, &ae):
		return "TLS handshake failed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "connection closed"
	case errors.As(err, &ne):
		return "network error"
	}
	return "failed"
}

// result combines per-recipient outcomes (nil = delivered) into Send's error.
func result(to []string, outcome map[string]*Error) error {
	var failed map[string]error
	var delivered []string
	var first *Error
	same := true
	for _, r := range to {
		err := outcome[r]
		if err == nil {
			delivered = append(delivered, r)
			continue
		}
		if failed == nil {
			failed = make(map[string]error)
			first = err
		} else if err != first {
			same = false
		}
		failed[r] = err
	}
	switch {
	case failed == nil:
		return nil
	case len(delivered) == 0 && same:
		return first
	}
	return &RecipientsError{Delivered: delivered, Failed: failed}
}
