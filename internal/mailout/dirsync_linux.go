package mailout

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the file system holding dir: file data, the renames and
// the directory entries, for every write before the call (syncfs(2)
// reports writeback errors since Linux 5.8).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

const haveSyncFS = true
