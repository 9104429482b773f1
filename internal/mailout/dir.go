package mailout

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/mixgo/mixgo/internal/parallel"
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
	if err := d.write(ctx, from, to, msg); err != nil {
		return err
	}
	// Durable before we report success: the caller then deletes its copy.
	if err := d.sync.wait(); err != nil {
		return temporary("dir", "sync failed", err)
	}
	return nil
}

// SendBatch writes the mails (two per core at once: creating a file is
// mostly kernel time, much of it waiting for the directory and the inode
// allocator) and then makes them all durable with one sync. With one
// sync per mail the disk's flush, not the writing, bounded a flush of the
// pool (docs/PERFORMANCE.md).
func (d *dir) SendBatch(ctx context.Context, from string, mails []Mail) []error {
	errs := make([]error, len(mails))
	parallel.For(len(mails), 2*runtime.GOMAXPROCS(0), func(i int) {
		errs[i] = d.write(ctx, from, mails[i].To, mails[i].Msg)
	})
	var err error
	for _, e := range errs {
		if e == nil {
			err = d.sync.wait()
			break
		}
	}
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = temporary("dir", "sync failed", err)
			}
		}
	}
	return errs
}

// write writes one mail's file; it is durable after the next sync.
func (d *dir) write(ctx context.Context, from string, to []string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return classify(ctx, "dir", err)
	}
	rcpts, e := checkEnvelope(from, to)
	if e != nil {
		return e
	}
	var buf bytes.Buffer
	buf.Grow(len(msg) + 64 + 64*len(rcpts))
	fmt.Fprintf(&buf, "X-Envelope-From: <%s>\n", from)
	for _, r := range rcpts {
		fmt.Fprintf(&buf, "X-Envelope-To: <%s>\n", r)
	}
	appendEOL(&buf, msg, "\n")
	if err := writeAtomic(d.path, buf.Bytes()); err != nil {
		return temporary("dir", "write failed", err)
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

// writeAtomic writes data to a new randomly named file in dirPath, so that
// readers never see a partial file: on Linux an unnamed file (O_TMPFILE)
// linked in once written, one directory change instead of a create and a
// rename; elsewhere a temporary name, then a rename. It is durable only
// after the directory's groupSync (on Linux one syncfs for a whole batch;
// elsewhere the file is fsync'd here).
func writeAtomic(dirPath string, data []byte) error {
	name, err := randomName()
	if err != nil {
		return err
	}
	final := filepath.Join(dirPath, name+".eml")
	if done, err := writeUnnamed(dirPath, final, data); done {
		return err
	}
	return writeRenamed(filepath.Join(dirPath, ".tmp-"+name), final, data)
}

// writeRenamed writes data under the temporary name tmp, then renames it
// to final.
func writeRenamed(tmp, final string, data []byte) (err error) {
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
	return os.Rename(tmp, final)
}
