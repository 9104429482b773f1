package pool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a child that works the
// store like the daemon does and is SIGKILLed at a random moment; the
// parent then checks that nothing the child had reported durable is lost
// and nothing is half done.
const (
	crashDirEnv = "POOL_CRASH_CHILD_DIR"
	crashRunEnv = "POOL_CRASH_CHILD_RUN"
)

func crashOptions() (Options, error) {
	sealer, err := NewAESGCMSealer(testKey)
	return Options{Sealer: sealer, BatchDelay: time.Millisecond, Strategy: TimedDynamic(3, 50)}, err
}

// TestCrashChild is the child's body; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrash")
	}
	if err := crashChild(dir, os.Getenv(crashRunEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// crashChild logs, after each call has returned, one line with fsync:
// "I tag" stored as incoming, "A tag" accepted, "D tag" dropped as a
// replay, "P tag" delivered (Ack follows), "S tag" acknowledged, "X tag"
// a wrong dup result.
func crashChild(dir, run string) error {
	o, err := crashOptions()
	if err != nil {
		return err
	}
	s, err := Open(filepath.Join(dir, "pool.db"), o)
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	report := func(kind, tag string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(logf, "%s %s\n", kind, tag)
		logf.Sync()
	}
	item := func(tag string) Item { return Item{Kind: KindPacket, Dest: "next@hop", Data: []byte(tag)} }

	// Recovery, as the daemon does at start: finish the incoming entries.
	ids, err := s.Incoming()
	if err != nil {
		return err
	}
	for _, id := range ids {
		raw, err := s.LoadIncoming(id)
		if err != nil {
			return err
		}
		tag := string(raw)
		dup, err := s.Accept(id, replayOf(strings.TrimPrefix(tag, "dup-of-")), time.Now(), item(tag))
		if err != nil {
			return err
		}
		if !dup {
			report("A", tag)
		} else {
			report("D", tag)
		}
	}

	deadline := time.Now().Add(5 * time.Second) // in case the parent is gone
	errc := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := 0; time.Now().Before(deadline); i++ {
				tag := fmt.Sprintf("m-%s-%d-%d", run, g, i)
				id, err := s.AddIncoming([]byte(tag))
				if err != nil {
					errc <- err
					return
				}
				report("I", tag)
				dup, err := s.Accept(id, replayOf(tag), time.Now(), item(tag))
				if err != nil {
					errc <- err
					return
				}
				report(map[bool]string{false: "A", true: "X"}[dup], tag)
				if i%3 == 0 { // a replayed copy: same packet ID, other bytes
					d, err := s.AddIncoming([]byte("dup-of-" + tag))
					if err != nil {
						errc <- err
						return
					}
					report("I", "dup-of-"+tag)
					dup, err := s.Accept(d, replayOf(tag), time.Now(), item("dup-of-"+tag))
					if err != nil {
						errc <- err
						return
					}
					report(map[bool]string{true: "D", false: "X"}[dup], "dup-of-"+tag)
				}
				if g == 0 && i%4 == 0 { // the pool round and a sender
					if _, err := s.RunPool(time.Now()); err != nil {
						errc <- err
						return
					}
					due, err := s.Due(time.Now(), 3)
					if err != nil {
						errc <- err
						return
					}
					for _, o := range due {
						// "delivered": from here on it may be gone.
						report("P", string(o.Data))
						if err := s.Ack(o.ID); err != nil {
							errc <- err
							return
						}
						report("S", string(o.Data))
					}
				}
			}
			errc <- nil
		}()
	}
	for range 4 {
		if err := <-errc; err != nil {
			return err
		}
	}
	return s.Close()
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test in -short mode")
	}
	dir := t.TempDir()
	const runs = 10
	reported := 0
	for run := range runs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprint(crashRunEnv, "=", run))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+rand.IntN(850)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("run %d: child ended by itself (%v):\n%s", run, err, out.String())
		}
		reported = checkCrashState(t, dir, run)
	}
	if reported == 0 {
		t.Fatal("the children reported nothing: the test tested nothing")
	}
	t.Logf("%d runs, %d messages reported durable", runs, reported)
}

// checkCrashState opens the store the killed child left and checks the
// invariants against the child's log. It returns the number of reported
// incoming messages.
func checkCrashState(t *testing.T, dir string, run int) int {
	t.Helper()
	o, err := crashOptions()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(dir, "pool.db"), o)
	if err != nil {
		t.Fatalf("run %d: reopen after kill: %v", run, err)
	}
	defer s.Close()
	inc, pooled, out := contents(t, s)

	f, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	f = f[:bytes.LastIndexByte(f, '\n')+1] // drop a line the kill cut short
	state := map[string]map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(f))
	for sc.Scan() {
		kind, tag, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("bad log line %q", sc.Text())
		}
		if state[tag] == nil {
			state[tag] = map[string]bool{}
		}
		state[tag][kind] = true
	}
	n := 0
	for tag, kinds := range state {
		total := inc[tag] + pooled[tag] + out[tag]
		isDup := strings.HasPrefix(tag, "dup-of-")
		switch {
		case kinds["X"]:
			t.Errorf("run %d: %s: Accept gave the wrong dup result", run, tag)
		case kinds["I"] && !kinds["P"] && total != 1 && !isDup:
			t.Errorf("run %d: %s reported durable but found %d times (in %d, pool %d, out %d)",
				run, tag, total, inc[tag], pooled[tag], out[tag])
		case kinds["P"] && total > 1, kinds["S"] && total != 0:
			t.Errorf("run %d: %s delivered but stored %d times", run, tag, total)
		case (kinds["A"] || kinds["D"]) && inc[tag] != 0:
			t.Errorf("run %d: %s accepted but still incoming", run, tag)
		}
		if kinds["I"] {
			n++
		}
	}
	for _, m := range []map[string]int{inc, pooled, out} {
		for tag, c := range m {
			if c > 1 || inc[tag]+pooled[tag]+out[tag] > 1 {
				t.Errorf("run %d: %s stored %d/%d/%d times: half-done transaction", run, tag, inc[tag], pooled[tag], out[tag])
			}
			if strings.HasPrefix(tag, "dup-of-") && pooled[tag]+out[tag] > 0 {
				t.Errorf("run %d: replay %s entered the pool", run, tag)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return n
}
