package jobs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/amplifybackendd/amplifybackendd/store"
)

// TestCapacityReport measures how many full-permission resources one
// environment takes: AMPLIFYBACKENDD_CAPACITY creates (bucket names
// derived, as for a client that names none) are accepted at once into one
// environment of the embedded gateway, and the log says how many COMPLETED
// and why the others FAILED. It is a measurement for the README, not an
// assertion; without the variable it is skipped.
func TestCapacityReport(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AMPLIFYBACKENDD_CAPACITY"))
	if n <= 0 {
		t.Skip("set AMPLIFYBACKENDD_CAPACITY=300 to measure")
	}
	f := setup(t)
	f.runner.cfg.Workers = 8
	f.start()
	all := store.Permissions{Authenticated: []string{"CREATE_AND_UPDATE", "DELETE", "READ"}, Unauthenticated: []string{"CREATE_AND_UPDATE", "DELETE", "READ"}}
	var ids []string
	for i := range n {
		j, err := f.runner.Create(f.ctx, CreateInput{Key: f.key(fmt.Sprintf("photos%03d", i)), Permissions: all})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	count := map[store.Status]int{}
	failures := map[string]int{} // by the error's first words
	firstError := ""
	for _, id := range ids {
		j := f.wait(id)
		count[j.Status]++
		if j.Status == store.StatusFailed {
			if firstError == "" {
				firstError = j.Error
			}
			words := strings.Fields(j.Error)
			failures[strings.Join(words[:min(3, len(words))], " ")]++
		}
	}
	t.Logf("%d creates in one environment: %d COMPLETED, %d FAILED %v; first failure: %s",
		n, count[store.StatusCompleted], count[store.StatusFailed], failures, firstError)
	t.Logf("IAM GetPolicy calls: %d", f.target.policyReads.Load())
}
