package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mixgo/mixgo/abuse"
	"github.com/mixgo/mixgo/internal/hub"
	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/mix"
)

// Services over real SMTP: remailer-* requests answered by a running
// mixd through the hub, rate limits, the abuse Maildir with its
// autoresponder, destination blocks with their confirmation.

// to returns the outside deliveries to addr.
func (nw *network) to(addr string) []hub.Delivery {
	var out []hub.Delivery
	for _, d := range nw.hub.Delivered() {
		if strings.EqualFold(d.To, addr) {
			out = append(out, d)
		}
	}
	return out
}

// waitTo waits until addr got n mails and returns them.
func (nw *network) waitTo(addr string, n int, timeout time.Duration) []hub.Delivery {
	nw.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if d := nw.to(addr); len(d) >= n {
			return d
		}
		time.Sleep(100 * time.Millisecond)
	}
	nw.t.Fatalf("%s got %d mails after %v, want %d", addr, len(nw.to(addr)), timeout, n)
	return nil
}

// settle waits long enough for anything still queued to be delivered (a
// pool round is 1 s and a new outgoing entry wakes the sender) and checks
// that addr got exactly n mails.
func (nw *network) settle(addr string, n int) []hub.Delivery {
	nw.t.Helper()
	time.Sleep(3 * time.Second)
	d := nw.to(addr)
	if len(d) != n {
		nw.t.Fatalf("%s got %d mails, want exactly %d", addr, len(d), n)
	}
	return d
}

// request submits a plain mail to the remailer.
func (nw *network) request(from, rcpt, subject, body string, extra ...string) {
	nw.t.Helper()
	head := fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\n", from, rcpt, subject)
	for _, h := range extra {
		head += h + "\n"
	}
	nw.submit(rcpt, []byte(head+"\n"+body))
}

// mailParts splits a delivered mail (after the hub's Delivered-To line).
func mailParts(d hub.Delivery) (head map[string]string, names []string, body []byte) {
	data := d.Data
	if i := bytes.IndexByte(data, '\n'); bytes.HasPrefix(data, []byte("Delivered-To:")) {
		data = data[i+1:]
	}
	h, b, _ := bytes.Cut(data, []byte("\n\n"))
	head = map[string]string{}
	for _, l := range strings.Split(string(h), "\n") {
		if l != "" && (l[0] == ' ' || l[0] == '\t') {
			continue
		}
		k, v, _ := strings.Cut(l, ":")
		k = strings.ToLower(k)
		if k == "dkim-signature" {
			continue // added by the egress when DKIM is on, not part of the answer
		}
		head[k] = strings.TrimSpace(v)
		names = append(names, k)
	}
	return head, names, b
}

