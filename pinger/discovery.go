package pinger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/mixgo/mixgo/keyring"
)

// Discovery (§6): the pinger sends "remailer-key" and "remailer-conf"
// requests to the remailers it knows and reads their replies into its key
// ring. A request's From carries a random request ID after the recipient
// delimiter (pinger+r0123456789abcdef@example.org), so a reply is matched to
// the address that was asked; a key or capability line for any other
// address is ignored.

// SendRequest mails a remailer-<kind> request ("key" or "conf") to addr.
func (p *Pinger) SendRequest(ctx context.Context, addr, kind string) error {
	if kind != "key" && kind != "conf" {
		return fmt.Errorf("pinger: unknown request %q", kind)
	}
	now := p.Clock()
	id, err := p.Store.AddRequest(Request{Address: addr, Kind: kind, Sent: now})
	if err != nil {
		return fmt.Errorf("pinger: recording a request: %w", err)
	}
	from := p.replyAddress(id)
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: remailer-%s\nDate: %s\n\n", from, addr, kind, now.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "This is an automated request from the remailer pinger %s\n", p.Cfg.Address)
	b.WriteString("(mixgo, an Echolot-compatible statistics service). It asks each remailer\n")
	b.WriteString("for its key and capabilities once a day, to measure and publish its\n")
	b.WriteString("reliability. Please write to the address above if this is not a remailer.\n")
	p.counts.Inc("request-" + kind + "-sent")
	if err := p.Sender.Send(ctx, from, []string{addr}, b.Bytes()); err != nil {
		p.counts.Inc("request-send-failed")
		return fmt.Errorf("pinger: sending a request: %w", err)
	}
	return nil
}

// replyAddress is the From of a request: local<delim>r<id>@domain, or the
// plain address when no delimiter is configured.
func (p *Pinger) replyAddress(id [8]byte) string {
	local, domain, _ := strings.Cut(p.Cfg.Address, "@")
	if p.Cfg.RecipientDelimiter == "" {
		return p.Cfg.Address
	}
	return local + p.Cfg.RecipientDelimiter + "r" + hex.EncodeToString(id[:]) + "@" + domain
}

// requestID finds a request ID in an address written by replyAddress.
func (p *Pinger) requestID(addr string) ([8]byte, bool) {
	var id [8]byte
	if p.Cfg.RecipientDelimiter == "" {
		return id, false
	}
	a := strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
	if pa, err := mail.ParseAddress(addr); err == nil {
		a = strings.ToLower(pa.Address)
	}
	local, domain, ok := strings.Cut(a, "@")
	plocal, pdomain, _ := strings.Cut(strings.ToLower(p.Cfg.Address), "@")
	if !ok || domain != pdomain {
		return id, false
	}
	tag, ok := strings.CutPrefix(local, plocal+strings.ToLower(p.Cfg.RecipientDelimiter)+"r")
	if !ok || len(tag) != 16 {
		return id, false
	}
	raw, err := hex.DecodeString(tag)
	if err != nil {
		return id, false
	}
	return [8]byte(raw), true
}

// Reply is what a remailer-key or remailer-conf reply says.
type Reply struct {
	Capstrings      []Capstring          // $remailer lines
	RemailerType    string               // "Mixmaster 3.0.2d" from Remailer-Type:
	Keys            []*keyring.PublicKey // Mix keys with a valid key block
	FilteredHeaders []string             // header.blk rules listed
	AllowedHeaders  []string             // header names a final message may carry
	Supported       []string             // type2.list lines under SUPPORTED MIXMASTER (TYPE II) REMAILERS
	NotARemailer    bool                 // the first line says "not a remailer"
}

// allowedHeadersRE finds the list of header lines a remailer passes on
// (mixd's "Only these header lines are passed on:"; 3.0.2d lists none).
var allowedHeadersRE = regexp.MustCompile(`(?i)^\s*(?:only these header lines are passed on|allowed(?: user)? headers?|headers? allowed|the following header lines (?:are|will be) (?:allowed|passed|kept))[^:]*:\s*(.*)$`)

