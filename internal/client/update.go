package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// MaxListSize bounds each downloaded file: the real network's pubring.mix
// is about 100 kB.
const MaxListSize = 16 << 20

// pendingDir holds a complete new set while it is moved into place;
// manifestFile, written last into it, names the files of the set.
const (
	pendingDir   = ".pending"
	manifestFile = "MANIFEST"
)

// IsURL reports whether src is an HTTP(S) URL rather than a directory.
func IsURL(src string) bool {
	return strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
}

// Fetch reads the list files from src, an http(s) URL of a pinger's
// published directory or a local directory: pubring.mix, type2.list and
// mlist2.txt, or mlist.txt when there is no mlist2.txt. A file the source
// does not have (HTTP 404 or 410, or no such file) is left out; any other
// failure is an error. client may be nil.
func Fetch(ctx context.Context, src string, client *http.Client) (map[string][]byte, error) {
	get := func(name string) ([]byte, bool, error) { return readLocal(filepath.Join(src, name)) }
	if IsURL(src) {
		base, err := url.Parse(src)
		if err != nil {
			return nil, fmt.Errorf("client: source %q: %w", src, err)
		}
		// A URL of one of the files stands for its directory.
		if slices.Contains(listFiles, path.Base(base.Path)) {
			base.Path = path.Dir(base.Path)
		}
		if !strings.HasSuffix(base.Path, "/") {
			base.Path += "/"
		}
		if client == nil {
			client = &http.Client{Timeout: 2 * time.Minute}
		}
		get = func(name string) ([]byte, bool, error) {
			return download(ctx, client, base.JoinPath(name).String())
		}
	} else if st, err := os.Stat(src); err != nil || !st.IsDir() {
		switch {
		case errors.Is(err, os.ErrNotExist):
			err = errors.New("no such directory (give a directory or an http:// or https:// URL)")
		case err == nil:
			err = errors.New("not a directory")
		}
		return nil, fmt.Errorf("client: source %s: %w", src, err)
	}
	files := make(map[string][]byte)
	for _, name := range []string{FilePubring, FileType2, FileMlist2, FileMlist} {
		if name == FileMlist && files[FileMlist2] != nil {
			break
		}
		data, ok, err := get(name)
		if err != nil {
			return nil, fmt.Errorf("client: %s: %w", name, err)
		}
		if ok {
			files[name] = data
		}
	}
	return files, nil
}

func readLocal(path string) ([]byte, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxListSize+1))
	if err != nil {
		return nil, false, err
	}
	if len(data) > MaxListSize {
		return nil, false, fmt.Errorf("larger than %d bytes", MaxListSize)
	}
	return data, true, nil
}

func download(ctx context.Context, client *http.Client, u string) ([]byte, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, false, nil
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("HTTP %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxListSize+1))
	if err != nil {
		return nil, false, err
	}
	if len(data) > MaxListSize {
		return nil, false, fmt.Errorf("larger than %d bytes", MaxListSize)
	}
	return data, true, nil
}

// Update fetches the lists from src, checks them (ParseSet) and installs
// them in dir as one set, recording src in source.txt. When the new lists
// are broken or cannot be fetched, dir keeps its previous set and the error
// says why.
func Update(ctx context.Context, dir, src string, client *http.Client) (*Set, error) {
	files, err := Fetch(ctx, src, client)
	if err != nil {
		return nil, err
	}
	s, err := ParseSet(files)
	if err != nil {
		return nil, err
	}
	if s.Stats == nil {
		return nil, fmt.Errorf("%w: the source has neither %s nor %s", ErrBroken, FileMlist2, FileMlist)
	}
	files[FileSource] = []byte(src + "\n")
	if err := Install(dir, files); err != nil {
		return nil, err
	}
	return s, nil
}

// LastSource returns the source recorded by the last update of dir, or "".
func LastSource(dir string) string {
	f, err := os.Open(filepath.Join(dir, FileSource))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 4096))
	if sc.Scan() {
		return strings.TrimSpace(sc.Text())
	}
	return ""
}

// Install replaces the list files of dir by files (name → content) as one
// set: list files not in files are removed. The new files are written and
// synced in a staging directory, which is renamed to .pending once
// complete, with a MANIFEST naming them; then each file is renamed into
// place. A crash leaves either the old set or a complete .pending, which
// the next Install or Load finishes moving.
func Install(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := finishPending(dir); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(dir, ".update-")
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer os.RemoveAll(stage) // no-op once renamed
	var names []string
	for name, data := range files {
		if !slices.Contains(listFiles, name) {
			return fmt.Errorf("client: %q is not a list file", name)
		}
		if err := writeSync(filepath.Join(stage, name), data); err != nil {
			return err
		}
		names = append(names, name)
	}
	slices.Sort(names)
	if err := writeSync(filepath.Join(stage, manifestFile), []byte(strings.Join(names, "\n")+"\n")); err != nil {
		return err
	}
	if err := syncDir(stage); err != nil {
		return err
	}
	// Another update may have left its .pending in between: finish it and
	// try once more.
	pending := filepath.Join(dir, pendingDir)
	for try := 0; ; try++ {
		err := os.Rename(stage, pending)
		if err == nil {
			break
		}
		if try > 0 {
			return fmt.Errorf("client: installing the new lists: %w", err)
		}
		if err := finishPending(dir); err != nil {
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return finishPending(dir)
}

// finishPending moves a complete .pending set into place. It is
// idempotent: run again after a crash, it completes the same moves.
func finishPending(dir string) error {
	pending := filepath.Join(dir, pendingDir)
	manifest, err := os.ReadFile(filepath.Join(pending, manifestFile))
	if errors.Is(err, os.ErrNotExist) {
		// Nothing pending, or the rest of one already moved.
		if err := os.RemoveAll(pending); err != nil {
			return fmt.Errorf("client: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	names := strings.Fields(string(manifest))
	for _, name := range listFiles {
		if slices.Contains(names, name) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("client: removing the old %s: %w", name, err)
		}
	}
	for _, name := range names {
		if !slices.Contains(listFiles, name) {
			return fmt.Errorf("client: %s names %q, not a list file", filepath.Join(pending, manifestFile), name)
		}
		err := os.Rename(filepath.Join(pending, name), filepath.Join(dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) { // moved already
			return fmt.Errorf("client: installing %s: %w", name, err)
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	// The manifest goes last: until then a crash repeats the moves.
	if err := os.Remove(filepath.Join(pending, manifestFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("client: %w", err)
	}
	if err := os.RemoveAll(pending); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

// writeSync writes a new file, mode 0600, and syncs it.
func writeSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("client: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("client: syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("client: syncing %s: %w", dir, err)
	}
	return nil
}