func TestServiceRequests(t *testing.T) {
	nw := newNetwork(t, []string{"alpha", "bravo"}, nil, "remailer_name = Alpha Test Remailer")
	nw.startAll()
	// One packet through alpha, for the statistics.
	nw.send([]string{"alpha", "bravo"}, []byte("counted\n"), "--to", "rcpt@example.test")
	nw.waitTo("rcpt@example.test", 1, 30*time.Second)

	const user = "user1@example.test"
	for _, r := range []string{"remailer-key", "remailer-conf", "remailer-help", "remailer-stats", "remailer-adminkey"} {
		nw.request(user, "alpha@remailer.test", r, "Please answer.\n", "X-Secret: leak", "Cc: other@example.test", "Reply-To: "+user)
	}
	got := nw.waitTo(user, 5, 30*time.Second)
	bySubject := map[string][]byte{}
	for _, d := range got {
		head, names, body := mailParts(d)
		if strings.Join(names, ",") != "from,to,subject" || head["from"] != "Alpha Test Remailer <alpha@remailer.test>" || head["to"] != user {
			t.Errorf("answer header %v %v", names, head)
		}
		if bytes.Contains(d.Data, []byte("leak")) || bytes.Contains(d.Data, []byte("other@example.test")) {
			t.Errorf("the answer carries the request's headers:\n%s", d.Data)
		}
		bySubject[head["subject"]] = body
	}
	adminKey := bySubject["Admin key for the alpha remailer"]
	if !bytes.HasPrefix(adminKey, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		t.Fatalf("admin key answer %q", adminKey)
	}
	keyText, err := mix.VerifyClearsigned(bySubject["Remailer key for alpha"], adminKey)
	if err != nil {
		t.Fatalf("key answer: %v\n%s", err, bySubject["Remailer key for alpha"])
	}
	own, _ := keyring.ParsePubring(svcMust(os.ReadFile(filepath.Join(nw.nodes["alpha"].dir, "key.txt"))))
	if !bytes.HasPrefix(keyText, []byte(`$remailer{"alpha"} = "<alpha@remailer.test> mix remix inflt50 rhop5";`+"\n\nHere is the Mixmaster key:\n")) ||
		!bytes.Contains(keyText, own[0].KeyTxt()) {
		t.Errorf("key answer text:\n%s", keyText)
	}
	conf := string(bySubject["Capabilities of the alpha remailer"])
	for _, want := range []string{"Remailer-Type: Mixmaster 3.0.2d\nSupported format:   Mixmaster\nPool size: 0\n",
		"\n$remailer{\"alpha\"} = \"<alpha@remailer.test> mix remix inflt50 rhop5\";\n",
		"\nSUPPORTED MIXMASTER (TYPE II) REMAILERS\nalpha alpha@remailer.test ", "\nbravo bravo@remailer.test "} {
		if !strings.Contains(conf, want) {
			t.Errorf("conf answer lacks %q:\n%s", want, conf)
		}
	}
	help, err := mix.VerifyClearsigned(bySubject["Help for the alpha remailer"], adminKey)
	if err != nil || !bytes.Contains(help, []byte("remailer-key ")) {
		t.Errorf("help answer: %v\n%s", err, help)
	}
	stats := bySubject["Statistics for the alpha remailer"]
	if !regexp.MustCompile(`^Number of messages in the past 24 hours:\n(   [ 12]\dh: +\d+.*\n){23}   [ 12]\dh:    1  \[Pool size: +\d+\]\n$`).Match(stats) {
		t.Errorf("stats answer (one packet this hour):\n%s", stats)
	}
}

