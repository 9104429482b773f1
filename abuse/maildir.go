package abuse

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Deliver files data as a new mail in the Maildir dir (created with its
// tmp, new and cur folders, mode 0700, if missing), the way any mail
// client expects: written to tmp, fsync'd, renamed into new. It returns
// the file's path once the mail is durable. Line ends become LF.
func Deliver(dir string, data []byte, rnd io.Reader, now time.Time) (string, error) {
	for _, d := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return "", fmt.Errorf("abuse: maildir: %w", err)
		}
	}
	var id [12]byte
	if _, err := io.ReadFull(rnd, id[:]); err != nil {
		return "", fmt.Errorf("abuse: maildir: %w", err)
	}
	name := fmt.Sprintf("%d.R%s.mixd", now.Unix(), hex.EncodeToString(id[:]))
	tmp := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("abuse: maildir: %w", err)
	}
	_, err = f.Write(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("abuse: maildir: %w", err)
	}
	final := filepath.Join(dir, "new", name)
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("abuse: maildir: %w", err)
	}
	if err := syncDir(filepath.Join(dir, "new")); err != nil {
		return "", fmt.Errorf("abuse: maildir: %w", err)
	}
	return final, nil
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
