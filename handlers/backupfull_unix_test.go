//go:build unix

package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/internal/fsizetest"
)

// TestBackupWithoutRoomSaysSo: a backup whose staged copy the disk refuses
// is answered with what the administrator must do (room beside the store,
// about its size) rather than the generic internal failure, and leaves no
// staged file behind. The fault is the kernel's: the test binary runs again
// with RLIMIT_FSIZE below the store's size, so writing the copy fails with
// EFBIG as a full disk fails it with ENOSPC.
func TestBackupWithoutRoomSaysSo(t *testing.T) {
	if !fsizetest.Isolate(t) {
		return
	}
	h, st, _ := storeTestServer(t)
	lift := fsizetest.Limit(t, 16<<10)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(t, http.MethodGet, "/admin-api/backup", nil))
	lift()
	info, err := os.Stat(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 500 || body.Type != InternalFailure ||
		!strings.Contains(body.Message, "no room beside its store") || !strings.Contains(body.Message, "file too large") ||
		!strings.Contains(body.Message, strconv.FormatInt(info.Size(), 10)+" bytes") {
		t.Fatalf("backup without room: %d %s, want it to say the copy needs about %d bytes free beside the store", w.Code, w.Body, info.Size())
	}
	entries, err := os.ReadDir(filepath.Dir(st.Path()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".backup-") {
			t.Errorf("left beside the store: %s", e.Name())
		}
	}
}