func TestServiceRateLimits(t *testing.T) {
	nw := newNetwork(t, []string{"alpha"}, nil, "reply_limit_sender = 3", "reply_limit_total = 5")
	nw.startAll()
	// A bounded burst: 10 requests from one (perhaps forged) sender.
	for i := range 10 {
		nw.request("flood@example.test", "alpha@remailer.test", "remailer-help", fmt.Sprintf("request %d\n", i))
	}
	nw.waitTo("flood@example.test", 3, 30*time.Second)
	nw.settle("flood@example.test", 3)
	// Four more senders: the total of 5 leaves two answers.
	for i := range 4 {
		nw.request(fmt.Sprintf("user%d@example.test", i), "alpha@remailer.test", "remailer-conf", "")
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(nw.hub.Delivered()) < 5 {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	if d := nw.hub.Delivered(); len(d) != 5 {
		t.Fatalf("%d answers to 14 requests, want the total limit 5", len(d))
	}
	nw.nodes["alpha"].stop(t)
	if log := nw.nodes["alpha"].logText(); !strings.Contains(log, "request-limited=9") {
		t.Errorf("limited requests not counted as 9:\n%s", log)
	}
}

func TestAbuseMailbox(t *testing.T) {
	nw := newNetwork(t, []string{"alpha"}, nil, "abuse_reply_period = 6s")
	alpha := nw.nodes["alpha"]
	nw.hub.Route("abuse@remailer.test", alpha.listen)
	nw.startAll()
	const angry = "angry@example.test"
	for i := range 3 {
		nw.request(angry, "abuse@remailer.test", "complaint", fmt.Sprintf("Your remailer sent me spam (%d).\n", i))
	}
	nw.request("other@example.test", "abuse@remailer.test", "question", "Who runs this?\n")
	first := time.Now()
	reply := nw.waitTo(angry, 1, 30*time.Second)[0]
	nw.waitTo("other@example.test", 1, 30*time.Second)
	head, _, body := mailParts(reply)
	if head["auto-submitted"] != "auto-replied" || !bytes.Contains(body, []byte("\ndestination-block "+angry+"\n")) || !bytes.Contains(body, []byte("anonymous remailer")) {
		t.Errorf("autoreply:\n%s", reply.Data)
	}
	// The complaints are in the Maildir, as sent, and nowhere else.
	files, _ := filepath.Glob(filepath.Join(alpha.dir, "abuse", "new", "*"))
	if len(files) != 4 {
		t.Fatalf("%d mails in the abuse Maildir, want 4", len(files))
	}
	for _, f := range files {
		b := svcMust(os.ReadFile(f))
		if !bytes.Contains(b, []byte("Subject: complaint\n")) && !bytes.Contains(b, []byte("Subject: question\n")) {
			t.Errorf("filed mail %q", b)
		}
	}
	// Exactly one answer per sender within the period…
	nw.settle(angry, 1)
	// …and one more after it.
	time.Sleep(time.Until(first.Add(7 * time.Second)))
	nw.request(angry, "abuse@remailer.test", "complaint again", "Still spam.\n")
	nw.waitTo(angry, 2, 30*time.Second)
	nw.settle(angry, 2)
	// Answering the autoreply with its block line asks for a confirmation
	// from that address.
	_, _, body = mailParts(reply)
	quoted := "> " + strings.ReplaceAll(string(body), "\n", "\n> ")
	nw.request(angry, "alpha@remailer.test", "Re: "+head["subject"], quoted)
	conf := nw.waitTo(angry, 3, 30*time.Second)[2]
	if h, _, _ := mailParts(conf); !strings.HasPrefix(h["subject"], "Confirm destination-block dbc-") {
		t.Errorf("answer to the block line: %s", conf.Data)
	}
}

func TestDestinationBlock(t *testing.T) {
	nw := newNetwork(t, []string{"alpha", "bravo"}, nil)
	alpha := nw.nodes["alpha"]
	nw.startAll()
	destBlk := filepath.Join(alpha.dir, "dest.blk")
	before := svcMust(os.ReadFile(destBlk))
	const victim = "victim@example.test"
	// Forged: Mallory asks to block the victim.
	nw.request("mallory@example.test", "alpha@remailer.test", "destination-block", "destination-block "+victim+"\n")
	confirm := nw.waitTo(victim, 1, 30*time.Second)[0]
	if len(nw.to("mallory@example.test")) != 0 {
		t.Fatal("the requester got an answer")
	}
	if !bytes.Equal(svcMust(os.ReadFile(destBlk)), before) {
		t.Fatal("an unconfirmed request changed dest.blk")
	}
	// Unconfirmed, the victim still gets remailer mail.
	nw.send([]string{"bravo", "alpha"}, []byte("still delivered\n"), "--to", victim)
	nw.waitTo(victim, 2, 30*time.Second)
	// A made-up token blocks nothing.
	fake := "dbc-" + strings.Repeat("a", 26)
	nw.request(victim, "alpha@remailer.test", "Re: Confirm destination-block "+fake, "")
	time.Sleep(2 * time.Second)
	if !bytes.Equal(svcMust(os.ReadFile(destBlk)), before) {
		t.Fatal("a made-up token changed dest.blk")
	}
	// The victim confirms by replying.
	head, _, _ := mailParts(confirm)
	toks := abuse.FindTokens(head["subject"])
	if len(toks) != 1 {
		t.Fatalf("confirmation subject %q", head["subject"])
	}
	nw.request("Victim <"+victim+">", "alpha@remailer.test", "Re: "+head["subject"], "> Someone, probably you, asked ...\nYes please.\n")
	blocked := nw.waitTo(victim, 3, 30*time.Second)[2]
	if !bytes.Contains(blocked.Data, []byte("You are now blocked")) {
		t.Errorf("blocked notice %s", blocked.Data)
	}
	if got := string(svcMust(os.ReadFile(destBlk))); got != string(before)+victim+"\n" {
		t.Fatalf("dest.blk after confirmation: %q", got)
	}
	// From now on nothing reaches the victim; others still get mail.
	nw.send([]string{"bravo", "alpha"}, []byte("blocked now\n"), "--to", victim)
	nw.send([]string{"bravo", "alpha"}, []byte("for someone else\n"), "--to", "else@example.test")
	nw.waitTo("else@example.test", 1, 30*time.Second)
	nw.settle(victim, 3)
	// The operator blocks by command while the daemon runs.
	run(t, nil, bin("mixd"), "block-destination", "--dir", alpha.dir, "else@example.test")
	time.Sleep(1500 * time.Millisecond)
	nw.send([]string{"bravo", "alpha"}, []byte("operator-blocked\n"), "--to", "else@example.test")
	nw.send([]string{"bravo", "alpha"}, []byte("control\n"), "--to", "control@example.test")
	nw.waitTo("control@example.test", 1, 30*time.Second)
	nw.settle("else@example.test", 1)
}

func svcMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
