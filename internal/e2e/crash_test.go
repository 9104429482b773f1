package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mixgo/mixgo/internal/hub"
)

// kill ends the daemon with SIGKILL: no shutdown code runs.
func (n *node) kill(t *testing.T) {
	t.Helper()
	if n.cmd == nil || n.cmd.Process == nil {
		t.Fatalf("%s is not running", n.name)
	}
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing %s: %v", n.name, err)
	}
	n.cmd.Wait()
	n.cmd = nil
}

// deliveredAt is when the hub filed a delivery, from its Maildir name
// (UnixNano.random.hub), written just before the hub answers 250.
func deliveredAt(t *testing.T, d hub.Delivery) time.Time {
	t.Helper()
	ns, err := strconv.ParseInt(strings.SplitN(filepath.Base(d.Path), ".", 2)[0], 10, 64)
	if err != nil {
		t.Fatalf("maildir name %s: %v", d.Path, err)
	}
	return time.Unix(0, ns)
}

// counter reads one of a node's persistent counters with `mixd pool`.
func counter(t *testing.T, n *node, name string) int {
	t.Helper()
	out := run(t, nil, bin("mixd"), "pool", "--dir", n.dir)
	m := regexp.MustCompile(`(?m)^counter ` + regexp.QuoteMeta(name) + ` +(\d+)$`).FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	v, _ := strconv.Atoi(m[1])
	return v
}

// TestCrashSafety sends a bounded batch of messages through three `mixd
// run` processes (alpha → bravo → charlie → the outside world) while the
// middle hop and the exit are killed with SIGKILL at random moments, in
// turn, and restarted each time. Every message alpha answered 250 must be
// delivered. A message may arrive twice only if the exit was killed after
// the recipient's 250 and before it could remove its copy (the test checks
// that such a kill happened just after the first copy arrived, and prints
// how many there were); any other repeat (bravo sending again after a kill,
// alpha retrying after a cut connection) must be dropped by the next
// hop's replay log.
func TestCrashSafety(t *testing.T) {
	const (
		messages = 40
		kills    = 24
		// Between the recipient's 250 and the exit's commit of its
		// removal there are milliseconds; this is generous for a loaded
		// machine.
		ackWindow = 5 * time.Second
	)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d", seed)

	nw := newNetwork(t, []string{"alpha", "bravo", "charlie"}, nil,
		"pool_interval = 300ms", "retry_max = 2s")
	nw.startAll()
	alpha, bravo, charlie := nw.nodes["alpha"], nw.nodes["bravo"], nw.nodes["charlie"]

	// The packets, one e-mail each, made by the client beforehand.
	pkts := make([][]byte, messages)
	for i := range pkts {
		out := t.TempDir()
		run(t, fmt.Appendf(nil, "crash test message %d\n", i), bin("mix"), "send",
			"--pubring", filepath.Join(nw.root, "pubring.mix"), "--chain", "alpha,bravo,charlie",
			"--to", "crash@example.test", "--out", out)
		var err error
		if pkts[i], err = os.ReadFile(filepath.Join(out, "01.eml")); err != nil {
			t.Fatal(err)
		}
	}

	// The sender: straight to the first hop, spread over the killing.
	accepted := make([]bool, messages)
	var sendMu sync.Mutex
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i, p := range pkts {
			err := hub.Send(alpha.listen, "client@example.test", []string{alpha.addr}, p)
			sendMu.Lock()
			accepted[i] = err == nil
			sendMu.Unlock()
			time.Sleep(350 * time.Millisecond)
		}
	}()

	// The killer: random moments, bravo and charlie in turn.
	var exitKills []time.Time
	for k := range kills {
		time.Sleep(time.Duration(50+rng.IntN(750)) * time.Millisecond)
		victim := bravo
		if k%2 == 1 {
			victim = charlie
		}
		at := time.Now()
		victim.kill(t)
		if victim == charlie {
			exitKills = append(exitKills, at)
		}
		victim.start(t)
	}
	select {
	case <-sent:
	case <-time.After(2 * time.Minute):
		t.Fatal("the sender did not finish")
	}
	sendMu.Lock()
	want := map[string]bool{}
	for i, ok := range accepted {
		if ok {
			want[fmt.Sprintf("crash test message %d\n", i)] = true
		}
	}
	sendMu.Unlock()
	if len(want) < messages/2 {
		t.Fatalf("alpha accepted only %d of %d messages", len(want), messages)
	}

	// Every accepted message arrives; then a little longer for repeats.
	byBody := func() map[string][]hub.Delivery {
		m := map[string][]hub.Delivery{}
		for _, d := range nw.hub.Delivered() {
			m[bodyOf(d.Data)] = append(m[bodyOf(d.Data)], d)
		}
		return m
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := byBody()
		missing := 0
		for body := range want {
			if len(got[body]) == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted messages not delivered after the crashes", missing, len(want))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)

	dups := 0
	for body, ds := range byBody() {
		if !want[body] {
			t.Errorf("delivered a message alpha did not accept: %q", body)
			continue
		}
		if len(ds) == 1 {
			continue
		}
		times := make([]time.Time, len(ds))
		for i, d := range ds {
			times[i] = deliveredAt(t, d)
		}
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		// Each repeat needs its own exit kill after the copy before it.
		for i := 1; i < len(times); i++ {
			explained := false
			for _, k := range exitKills {
				if !k.Before(times[i-1]) && k.Sub(times[i-1]) <= ackWindow && k.Before(times[i]) {
					explained = true
					break
				}
			}
			if !explained {
				t.Errorf("%q delivered %d times; copy %d (at %v) follows no exit kill within %v of copy %d (at %v)",
					strings.TrimSpace(body), len(ds), i+1, times[i].Format(time.StampMilli), ackWindow, i, times[i-1].Format(time.StampMilli))
			}
			dups++
		}
	}
	t.Logf("%d kills (%d of the exit), %d messages accepted and delivered, %d repeated at the recipient "+
		"(exit killed between the recipient's 250 and its removal); repeats dropped by replay logs: bravo %d, charlie %d",
		kills, len(exitKills), len(want), dups, counter(t, bravo, "replay"), counter(t, charlie, "replay"))
}
