package mailout

import (
	"errors"
	"os"
	"strconv"

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

// writeUnnamed writes data to an unnamed file in dir (O_TMPFILE) and links
// it in as final. done is false, and nothing was written, where the file
// system or /proc does not allow it: the caller then uses a temporary name.
func writeUnnamed(dir, final string, data []byte) (done bool, err error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
			return false, nil
		}
		return true, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return true, err
	}
	// linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc path
	// does not.
	err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, final, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.ENOENT) {
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			return false, nil // no /proc
		}
	}
	if err != nil {
		return true, &os.LinkError{Op: "link", Old: "(unnamed)", New: final, Err: err}
	}
	return true, nil
}
