package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// backupStore streams a consistent copy of the store while the server
// keeps serving (BackupStore; `amplifybackendd backup` calls it). A store
// file is locked by the process that serves it, so the copy has to come
// from that process. Every key that signs may take it: a key already reads
// everything the copy holds.
func (s *Server) backupStore(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/octet-stream")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="amplifybackendd.db"`)
	c.Response().WriteHeader(http.StatusOK)
	if _, err := s.Store.Backup(c.Request().Context(), c.Response()); err != nil {
		s.log.Error("backup cut short", "request_id", requestID(c), "error", err)
		// The status is sent: only a cut connection, never a cleanly
		// ended body, tells the client the copy is incomplete.
		panic(http.ErrAbortHandler)
	}
	return nil
}