// ParseReply reads the body of a remailer's reply to remailer-key or
// remailer-conf (spec mixmaster-type2.md §16.2). It never fails: what
// cannot be read is left out. A clear-signed (OpenPGP) answer is read
// without its dash escapes; the signature is not checked (see
// DIFFERENCES.md).
func ParseReply(body []byte) Reply {
	var r Reply
	body = unClearsign(body)
	keys, _ := keyring.ParsePubring(body)
	r.Keys = keys
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	section := ""
	first := true
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		t := strings.TrimSpace(line)
		if first && t != "" {
			first = false
			r.NotARemailer = strings.HasPrefix(strings.ToLower(t), "not a remailer")
		}
		switch {
		case strings.HasPrefix(t, "$remailer"):
			section = ""
			if c, err := ParseCapstring(t); err == nil {
				r.Capstrings = append(r.Capstrings, c)
			}
		case strings.HasPrefix(t, "Remailer-Type:"):
			section = ""
			r.RemailerType = strings.TrimSpace(strings.TrimPrefix(t, "Remailer-Type:"))
		case strings.HasPrefix(t, "The following header lines will be filtered"):
			section = "filtered"
		case allowedHeadersRE.MatchString(t):
			rest := allowedHeadersRE.FindStringSubmatch(t)[1]
			r.AllowedHeaders = append(r.AllowedHeaders, headerNames(rest)...)
			section = "allowed"
		case strings.HasPrefix(t, "SUPPORTED MIXMASTER (TYPE II) REMAILERS"):
			section = "supported"
		case t == "":
			if section != "supported" {
				section = ""
			}
		case section == "filtered" && (line[0] == ' ' || line[0] == '\t'):
			r.FilteredHeaders = append(r.FilteredHeaders, t)
		case section == "allowed" && (line[0] == ' ' || line[0] == '\t'):
			r.AllowedHeaders = append(r.AllowedHeaders, headerNames(t)...)
		case section == "supported":
			if len(strings.Fields(t)) >= 4 {
				r.Supported = append(r.Supported, t)
			} else {
				section = ""
			}
		default:
			section = ""
		}
	}
	return r
}

// unClearsign replaces an OpenPGP clear-signed block by its text, dash
// escapes ("- -----Begin Mix Key-----") removed; other text stays.
func unClearsign(body []byte) []byte {
	const begin, sig, end = "-----BEGIN PGP SIGNED MESSAGE-----", "-----BEGIN PGP SIGNATURE-----", "-----END PGP SIGNATURE-----"
	i := bytes.Index(body, []byte(begin))
	if i < 0 {
		return body
	}
	var out bytes.Buffer
	out.Write(body[:i])
	lines := strings.Split(string(body[i+len(begin):]), "\n")
	state := 0 // 0 armour headers, 1 text, 2 signature, 3 after
	for _, l := range lines[1:] {
		t := strings.TrimRight(l, "\r")
		switch state {
		case 0:
			if t == "" {
				state = 1
			}
		case 1:
			if t == sig {
				state = 2
				continue
			}
			out.WriteString(strings.TrimPrefix(t, "- ") + "\n")
		case 2:
			if t == end {
				state = 3
			}
		default:
			out.WriteString(t + "\n")
		}
	}
	return out.Bytes()
}

