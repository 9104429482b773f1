package mix

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mixgo/mixgo/internal/mailout"
)

// The control socket (D/control.sock, mode 0600) lets operator commands
// reach a running daemon, which holds the store's lock: one request per
// connection, a command line, then for "process" the mail until EOF.
// Replies start with "ok" or "error"; "backup" streams the database.

func (n *Node) controlPath() string { return filepath.Join(n.Dir, ControlFile) }

func (n *Node) listenControl() (net.Listener, error) {
	p := n.controlPath()
	// A socket left by a killed daemon: we hold the store lock, so no
	// other daemon is using it.
	os.Remove(p)
	l, err := net.Listen("unix", p)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (n *Node) serveControl(ctx context.Context, l net.Listener, s mailout.Sender) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go n.handleControl(ctx, c, s)
	}
}

func (n *Node) handleControl(ctx context.Context, c net.Conn, s mailout.Sender) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	reply := func(err error, format string, a ...any) {
		if err != nil {
			fmt.Fprintf(c, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			return
		}
		fmt.Fprintf(c, "ok "+format+"\n", a...)
	}
	switch cmd := strings.Fields(line); {
	case len(cmd) == 1 && cmd[0] == "process":
		raw, err := io.ReadAll(io.LimitReader(r, n.Cfg.MaxMessageSize+1))
		if err == nil && int64(len(raw)) > n.Cfg.MaxMessageSize {
			err = errors.New("message too large")
		}
		if err == nil {
			err = n.Receive(raw)
		}
		reply(err, "stored")
	case len(cmd) >= 1 && cmd[0] == "flush":
		sent, failed, err := n.Flush(ctx, len(cmd) == 2 && cmd[1] == "all", s)
		reply(err, "sent=%d failed=%d", sent, failed)
	case len(cmd) >= 1 && cmd[0] == "pool":
		text, err := n.PoolReport()
		if err != nil {
			reply(err, "")
			return
		}
		io.WriteString(c, "ok\n"+text)
	case len(cmd) == 1 && cmd[0] == "backup":
		if _, err := n.Store.Backup(c); err != nil {
			n.Log.Error("backup", "err", err)
		}
	default:
		reply(errors.New("unknown command"), "")
	}
}

// ErrNoDaemon means no daemon answers on the control socket.
var ErrNoDaemon = errors.New("no running daemon")

// Control sends one request to the daemon running in dir. body, if not
// nil, follows the command line. The reply is copied to out.
func Control(dir, command string, body io.Reader, out io.Writer) error {
	c, err := net.DialTimeout("unix", filepath.Join(dir, ControlFile), 2*time.Second)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoDaemon, err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		return err
	}
	if body != nil {
		if _, err := io.Copy(c, body); err != nil {
			return err
		}
	}
	c.(*net.UnixConn).CloseWrite()
	_, err = io.Copy(out, c)
	return err
}
