package e2e

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/pinger"
)

// publishLists writes what a pinger publishes about the network's nodes
// into a directory: pubring.mix, type2.list and mlist2.txt with every node
// reliable and a middleman among them.
func (nw *network) publishLists(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(nw.root, "pinger-files")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ring, err := os.ReadFile(filepath.Join(nw.root, "pubring.mix"))
	if err != nil {
		t.Fatal(err)
	}
	keys, errs := keyring.ParsePubring(ring)
	if len(errs) > 0 || len(keys) != len(nw.nodes) {
		t.Fatalf("network pubring: %d keys, %v", len(keys), errs)
	}
	var type2 strings.Builder
	l := &pinger.List{Generated: time.Now().Add(-30 * time.Minute)}
	for _, k := range keys {
		type2.WriteString(k.Type2Line() + "\n")
		caps := []string{"mix"}
		if k.Caps.Middleman() {
			caps = append(caps, "middle")
		}
		l.Rows = append(l.Rows, pinger.Row{Name: k.Name, LatentHist: "000000000000", Latency: 12 * time.Minute,
			UptimeHist: "++++++++++++", Uptime: 100, Options: pinger.OptionsColumn(caps)})
		l.Caps = append(l.Caps, pinger.Capstring{Name: k.Name, Address: k.Address, Caps: caps})
	}
	pinger.SortRows(l.Rows, false)
	for name, data := range map[string][]byte{
		"pubring.mix": ring, "type2.list": []byte(type2.String()), "mlist2.txt": pinger.RenderMlist2(l),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// replays sums the replay counters of every node.
func (nw *network) replays(t *testing.T) int {
	total := 0
	re := regexp.MustCompile(`(?m)^counter replay +(\d+)$`)
	for _, n := range nw.nodes {
		out := run(t, nil, bin("mixd"), "pool", "--dir", n.dir)
		if m := re.FindStringSubmatch(out); m != nil {
			v, _ := strconv.Atoi(m[1])
			total += v
		}
	}
	return total
}

// The client as a person uses it: `mix update` from a pinger's published
// files (a directory, then over HTTP), then `mix send` with a random chain
// chosen from the statistics and two copies, handed to the mail server
// (the hub) by SMTP; the message arrives once.
func TestClientUpdateAndSend(t *testing.T) {
	nw := newNetwork(t, []string{"alpha", "bravo", "charlie", "mid"}, map[string]bool{"mid": true})
	nw.startAll()
	published := nw.publishLists(t)
	client := filepath.Join(nw.root, "client")

	if out := run(t, nil, bin("mix"), "update", "--from", published, "--dir", client); out != "" {
		t.Errorf("update printed %q", out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.FileServer(http.Dir(published)))
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	out := run(t, nil, bin("mix"), "update", "--from", srv.URL+"/", "--dir", client, "--verbose")
	if !strings.Contains(out, "4 keys, 4 lines of type2.list, statistics of 4 remailers (mlist2.txt)") {
		t.Errorf("update over HTTP: %q", out)
	}
	list := run(t, nil, bin("mix"), "list", "--dir", client)
	if !regexp.MustCompile(`(?m)^mid +mid@remailer\.test +MC +1024 +0:12 +100\.0% +no: middleman +yes`).MatchString(list) {
		t.Errorf("list:\n%s", list)
	}

	body := []byte("Chosen by the statistics, sent by SMTP.\n")
	out = run(t, body, bin("mix"), "send", "--dir", client, "--hops", "3", "--copies", "2",
		"--to", "rcpt@example.test", "--subject", "from the client", "--smtp", nw.hubAt)
	if out != "" {
		t.Errorf("send printed %q without --verbose", out)
	}
	d := nw.waitDeliveries(1, 60*time.Second)[0]
	if d.To != "rcpt@example.test" || bodyOf(d.Data) != string(body) || headerOf(d.Data, "Subject") != "from the client" {
		t.Fatalf("delivery to %s:\n%s", d.To, d.Data)
	}
	if from := headerOf(d.Data, "From"); strings.Contains(from, "mid@") {
		t.Errorf("the middleman was the exit: %s", from)
	}
	// The second copy reaches the same exit with the same packet ID and is
	// dropped there as a replay.
	deadline := time.Now().Add(30 * time.Second)
	for nw.replays(t) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the second copy was not dropped as a replay")
		}
		time.Sleep(300 * time.Millisecond)
	}
	if n := len(nw.hub.Delivered()); n != 1 {
		t.Fatalf("%d deliveries of one message sent in two copies", n)
	}

	// The verbose form names the chain; a named chain works as well.
	out = run(t, []byte("named\n"), bin("mix"), "send", "--dir", client, "--chain", "mid,*,bravo",
		"--to", "named@example.test", "--smtp", "smtp://"+nw.hubAt, "--verbose")
	if !regexp.MustCompile(`chain mid,(alpha|charlie),bravo, 1 packet`).MatchString(out) {
		t.Errorf("verbose send: %q", out)
	}
	d = nw.waitDeliveries(2, 60*time.Second)[1]
	if d.To != "named@example.test" || !strings.Contains(headerOf(d.Data, "From"), "bravo@remailer.test") {
		t.Fatalf("named chain delivered to %s from %s", d.To, headerOf(d.Data, "From"))
	}
}

// The same from a running pinger: a pinger-only mixd pings the nodes and
// publishes its statistics over HTTP; `mix update` fetches them from there
// and `mix send` chooses from them.
func TestClientFromRunningPinger(t *testing.T) {
	nw := newNetwork(t, []string{"alpha", "bravo", "charlie", "delta"}, nil)
	nw.startAll()
	p := &node{name: "pinger", addr: "pinger@pinger.test", listen: freePort(t), dir: filepath.Join(nw.root, "pinger")}
	httpAt := freePort(t)
	run(t, nil, bin("mixd"), "init", "--dir", p.dir, "--pinger-only", "--name", "pinger", "--address", p.addr,
		"--listen", p.listen, "--deliver", "smtp://"+nw.hubAt)
	appendFile(t, filepath.Join(p.dir, "mixd.conf"), strings.Join([]string{
		"pinger_http = " + httpAt, "pinger_finger = ", "pinger_seed_pubring = " + filepath.Join(nw.root, "pubring.mix"),
		"pinger_ping_schedule = @every 2s", "pinger_recipient_delimiter = ", "log_level = debug", "hostname = pinger.localhost",
	}, "\n")+"\n")
	nw.hub.Route(p.addr, p.listen)
	p.start(t)
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("log of the pinger:\n%s", p.logText())
		}
	})

	// Wait until the pinger lists every node with a returned ping.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAt + "/mlist2.txt")
		if err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if l, err := pinger.ParseMlist2(data); err == nil && countReturned(l) == 4 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pinger has not listed the 4 nodes after 60 s")
		}
		time.Sleep(500 * time.Millisecond)
	}
	client := filepath.Join(nw.root, "client")
	run(t, nil, bin("mix"), "update", "--from", "http://"+httpAt+"/", "--dir", client)
	// Pings through a local network return within seconds: below the
	// default minimum latency of 5 minutes, so that limit is lifted.
	body := []byte("chosen from a live pinger's statistics\n")
	run(t, body, bin("mix"), "send", "--dir", client, "--hops", "3", "--minlat", "0",
		"--to", "live@example.test", "--smtp", nw.hubAt)
	d := nw.waitDeliveries(1, 60*time.Second)
	var got bool
	for _, x := range d {
		got = got || (x.To == "live@example.test" && bodyOf(x.Data) == string(body))
	}
	if !got {
		t.Fatalf("message not delivered; deliveries: %v", d)
	}
}

// countReturned counts the remailers whose latency is known and whose
// reliability meets the default limit for exits.
func countReturned(l *pinger.List) int {
	n := 0
	for _, r := range l.Rows {
		if r.Latency < 99*time.Hour && r.Uptime >= 99 {
			n++
		}
	}
	return n
}
