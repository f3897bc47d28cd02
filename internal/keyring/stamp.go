package keyring

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Stamp identifies what the two key files hold without reading them:
// each one's size, modification time, inode and permissions. A server
// compares stamps about once a second and reloads when they differ, so a
// change made by the keys command, or by hand, takes effect without a
// signal.
type Stamp [2]fileStamp

type fileStamp struct {
	exists bool
	size   int64
	mtime  int64
	inode  uint64
	// mode is the file's permissions: a credentials file made readable
	// by others fails the next load, which a server should meet now
	// rather than at its next start.
	mode fs.FileMode
}

// Observe stamps dir's key files as they are now.
func Observe(dir string) Stamp {
	var s Stamp
	for i, name := range []string{CredentialsFile, PoliciesFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		s[i] = fileStamp{exists: true, size: st.Size(), mtime: st.ModTime().UnixNano(), inode: inode(st), mode: st.Mode().Perm()}
	}
	return s
}
