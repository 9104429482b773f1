package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mixgo/mixgo/internal/doctor"
	"github.com/mixgo/mixgo/mix"
)

// cmdDoctor checks the DNS, block lists, certificate and greeting that
// decide whether the node's mail is delivered, and tells how to fix each
// problem. It reads only mixd.conf and the key files: it runs beside a
// running daemon.
func cmdDoctor(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs, dir := flags("doctor", stderr)
	resolver := fs.String("resolver", "", "DNS server `host:port` to ask (default: doctor_resolver, dns_resolver, /etc/resolv.conf)")
	smtpAddr := fs.String("smtp", "", "`host:port` whose greeting and certificate to check (default: doctor_smtp, else hostname:25)")
	if err := parse(fs, dir, args); err != nil {
		return err
	}
	cfg, err := mix.LoadConfig(*dir)
	if err != nil {
		return err
	}
	dc := doctor.Config{
		Host:         cfg.Hostname,
		Domain:       cfg.Domain(),
		Sender:       cfg.Address,
		DKIMDomain:   cfg.DKIMDomain(),
		DKIMSelector: cfg.DKIMSelector,
		DNSBLs:       strings.Fields(cfg.DNSBL),
		Resolver:     firstSet(*resolver, cfg.DoctorResolver, cfg.DNSResolver),
		SMTPAddr:     firstSet(*smtpAddr, cfg.DoctorSMTP),
	}
	for _, s := range strings.Fields(cfg.PublicIP) {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("public_ip: %w", err)
		}
		dc.IPs = append(dc.IPs, ip.Unmap())
	}
	key, err := mix.LoadDKIMKey(*dir, cfg)
	if err != nil {
		dc.DKIMKeyError = err
	} else if key != nil {
		dc.DKIMKey = key.Public()
	}
	if dc.Certificates, err = mix.LoadCertificateChain(*dir, cfg); err != nil {
		fmt.Fprintf(stderr, "mixd doctor: %v\n", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := doctor.Run(ctx, dc)
	if err != nil {
		return err
	}
	if failed := doctor.Write(stdout, results); failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(results))
	}
	fmt.Fprintf(stdout, "all %d checks passed\n", len(results))
	return nil
}

func firstSet(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
