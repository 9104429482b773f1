// Package netlimit caps the concurrent connections of a listener, for the
// remailer's SMTP ingress and the pinger's SMTP, HTTP and finger servers.
package netlimit

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listener refuses connections beyond Max: it writes Busy (a protocol's
// "too busy" reply, e.g. SMTP's 421) and closes them at once, so a flood of
// connections cannot exhaust the server.
type Listener struct {
	net.Listener
	Max    int64
	Busy   string
	active atomic.Int64
}

// New wraps l.
func New(l net.Listener, max int, busy string) *Listener {
	return &Listener{Listener: l, Max: int64(max), Busy: busy}
}

// Accept returns the next connection within the limit.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) > l.Max {
			l.active.Add(-1)
			c.SetWriteDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(c, l.Busy)
			c.Close()
			continue
		}
		return &conn{Conn: c, l: l}, nil
	}
}

// Active is the number of connections open now.
func (l *Listener) Active() int64 { return l.active.Load() }

type conn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() { c.l.active.Add(-1) })
	return c.Conn.Close()
}
