package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/amplifybackendd/amplifybackendd/internal/load"
	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
	"github.com/amplifybackendd/amplifybackendd/store"
)

// scaleRun is one server's figures on one store.
type scaleRun struct {
	listening, recovered, checked time.Duration // from exec
	first, deep                   time.Duration // medians of 200 calls
	rssMB, anonMB, fileMB         float64       // after the listings
	accepts                       float64       // creates accepted per second
}

// benchScale compares a store of p.scaleJobs jobs with one of 1,000 and
// with an empty one, in the same run: the first and the 30th
// ListBackendJobs page, start-up (exec to the API listening, to the jobs
// left RUNNING recovered, and to the store's check passed, which is when
// writes are taken), resident memory after the listings (the process's
// own and file-backed pages, among which the mapped store file's),
// acceptances, and the file's size per job.
// Every run starts a server on a fresh copy of the filled store, so the
// creates a run accepts (held: the target is unreachable) are not jobs the
// next run recovers.
func benchScale(t testing.TB, p params, rep *report) {
	type filled struct {
		name        string
		jobs, res   int
		dir         string
		bytesPerJob float64
		runs        []scaleRun
	}
	stores := []*filled{{name: "empty"}, {name: "1,000 jobs, 100 resources", jobs: 1000, res: 100},
		{name: grouped(p.scaleJobs) + " jobs, " + grouped(p.scaleRes) + " resources", jobs: p.scaleJobs, res: p.scaleRes}}
	for _, s := range stores {
		s.dir = t.TempDir()
		if s.jobs == 0 {
			continue
		}
		start := time.Now()
		size := fillScale(t, filepath.Join(s.dir, "amplifybackendd.db"), s.jobs, s.res)
		s.bytesPerJob = float64(size) / float64(s.jobs)
		t.Logf("%s: filled in %s, %d bytes (%.0f per job)", s.name, time.Since(start).Round(time.Millisecond), size, s.bytesPerJob)
	}
	for i := 0; i < p.runs; i++ {
		for _, s := range stores {
			r := scaleServer(t, p, s.dir, s.jobs > 0, fmt.Sprintf("a%d", i))
			t.Logf("%s run %d: %+v", s.name, i, r)
			s.runs = append(s.runs, r)
		}
	}
	empty, small, big := stores[0], stores[1], stores[2]
	pick := func(s *filled, f func(scaleRun) float64) []float64 {
		var xs []float64
		for _, r := range s.runs {
			xs = append(xs, f(r))
		}
		return xs
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	spread := func(xs []float64, format string) string {
		return fmt.Sprintf(format+" ("+format+"–"+format+")", median(xs), slices.Min(xs), slices.Max(xs))
	}
	first := func(r scaleRun) float64 { return ms(r.first) }
	deep := func(r scaleRun) float64 { return ms(r.deep) }
	accepts := func(r scaleRun) float64 { return r.accepts }
	ratio := func(f func(scaleRun) float64, a, b *filled) float64 { return median(pick(a, f)) / median(pick(b, f)) }
	rep.add("\n### A million jobs (one environment holding every job; medians, min–max over %d runs)\n", p.runs)
	rep.add("| store | file per job | first page | page 30 | listening | recovered | checked (writes taken) | resident memory (anon + file) | creates accepted per s |")
	rep.add("|---|---|---|---|---|---|---|---|---|")
	for _, s := range stores {
		perJob := "—"
		if s.jobs > 0 {
			perJob = fmt.Sprintf("%.0f B", s.bytesPerJob)
		}
		list := func(f func(scaleRun) float64) string {
			if s.jobs == 0 {
				return "—"
			}
			return spread(pick(s, f), "%.2f") + " ms"
		}
		rep.add("| %s | %s | %s | %s | %s ms | %s ms | %s ms | %s MB (%.0f + %.0f) | %s |", s.name, perJob, list(first), list(deep),
			spread(pick(s, func(r scaleRun) float64 { return ms(r.listening) }), "%.0f"),
			spread(pick(s, func(r scaleRun) float64 { return ms(r.recovered) }), "%.0f"),
			spread(pick(s, func(r scaleRun) float64 { return ms(r.checked) }), "%.0f"),
			spread(pick(s, func(r scaleRun) float64 { return r.rssMB }), "%.0f"),
			median(pick(s, func(r scaleRun) float64 { return r.anonMB })), median(pick(s, func(r scaleRun) float64 { return r.fileMB })),
			spread(pick(s, accepts), "%.0f"))
	}
	f, d, a := ratio(first, big, small), ratio(deep, big, small), ratio(accepts, big, empty)
	rec := median(pick(big, func(r scaleRun) float64 { return ms(r.recovered) }))
	rss := median(pick(big, func(r scaleRun) float64 { return r.rssMB }))
	rep.add("\nAt %s jobs: first page %.2f× the page at 1,000 (≤ 1.5: %s), page 30 %.2f× (≤ 1.5: %s), acceptances %.2f× the empty store's (≥ 0.8: %s), "+
		"start-up with recovery %.0f ms (< 1 s: %s), resident memory %.0f MB (< 100 MB: %s), %.0f bytes of store file per job.",
		grouped(big.jobs), f, verdict(f, 1.5, false), d, verdict(d, 1.5, false), a, verdict(a, 0.8, true),
		rec, verdict(rec/1000, 1, false), rss, verdict(rss, 100, false), big.bytesPerJob)
}

// grouped writes n with thousands separated, as the docs do.
func grouped(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// scaleServer starts a server on a copy of the store in dir (none: an
// empty store), times its start-up, lists jobs, reads its memory and
// measures acceptances into app.
func scaleServer(t testing.TB, p params, dir string, filled bool, app string) scaleRun {
	run := t.TempDir()
	if filled {
		for _, name := range []string{"amplifybackendd.db", "amplifybackendd.db.id"} {
			copyFile(t, filepath.Join(dir, name), filepath.Join(run, name))
		}
	}
	var r scaleRun
	t0 := time.Now()
	s := testserver.StartUnready(t, []string{"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench"}, "--data-dir", run,
		"--target", "external", "--s3-endpoint", "http://127.0.0.1:1", "--iam-endpoint", "http://127.0.0.1:1", "--retry-base", "5s")
	defer s.Stop()
	r.listening = time.Since(t0)
	r.recovered, r.checked = awaitStore(t, s, t0)
	if filled {
		page := func(token string) (time.Duration, string) {
			body := map[string]any{}
			if token != "" {
				body["nextToken"] = token
			}
			start := time.Now()
			resp := testserver.MustOK(t, s.Call("POST", "/backend/scale/job/dev", body))
			return time.Since(start), resp.Str("nextToken")
		}
		var firsts, deeps []time.Duration
		for i := 0; i < 200; i++ {
			d, _ := page("")
			firsts = append(firsts, d)
		}
		// Walk to page 30 (or the last), then time that page again and again.
		token := ""
		for i := 0; i < 30; i++ {
			_, next := page(token)
			if next == "" {
				break
			}
			token = next
		}
		for i := 0; i < 200; i++ {
			d, _ := page(token)
			deeps = append(deeps, d)
		}
		r.first, r.deep = median(firsts), median(deeps)
	}
	mem := func(field string) float64 {
		kb, err := load.ReadStatusKB(s.PID(), field)
		if err != nil {
			t.Fatal(err)
		}
		return float64(kb) / 1024
	}
	r.rssMB, r.anonMB, r.fileMB = mem("VmRSS"), mem("RssAnon"), mem("RssFile")
	res, err := load.Bench(context.Background(), load.BenchConfig{Endpoint: s.API, Credentials: s.APICreds, Clients: 64, Duration: p.dur,
		Op: "CreateBackendStorage", App: app, PresignPerClient: int(p.dur.Seconds()*200) + 50})
	if err != nil || res.Errors > 0 {
		t.Fatalf("creates: %v %+v", err, res)
	}
	r.accepts = res.PerSecond
	return r
}

// awaitStore polls /readyz until the server has recovered the jobs left
// RUNNING and until its store check has passed, and returns when each
// happened, from t0. The target is unreachable, so the reason it then
// gives is the target's.
func awaitStore(t testing.TB, s *testserver.Server, t0 time.Time) (recovered, checked time.Duration) {
	for {
		reason, err := s.NotReadyBecause()
		if err != nil || reason == "" {
			t.Fatalf("readyz: %q %v", reason, err)
		}
		at := time.Since(t0)
		switch {
		case strings.Contains(reason, "recovered"):
		case strings.Contains(reason, "being checked"):
			recovered = firstAt(recovered, at)
		case strings.HasPrefix(reason, "the target"):
			return firstAt(recovered, at), at
		default:
			t.Fatalf("readyz: %s", reason)
		}
		// The figures are read to the millisecond.
		time.Sleep(time.Millisecond)
	}
}

// cmpOr returns d, or at when d is not set yet.
func firstAt(d, at time.Duration) time.Duration {
	if d == 0 {
		return at
	}
	return d
}

func copyFile(t testing.TB, from, to string) {
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// fillScale writes, through the store, jobsN jobs over resN resources of
// app "scale", environment "dev", as a month of use leaves them: each
// resource created by its first job and changed by later ones, jobs
// spread over the last 29 days (inside the default retention, so no sweep
// starts) with time-ordered (UUIDv7) ids as the server makes them, about
// one in fifty FAILED with a target's error, some COMPLETED with warnings,
// and the last 10 RUNNING for recovery to pick up. It returns the file's
// size.
func fillScale(t testing.TB, path string, jobsN, resN int) int64 {
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	end := time.Now().UTC()
	begin := end.Add(-29 * 24 * time.Hour)
	at := func(i int) time.Time {
		return begin.Add(time.Duration(int64(end.Sub(begin)) / int64(jobsN) * int64(i)))
	}
	perms := []store.Permissions{
		{Authenticated: []string{"CREATE_AND_UPDATE", "DELETE", "READ"}, Unauthenticated: []string{"READ"}},
		{Authenticated: []string{"READ"}},
		{Authenticated: []string{"CREATE_AND_UPDATE", "READ"}, Unauthenticated: []string{}},
	}
	name := func(i int) string { return fmt.Sprintf("storage%06d", i%resN) }
	const chunk = 5000
	for base := 0; base < jobsN; base += chunk {
		err := st.Update(context.Background(), func(tx *store.Tx) error {
			for i := base; i < min(base+chunk, jobsN); i++ {
				now := at(i)
				k := store.ResourceKey{AppID: "scale", Env: "dev", Name: name(i)}
				op := store.OpUpdate
				if i < resN {
					op = store.OpCreate
					p := perms[i%len(perms)]
					if err := tx.CreateResource(store.Resource{ResourceKey: k, Bucket: fmt.Sprintf("amplify-scale-dev-%s-%08x", k.Name, rng.Uint32()),
						Phase: store.PhaseActive, Desired: p, Applied: &p, CreatedBucket: true, CreateTime: now, UpdateTime: now}); err != nil {
						return err
					}
				}
				j := store.Job{ID: uuidV7(now, rng).String(), AppID: "scale", Env: "dev", Resource: k.Name, Operation: op,
					Status: store.StatusCompleted, CreateTime: now, UpdateTime: now.Add(time.Duration(200+rng.IntN(3000)) * time.Millisecond)}
				switch {
				case i >= jobsN-10:
					j.Status, j.UpdateTime = store.StatusRunning, now
				case rng.IntN(50) == 0:
					j.Status = store.StatusFailed
					j.Error = "step PutBucketPolicy: the target answered AccessDenied: Access Denied (HTTP 403); the change was rolled back"
				case rng.IntN(20) == 0:
					j.Warnings = []string{"the target does not implement bucket encryption; the bucket was created without it"}
				}
				if err := tx.InsertJob(j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// uuidV7 is the UUIDv7 a server would have given a job accepted at at.
func uuidV7(at time.Time, rng *rand.Rand) uuid.UUID {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], rng.Uint64())
	binary.BigEndian.PutUint64(u[:8], uint64(at.UnixMilli())<<16|uint64(rng.Uint32()&0x0fff))
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}