// headerNames reads "To Cc Subject" or "To:, Cc:" into names.
func headerNames(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		f = strings.TrimSuffix(f, ":")
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// handleReply takes a mail that is not a ping: a reply to a request, or
// something to drop.
func (p *Pinger) handleReply(raw []byte, rcpts []string, at time.Time) error {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		p.counts.Inc("mail-unreadable")
		return nil
	}
	body, err := readLimited(msg.Body, p.Cfg.MaxMessageSize)
	if err != nil {
		p.counts.Inc("mail-unreadable")
		return nil
	}
	reply := ParseReply(body)
	if len(reply.Keys) == 0 && len(reply.Capstrings) == 0 && !reply.NotARemailer {
		p.counts.Inc("mail-unknown")
		return nil
	}
	req, ok, err := p.findRequest(append(append([]string(nil), rcpts...), msg.Header.Get("To")), reply, at)
	if err != nil {
		return err
	}
	if !ok {
		p.counts.Inc("reply-unsolicited")
		return nil
	}
	if reply.NotARemailer {
		p.counts.Inc("reply-not-a-remailer")
		p.Log.Info("an address says it is not a remailer; no more requests to it until it is configured again")
		return nil
	}
	var keys []*keyring.PublicKey
	for _, k := range reply.Keys {
		if strings.EqualFold(k.Address, req.Address) && k.ValidAt(at) && k.Key != nil {
			keys = append(keys, k)
		}
	}
	var caps *Capstring
	for _, c := range reply.Capstrings {
		if strings.EqualFold(c.Address, req.Address) {
			caps = &c
		}
	}
	if caps == nil && len(keys) == 0 {
		p.counts.Inc("reply-other-address")
		return nil
	}
	err = p.Store.UpdateRemailer(req.Address, func(r *RemailerRecord) error {
		if caps != nil {
			r.Name = caps.Name
			r.Capstring = caps.String()
			r.Middleman = caps.Has("middle")
		}
		if reply.RemailerType != "" {
			r.RemailerType = reply.RemailerType
		}
		if req.Kind == "conf" {
			r.FilteredHeaders = reply.FilteredHeaders
			r.AllowedHeaders = reply.AllowedHeaders
			r.ConfAt = at
		}
		for _, k := range keys {
			mergeKey(r, k, at)
			if r.Name == "" {
				r.Name = k.Name
			}
			if k.Caps.Middleman() {
				r.Middleman = true
			}
		}
		if len(keys) > 0 {
			r.KeyAt = at
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.changed()
	p.counts.Inc("reply-" + req.Kind)
	return nil
}

// findRequest matches a reply to the request it answers: by the request ID
// in a recipient address, else (no delimiter configured) by the newest
// request to the address the reply speaks for.
func (p *Pinger) findRequest(rcpts []string, reply Reply, at time.Time) (Request, bool, error) {
	fresh := func(r Request) bool { return at.Sub(r.Sent) <= requestExpiry && !r.Sent.After(at.Add(time.Minute)) }
	for _, a := range rcpts {
		for _, one := range strings.Split(a, ",") {
			if id, ok := p.requestID(one); ok {
				r, err := p.Store.Request(id)
				if errors.Is(err, ErrUnknownRequest) {
					return r, false, nil
				}
				if err != nil {
					return r, false, err
				}
				return r, fresh(r), nil
			}
		}
	}
	if p.Cfg.RecipientDelimiter != "" {
		return Request{}, false, nil
	}
	claimed := map[string]bool{}
	for _, c := range reply.Capstrings {
		claimed[strings.ToLower(c.Address)] = true
	}
	for _, k := range reply.Keys {
		claimed[strings.ToLower(k.Address)] = true
	}
	all, err := p.Store.Requests()
	if err != nil {
		return Request{}, false, err
	}
	var best Request
	found := false
	for _, r := range all {
		if claimed[strings.ToLower(r.Address)] && fresh(r) && (!found || r.Sent.After(best.Sent)) {
			best, found = r, true
		}
	}
	return best, found, nil
}

// mergeKey records that k was advertised at seen: an existing entry with
// the same key ID is refreshed, a new one added; entries too old to be
// used are dropped.
func mergeKey(r *RemailerRecord, k *keyring.PublicKey, seen time.Time) {
	text := k.KeyTxt()
	if text == nil {
		return
	}
	kept := r.Keys[:0]
	found := false
	for _, kr := range r.Keys {
		old, _ := keyring.ParsePubring(kr.Text)
		if len(old) == 1 && old[0].KeyID == k.KeyID {
			kr = KeyRecord{Text: text, Seen: seen}
			found = true
		}
		if seen.Sub(kr.Seen) <= keyExpiry {
			kept = append(kept, kr)
		}
	}
	if !found {
		kept = append(kept, KeyRecord{Text: text, Seen: seen})
	}
	r.Keys = kept
}

// importSeed reads the configured seed keyring (a pubring.mix) and records
// each of its valid keys as advertised now. It is how a pinger starts
// before any remailer answered, and how keys are given by hand.
func (p *Pinger) importSeed(now time.Time) {
	if p.Cfg.SeedPubring == "" {
		return
	}
	data, err := os.ReadFile(p.Cfg.path(p.Cfg.SeedPubring))
	if err != nil {
		p.Log.Warn("reading the seed keyring", "err", err)
		return
	}
	keys, _ := keyring.ParsePubring(data)
	n := 0
	for _, k := range keys {
		if k.Key == nil || !k.ValidAt(now) || !strings.Contains(k.Address, "@") {
			continue
		}
		err := p.Store.UpdateRemailer(k.Address, func(r *RemailerRecord) error {
			mergeKey(r, k, now)
			if r.Name == "" {
				r.Name = k.Name
			}
			if r.KeyAt.IsZero() {
				r.Seeded = true
			}
			if k.Caps.Middleman() {
				r.Middleman = true
			}
			return nil
		})
		if err != nil {
			p.Log.Error("storing a seed key", "err", err)
			return
		}
		n++
	}
	if n > 0 {
		p.changed()
	}
	p.counts.Inc("seed-imported")
}
