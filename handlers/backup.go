package handlers

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

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
		return fmt.Errorf("stage the backup: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := s.Store.Backup(c.Request().Context(), f)
	if err != nil {
		return fmt.Errorf("back up the store: %w", err)
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
