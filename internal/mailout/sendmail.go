package mailout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// sendmail pipes the message to a sendmail-compatible program (see the
// package documentation).
type sendmail struct {
	path    string
	timeout time.Duration
}

// sendmailOutputMax bounds the program's output kept in the error.
const sendmailOutputMax = 4096

// sendmailWaitDelay bounds the wait for the program's output pipes after it
// was killed or exited.
const sendmailWaitDelay = 5 * time.Second

func (s *sendmail) Send(ctx context.Context, from string, to []string, msg []byte) error {
	rcpts, e := checkEnvelope(from, to)
	if e != nil {
		return e
	}
	if from == "" {
		from = "<>"
	}
	args := append([]string{"-oi", "-f", from, "--"}, rcpts...)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.path, args...)
	cmd.Stdin = bytes.NewReader(toLF(msg))
	output := &limitedBuffer{max: sendmailOutputMax}
	cmd.Stdout, cmd.Stderr = output, output
	cmd.WaitDelay = sendmailWaitDelay
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return classify(ctx, "sendmail", err)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return temporary("sendmail", "could not run", err)
	}
	detail := fmt.Errorf("%w; output: %q", err, output.b.Bytes())
	switch code := ee.ExitCode(); code {
	case -1:
		return temporary("sendmail", "killed", detail)
	case 75, 71: // EX_TEMPFAIL, EX_OSERR
		return &Error{Op: "sendmail", Code: code, Temporary: true, Err: detail, reason: "temporary failure"}
	default:
		return &Error{Op: "sendmail", Code: code, Err: detail, reason: "refused"}
	}
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	b   bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
