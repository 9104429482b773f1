package doctor

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// probe is what one visit to the SMTP port found.
type probe struct {
	err      error  // could not connect or read the greeting
	code     int    // greeting reply code
	banner   string // greeting text (first line)
	startTLS bool   // EHLO offered STARTTLS
	tlsErr   error  // STARTTLS offered but failed
	chain    []*x509.Certificate
}

// probeSMTP connects to addr, reads the greeting, says EHLO and, if
// offered, does STARTTLS to fetch the certificate (not verified here).
func probeSMTP(ctx context.Context, addr, helo, serverName string, timeout time.Duration) *probe {
	p := &probe{}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		p.err = err
		return p
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	tp := textproto.NewReader(bufio.NewReader(io.LimitReader(conn, 64<<10)))
	code, msg, err := tp.ReadResponse(0)
	if err != nil {
		p.err = fmt.Errorf("reading the greeting: %w", err)
		return p
	}
	p.code = code
	p.banner, _, _ = strings.Cut(msg, "\n")
	if code != 220 {
		return p
	}
	if _, err := io.WriteString(conn, "EHLO "+helo+"\r\n"); err != nil {
		p.err = err
		return p
	}
	_, ext, err := tp.ReadResponse(250)
	if err != nil {
		p.err = fmt.Errorf("EHLO: %w", err)
		return p
	}
	for _, l := range strings.Split(ext, "\n") {
		if strings.EqualFold(strings.TrimSpace(l), "STARTTLS") {
			p.startTLS = true
		}
	}
	if !p.startTLS {
		io.WriteString(conn, "QUIT\r\n")
		return p
	}
	if _, err := io.WriteString(conn, "STARTTLS\r\n"); err != nil {
		p.tlsErr = err
		return p
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		p.tlsErr = fmt.Errorf("STARTTLS refused: %w", err)
		return p
	}
	// Verification is the TLS check's job, with its own words for each
	// problem: here only fetch what the server presents.
	tc := tls.Client(conn, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
	if err := tc.HandshakeContext(ctx); err != nil {
		p.tlsErr = fmt.Errorf("TLS handshake: %w", err)
		return p
	}
	p.chain = tc.ConnectionState().PeerCertificates
	io.WriteString(tc, "QUIT\r\n")
	return p
}
