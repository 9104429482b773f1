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

// writeUnnamed is Linux only: elsewhere the caller uses a temporary name.
func writeUnnamed(dir, final string, data []byte) (done bool, err error) { return false, nil }
