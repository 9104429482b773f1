package abuse

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Info is an operator text file (help.txt, abuse.txt, blocked.txt …):
// optional header lines, a blank line, the text (spec §16.1). Only the
// Subject of its header lines is used.
type Info struct {
	Subject string
	Body    []byte
}

// ParseInfo splits an info file. A file whose first lines are not header
// fields followed by a blank line is all text (3.0.2d's stock abuse.txt
// has no header; 3.0.2d then glued its first line to the reply's header
// section, §16.3 — we keep it as text). The Subject may be written in
// UTF-8 or in RFC 2047 words.
func ParseInfo(text []byte) Info {
	th, n, end := readHeader(text)
	if end != endBlank || th.Len() == 0 {
		return Info{Body: text}
	}
	h := mail.Header{Header: message.Header{Header: th}}
	subject, _ := h.Subject()
	return Info{Subject: subject, Body: text[n:]}
}

// Expand replaces each line consisting of DESTINATION-BLOCK with
// "destination-block <addr>" (spec §16.1), so that the reader can send
// the line back.
func Expand(body []byte, addr string) []byte {
	var out bytes.Buffer
	for rest := body; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			rest = nil
		}
		if string(bytes.TrimRight(line, "\r\n")) == "DESTINATION-BLOCK" {
			out.WriteString("destination-block " + addr + "\n")
			continue
		}
		out.Write(line)
	}
	return out.Bytes()
}

// Reply is an answer of the remailer. It carries only its own header
// fields: From, To (the requester), Subject and Extra; nothing of the
// request is copied, so a request cannot make the remailer send chosen
// headers.
type Reply struct {
	FromName, From string // "Anonymous Remailer", "mix@example.org"
	To             string // the requester (Addr.Display)
	Subject        string
	Extra          []Field // e.g. Auto-Submitted, MIME fields
	Body           []byte
}

// Bytes renders the reply with LF line ends (as the rest of the pool's
// mail), header fields in 3.0.2d's order (From, To, Subject, then Extra)
// and written by go-message: a non-ASCII Subject or name in RFC 2047
// words, long fields folded. Values are kept on their line, and Extra
// fields with a bad name or one of the first three names are left out.
func (r Reply) Bytes() []byte {
	var h mail.Header
	for i := len(r.Extra) - 1; i >= 0; i-- { // Add and Set put a field on top
		if f := r.Extra[i]; validName(f.Name) {
			h.Add(f.Name, clean(f.Value))
		}
	}
	h.SetSubject(clean(r.Subject))
	h.Set("To", clean(r.To))
	h.Set("From", mailbox(clean(r.FromName), clean(r.From)))
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h.Header.Header); err != nil {
		// Unreachable: names are checked and values cleaned, and a
		// bytes.Buffer takes any write. Sent without a header, the
		// answer would at worst bounce.
		return append([]byte("\n"), r.Body...)
	}
	out := bytes.ReplaceAll(b.Bytes(), []byte("\r\n"), []byte("\n"))
	return append(out, r.Body...)
}

// mailbox is a From: value: "Name <addr>" as 3.0.2d writes it when the
// name is plain words, else the name quoted or in RFC 2047 words.
func mailbox(name, addr string) string {
	if name == "" || strings.IndexFunc(name, func(c rune) bool { return !isAtext(c) && c != ' ' }) < 0 {
		return strings.TrimSpace(name + " <" + addr + ">")
	}
	return (&mail.Address{Name: name, Address: addr}).String()
}

// isAtext reports an RFC 5322 atext character.
func isAtext(c rune) bool {
	return c < 0x80 && (isAlnum(byte(c)) || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", c))
}

// validName reports whether s is an RFC 5322 field name (printable ASCII,
// no blanks or colon) short enough for go-message's folding, which needs
// room for a value on the first line (it panics on a name of 74 and more).
func validName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ':' {
			return false
		}
	}
	return s != ""
}

// clean keeps a header value on one line.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}

// DefaultAbuseText is the abuse.txt written at init: what a remailer is,
// and how to stop receiving its mail.
func DefaultAbuseText(name, addr string, period time.Duration) []byte {
	return []byte(fmt.Sprintf(`Subject: About your mail to the %[1]s remailer

Thank you for your mail. It has been filed for the operator of this
remailer, who reads it.

%[2]s is an anonymous remailer: a service that passes on mail from
people who do not want to be identified, e.g. whistle-blowers, people
living under censorship or anyone who values their privacy. Messages pass
through several independent remailers, each of which removes what could
identify the sender. The operator did not write the mail you received,
and neither the operator nor the remailer can tell who did: by design no
record is kept of who sent what to whom.

The operator does not tolerate abuse and will block destinations,
newsgroups and senders that complain.

If you do not want to receive mail through this remailer any more, send
the following line back to %[2]s (replying to this mail
and keeping the line is enough):

DESTINATION-BLOCK

You will then get one mail asking you to confirm; once you answer it,
this remailer will never send mail to your address again. Nobody can
block someone else's address: only the mailbox that receives the
confirmation can confirm.

You get this answer at most once every %[3]s; further mail is filed
without an answer.
`, name, addr, humanPeriod(period)))
}

// DefaultHelpText is the help.txt written at init.
func DefaultHelpText(name, addr, abuseAddr string) []byte {
	return []byte(fmt.Sprintf(`Subject: Help for the %[1]s remailer

%[2]s is a Mixmaster (Type II) anonymous remailer. It accepts
only Mixmaster packets: use a Mixmaster client (mixmaster, mix, or
another Type II client) with this remailer's key to send anonymous mail
through a chain of remailers.

Requests (a mail to %[2]s whose Subject is one of these):

  remailer-help      this text
  remailer-key       the remailer's Mixmaster key (signed with its admin key)
  remailer-conf      capabilities, header filters and known remailers
  remailer-stats     how many messages it processed, per hour and per day
  remailer-adminkey  the OpenPGP key that signs the key and help answers
  destination-block  stop receiving mail from this remailer: a confirmation
                     mail is sent to the address, and only answering it
                     blocks the address

Answers are limited per requester and per day.

Complaints and questions for the operator: %[3]s
`, name, addr, abuseAddr))
}

// DefaultBlockedText is the note sent to an address once its block is
// confirmed (3.0.2d's blocked.txt).
func DefaultBlockedText(name string) []byte {
	return []byte(fmt.Sprintf("Subject: You are now blocked\n\nThe %s remailer will not send mail to this address any more.\n", name))
}

// ConfirmText is the confirmation request for a destination block.
func ConfirmText(name, remailer, addr, token string, ttl time.Duration) Info {
	return Info{
		Subject: "Confirm destination-block " + token,
		Body: []byte(fmt.Sprintf(`Someone, probably you, asked that the %[1]s remailer (%[2]s)
never send mail to

   %[3]s

To confirm, reply to this mail keeping its subject line, or send a mail
to %[2]s with the subject
   confirm %[4]s
within %[5]s.

If you did not ask for this, ignore this mail: nothing changes, and no
further confirmation requests for this address are sent while this one
is open.
`, name, remailer, addr, token, humanPeriod(ttl))),
	}
}

func humanPeriod(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= 2*time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.String()
}
