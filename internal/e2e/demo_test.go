package e2e

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoCtrlC runs `mixd demo` as a user would, waits for the first
// delivery, presses Ctrl-C (SIGINT) and checks that no process of the
// demo is left behind.
func TestDemoCtrlC(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command(bin("mixd"), "demo", "--dir", dir, "--messages", "2")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	deadline := time.After(90 * time.Second)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo ended early:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if strings.HasPrefix(l, "message delivered") {
				break wait
			}
		case <-deadline:
			t.Fatalf("no delivery within 90 s:\n%s", strings.Join(seen, "\n"))
		}
	}
	// The pinger's statistics page answers at the URL the demo printed.
	var url string
	for _, l := range seen {
		if i := strings.Index(l, "http://"); i >= 0 && strings.HasPrefix(l, "pinger statistics:") {
			url = strings.Fields(l[i:])[0]
		}
	}
	if url == "" {
		t.Fatalf("no statistics URL printed:\n%s", strings.Join(seen, "\n"))
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("stats page: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<table") {
		t.Errorf("stats page %s: %d\n%.300s", url, resp.StatusCode, page)
	}
	if n := len(demoProcesses(t, dir)); n != 5 {
		t.Errorf("%d demo node processes running, want 5 (4 remailers, a pinger)", n)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30 s of Ctrl-C")
	}
	for l := range lines {
		seen = append(seen, l)
	}
	if left := demoProcesses(t, dir); len(left) > 0 {
		t.Fatalf("processes left after Ctrl-C: %v", left)
	}
	if !strings.Contains(strings.Join(seen, "\n"), "all remailers and the pinger stopped") {
		t.Errorf("demo output did not report a clean stop:\n%s", strings.Join(seen, "\n"))
	}
}

// demoProcesses lists processes whose command line names the demo dir.
func demoProcesses(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cl := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cl, " run --dir "+dir+"/") {
			found = append(found, e.Name()+": "+cl)
		}
	}
	return found
}

// TestDemoDeliversAll is `make demo` without the terminal: every message
// it sends arrives.
func TestDemoDeliversAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	out, err := exec.Command(bin("mixd"), "demo", "--dir", dir, "--messages", "3", "--exit-after-delivery", "--timeout", "2m").CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	text := string(out)
	if strings.Count(text, "message delivered to") != 3 || !strings.Contains(text, "all 3 messages delivered") {
		t.Fatalf("not every message arrived:\n%s", text)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "outside", "Maildir", "new", "*"))
	if len(files) < 3 {
		t.Fatalf("%d mails in the outside Maildir, want at least 3", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if s := string(b); strings.HasPrefix(s, "Delivered-To: recipient") && !strings.Contains(s, "Hello from the mixgo demo") {
			t.Errorf("%s lacks the demo text:\n%s", f, s)
		}
	}
	if left := demoProcesses(t, dir); len(left) > 0 {
		t.Fatalf("processes left: %v", left)
	}
}
