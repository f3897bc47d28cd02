package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// TestSweptJobAnswersNotFound: once a sweep removed a finished job, the API
// answers for it as for an unknown id, even right after a read of it was
// kept, and lists only what is left.
func TestSweptJobAnswersNotFound(t *testing.T) {
	h, st, oldID := benchServer(t)
	newID := uuid.Must(uuid.NewV7()).String()
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		j, err := tx.Job(oldID)
		if err != nil {
			return err
		}
		j.Status = store.StatusCompleted
		if err := tx.PutJob(j); err != nil {
			return err
		}
		j.ID, j.Operation = newID, store.OpUpdate
		return tx.InsertJob(j)
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := signedCall(t, h, "GET", "/backend/app/job/dev/"+oldID, ""); code != http.StatusOK {
		t.Fatalf("before the sweep: %d %s", code, body)
	}

	// Everything finished before a minute from now is expired: the older
	// job goes, the resource's latest stays.
	if removed, err := st.SweepJobs(context.Background(), time.Now().Add(time.Minute), store.SweepOptions{}); err != nil || removed != 1 {
		t.Fatalf("sweep removed %d (%v), want 1", removed, err)
	}
	if code, body := signedCall(t, h, "GET", "/backend/app/job/dev/"+oldID, ""); code != http.StatusNotFound || !strings.Contains(body, "NotFoundException") {
		t.Fatalf("removed job: %d %s, want 404 NotFoundException", code, body)
	}
	code, body := signedCall(t, h, "POST", "/backend/app/job/dev", `{}`)
	if code != http.StatusOK || strings.Contains(body, oldID) || !strings.Contains(body, newID) {
		t.Fatalf("listing after the sweep: %d %s, want only %s", code, body, newID)
	}
}
