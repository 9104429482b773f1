package mailout

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// dir writes each message to its own file in a directory (see the package
// documentation).
type dir struct {
	path string
	sync *groupSync // makes written files durable, shared by concurrent Sends
}

func newDirSender(path string) *dir {
	return &dir{path: path, sync: newGroupSync(func() error { return syncFS(path) })}
}

func (d *dir) Send(ctx context.Context, from string, to []string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return classify(ctx, "dir", err)
	}
	rcpts, e := checkEnvelope(from, to)
	if e != nil {
		return e
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "X-Envelope-From: <%s>\n", from)
	for _, r := range rcpts {
		fmt.Fprintf(&buf, "X-Envelope-To: <%s>\n", r)
	}
	buf.Write(toLF(msg))
	if err := writeAtomic(d.path, buf.Bytes()); err != nil {
		return temporary("dir", "write failed", err)
	}
	// Durable before we report success: the caller then deletes its copy.
	if err := d.sync.wait(); err != nil {
		return temporary("dir", "sync failed", err)
	}
	return nil
}

func randomName() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// writeAtomic writes data to a new randomly named file in dirPath (a
// temporary name, then a rename, so readers never see a partial file). It
// is durable only after the directory's groupSync (on Linux one syncfs for
// a whole batch; elsewhere the file is fsync'd here).
func writeAtomic(dirPath string, data []byte) (err error) {
	name, err := randomName()
	if err != nil {
		return err
	}
	tmp := filepath.Join(dirPath, ".tmp-"+name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if !haveSyncFS {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dirPath, name+".eml"))
}
