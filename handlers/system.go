package handlers

import (
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// System is what the server knows about itself when it starts, for the
// console's System page: the target it provisions on, what that target
// lacks, and when it started.
type System struct {
	// Target is "embedded" or "external".
	Target string
	// S3Endpoint and IAMEndpoint are the target's endpoints; empty means
	// AWS's own.
	S3Endpoint, IAMEndpoint string
	// IAM says whether role policies can be written.
	IAM bool
	// PublicGuestAccess says whether guest statements also go into bucket
	// policies for Principal "*".
	PublicGuestAccess bool
	// Warnings are the gaps known at start-up (settings the target does not
	// implement), as they were logged.
	Warnings []string
	// Started is when the process started serving.
	Started time.Time
}

// version is the module version the binary was built from, "(devel)" for a
// build from a checkout, with the VCS revision when Go recorded one. The
// build info does not change while the process runs: read it once.
var version = sync.OnceValue(func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
})

// getConsoleSystem answers the console's System page: the target and its
// capabilities, the version and uptime, the jobs RUNNING (read from the
// pending index, so it costs the same however many jobs finished) and the
// oldest of them, and the warnings known at start-up.
func (s *Server) getConsoleSystem(c echo.Context) error {
	sys := s.System
	resp := consoleSystemResponse{
		Target: consoleTargetWire{Kind: sys.Target, S3Endpoint: sys.S3Endpoint, IAMEndpoint: sys.IAMEndpoint, IAM: sys.IAM,
			PublicGuestAccess: sys.PublicGuestAccess},
		Version:  version(),
		Warnings: sys.Warnings,
	}
	if !sys.Started.IsZero() {
		resp.Started = wireTime(sys.Started)
		resp.UptimeSeconds = int64(time.Since(sys.Started).Seconds())
	}
	var oldest store.Job
	err := s.Store.View(c.Request().Context(), func(tx *store.Tx) (err error) {
		resp.JobsRunning, oldest, err = tx.RunningJobs()
		return err
	})
	if err != nil {
		return err
	}
	if oldest.ID != "" {
		w := toJobWire(oldest)
		resp.OldestRunning = &w
	}
	return c.JSON(http.StatusOK, resp)
}
