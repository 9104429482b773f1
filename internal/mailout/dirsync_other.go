//go:build !linux

package mailout

import "os"

// syncFS without syncfs(2): files are fsync'd one by one in writeAtomic,
// this only syncs the directory.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

const haveSyncFS = false
