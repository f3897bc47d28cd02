package handlers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"syscall"

	"github.com/labstack/echo/v4"
)

// backupStore sends a consistent copy of the store while the server keeps
// serving (BackupStore; `amplifybackendd backup` calls it). A store file is
// locked by the process that serves it, so the copy has to come from that
// process. The copy holds every app's records (and the pagination token
// key), so a key takes it only when its policy allows BackupStore on "*"
// (authorize.go), as an administrator's does.
//
// The copy is staged in a file beside the store before it is sent: the
// read transaction then lasts as long as a local copy, not as long as the
// client takes to download, because bbolt cannot grow its mapping for a
// writer while a read transaction is open.
func (s *Server) backupStore(c echo.Context) error {
	if !s.Store.HasFile() {
		return errBackupInEtcd.with()
	}
	f, err := s.Store.StageBackup()
	if err != nil {
		return s.backupFailed(c, "stage the backup", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := s.Store.Backup(c.Request().Context(), f)
	if err != nil {
		return s.backupFailed(c, "back up the store", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/octet-stream")
	h.Set(echo.HeaderContentLength, strconv.FormatInt(n, 10))
	h.Set(echo.HeaderContentDisposition, `attachment; filename="amplifybackendd.db"`)
	c.Response().WriteHeader(http.StatusOK)
	if _, err := io.Copy(c.Response(), f); err != nil {
		// The status is sent; Content-Length tells the client the copy
		// is short, and the cut connection says so at once.
		s.log.Warn("backup not delivered whole", "request_id", requestID(c), "error", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// backupFailed is the answer to a backup that could not be staged. A disk
// without room for the copy is the operator's to fix, and the generic
// internal failure would send them to the log to learn that: the answer
// says it, with the room needed (the caller is an administrator, see
// backupStore). Anything else is an internal failure.
func (s *Server) backupFailed(c echo.Context, what string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) && (errno == syscall.ENOSPC || errno == syscall.EDQUOT || errno == syscall.EFBIG) {
		s.log.Error("backup not staged", "request_id", requestID(c), "error", err)
		var size int64
		if st, serr := os.Stat(s.Store.Path()); serr == nil {
			size = st.Size()
		}
		return errBackupNoRoom.with(errno.Error(), size)
	}
	return fmt.Errorf("%s: %w", what, err)
}
