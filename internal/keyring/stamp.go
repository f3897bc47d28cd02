package keyring

import (
	"os"
	"path/filepath"
)

// Stamp identifies what the two key files hold without reading them:
// each one's size, modification time and inode. A server compares stamps
// about once a second and reloads when they differ, so a change made by
// the keys command, or by hand, takes effect without a signal.
type Stamp [2]fileStamp

type fileStamp struct {
	exists bool
	size   int64
	mtime  int64
	inode  uint64
}

// Observe stamps dir's key files as they are now.
func Observe(dir string) Stamp {
	var s Stamp
	for i, name := range []string{CredentialsFile, PoliciesFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		s[i] = fileStamp{exists: true, size: st.Size(), mtime: st.ModTime().UnixNano(), inode: inode(st)}
	}
	return s
}
