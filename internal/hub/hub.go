// Package hub is a local stand-in for the Internet's mail system, for the
// demo network and end-to-end tests: one SMTP listener on 127.0.0.1 that
// forwards mail for known remailer addresses to their nodes' listeners and
// files every other mail into a Maildir, as a recipient's mailbox would.
//
// It answers 250 only after the next node answered 250 (or the mail was
// fsync'd into the Maildir), so it keeps the remailers' durability promise.
package hub

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Delivery is one mail filed for an outside recipient.
type Delivery struct {
	To   string
	Path string // file in the Maildir
	Data []byte
}

// Hub routes mail between local nodes and an outside-world Maildir.
type Hub struct {
	Maildir string // where outside mail is filed (cur/new/tmp are created)

	mu        sync.Mutex
	routes    map[string]string // lower-case address → host:port
	delivered []Delivery
	notify    chan Delivery
	srv       *smtp.Server
}

// New returns a hub filing outside mail into maildir.
func New(maildir string) (*Hub, error) {
	for _, d := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(maildir, d), 0o700); err != nil {
			return nil, err
		}
	}
	return &Hub{Maildir: maildir, routes: map[string]string{}, notify: make(chan Delivery, 1024)}, nil
}

// Route sends mail for addr to the SMTP listener at hostport.
func (h *Hub) Route(addr, hostport string) {
	h.mu.Lock()
	h.routes[strings.ToLower(addr)] = hostport
	h.mu.Unlock()
}

// Delivered lists the outside deliveries so far.
func (h *Hub) Delivered() []Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Delivery(nil), h.delivered...)
}

// Deliveries announces each outside delivery as it happens.
func (h *Hub) Deliveries() <-chan Delivery { return h.notify }

// Serve accepts SMTP connections on l until Close.
func (h *Hub) Serve(l net.Listener) error {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{h: h}, nil }))
	srv.Domain = "hub.localhost"
	srv.MaxMessageBytes = 64 << 20
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	h.mu.Lock()
	h.srv = srv
	h.mu.Unlock()
	return srv.Serve(l)
}

// Close stops the listener.
func (h *Hub) Close() error {
	h.mu.Lock()
	srv := h.srv
	h.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

type session struct {
	h    *Hub
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = append(s.to, to); return nil }
func (s *session) Reset()                                      { s.from, s.to = "", nil }
func (s *session) Logout() error                               { return nil }

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	for _, rcpt := range s.to {
		s.h.mu.Lock()
		next, routed := s.h.routes[strings.ToLower(rcpt)]
		if !routed {
			// local+tag@domain goes where local@domain goes (a pinger's
			// request IDs ride on such tags), as MTAs deliver it.
			if local, domain, ok := strings.Cut(strings.ToLower(rcpt), "@"); ok {
				if base, _, tagged := strings.Cut(local, "+"); tagged {
					next, routed = s.h.routes[base+"@"+domain]
				}
			}
		}
		s.h.mu.Unlock()
		if routed {
			if err := Send(next, s.from, []string{rcpt}, data); err != nil {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 1}, Message: "next node: " + err.Error()}
			}
			continue
		}
		if err := s.h.file(rcpt, data); err != nil {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: err.Error()}
		}
	}
	return nil
}

// Send speaks plain SMTP to hostport (loopback test and demo traffic: no
// STARTTLS) and returns the server's error, an *smtp.SMTPError for a reply.
func Send(hostport, from string, to []string, data []byte) error {
	c, err := smtp.Dial(hostport)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("hub.localhost"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// file writes one mail into the Maildir, with a Delivered-To line so a
// reader sees whom it was for.
func (h *Hub) file(rcpt string, data []byte) error {
	var id [8]byte
	rand.Read(id[:])
	name := fmt.Sprintf("%d.%s.hub", time.Now().UnixNano(), hex.EncodeToString(id[:]))
	tmp := filepath.Join(h.Maildir, "tmp", name)
	msg := append([]byte("Delivered-To: "+rcpt+"\n"), bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))...)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(msg); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	final := filepath.Join(h.Maildir, "new", name)
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	d := Delivery{To: rcpt, Path: final, Data: msg}
	h.mu.Lock()
	h.delivered = append(h.delivered, d)
	h.mu.Unlock()
	select {
	case h.notify <- d:
	default:
	}
	return nil
}
