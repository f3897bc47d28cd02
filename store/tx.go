package store

import (
	"bytes"
	"strings"
)

// Tx is one store transaction. Methods that write are only valid inside a
// write transaction: Store.Batch, through which all production writes go, or
// Store.Update. A function given to Batch may run more than once (when
// another call in its group fails, the group is rolled back and run again
// without it), so it must be pure apart from its writes through Tx: it may
// assign results to variables it captured, each run overwriting the last,
// but must not append to them, count, queue work or call anything outside
// the store. Act on the outcome after Batch returns.
type Tx struct {
	kv kvTx
}

func checkNames(parts ...string) error {
	for _, p := range parts {
		if strings.IndexByte(p, 0) >= 0 {
			return classed(ErrInvalid, "names must not contain NUL characters")
		}
	}
	return nil
}

// resourceKey is app \x00 env \x00 name: how buckets/ names a resource.
func resourceKey(k ResourceKey) []byte {
	return []byte(k.AppID + "\x00" + k.Env + "\x00" + k.Name)
}

// Resource returns the resource with key k, hidden ones included.
func (t *Tx) Resource(k ResourceKey) (Resource, error) {
	v := t.kv.Bucket(bucketByEnv).Get(resourceTreeKey(k))
	if v == nil {
		return Resource{}, resourceNotFound(k)
	}
	return decodeResource(v)
}

// VisibleResource is Resource for API reads: a resource whose failed or
// cancelled create is being undone is reported as not found.
func (t *Tx) VisibleResource(k ResourceKey) (Resource, error) {
	r, err := t.Resource(k)
	if err == nil && !r.Visible() {
		return Resource{}, resourceNotFound(k)
	}
	return r, err
}

func resourceNotFound(k ResourceKey) error {
	return &NotFoundError{Kind: KindResource, AppID: k.AppID, Env: k.Env, Name: k.Name}
}

// BucketOwner returns the key of the resource that uses bucket, if any:
// the resource that created it, or else the first that imported it.
func (t *Tx) BucketOwner(bucket string) (ResourceKey, bool) {
	users := t.BucketUsers(bucket)
	if len(users) == 0 {
		return ResourceKey{}, false
	}
	return users[0], true
}

// BucketUsers returns the keys of every resource that uses bucket: the
// one that created it, or each that imported it. Authorizing an import
// asks, so a key cannot take over a bucket another environment uses.
func (t *Tx) BucketUsers(bucket string) []ResourceKey {
	var users []ResourceKey
	add := func(v []byte) {
		if parts := strings.SplitN(string(v), "\x00", 3); len(parts) == 3 {
			users = append(users, ResourceKey{AppID: parts[0], Env: parts[1], Name: parts[2]})
		}
	}
	idx := t.kv.Bucket(bucketBuckets)
	if v := idx.Get([]byte(bucket)); v != nil {
		add(v)
	}
	c := idx.Within([]byte(bucket + "\x00"))
	for k, v := c.First(); k != nil; k, v = c.Next() {
		add(v)
	}
	return users
}

// bucketIndexKey is r's key in buckets/: the bucket's name for a bucket
// the resource created (one resource per such bucket), the name and the
// resource's key for an import, since one bucket may be imported into
// several environments (CloneBackend does).
func bucketIndexKey(r Resource) []byte {
	if r.Imported {
		return append([]byte(r.Bucket+"\x00"), resourceKey(r.ResourceKey)...)
	}
	return []byte(r.Bucket)
}

// CreateResource stores a new resource and claims its bucket, recording its
// environment if it is not yet. It fails with a *ResourceExistsError when
// the resource exists and with a *BucketTakenError when another resource
// uses the bucket, unless both import it.
func (t *Tx) CreateResource(r Resource) error {
	if err := checkNames(r.AppID, r.Env, r.Name); err != nil {
		return err
	}
	if t.kv.Bucket(bucketByEnv).Get(resourceTreeKey(r.ResourceKey)) != nil {
		return &ResourceExistsError{Resource: r.ResourceKey}
	}
	if owner, ok := t.BucketOwner(r.Bucket); ok {
		if o, err := t.Resource(owner); err != nil || !o.Imported || !r.Imported {
			return &BucketTakenError{Bucket: r.Bucket, Owner: owner}
		}
	}
	if err := t.kv.Bucket(bucketBuckets).Put(bucketIndexKey(r), resourceKey(r.ResourceKey)); err != nil {
		return err
	}
	if _, err := t.EnsureEnvironment(r.AppID, r.Env, r.CreateTime); err != nil {
		return err
	}
	return t.putResource(r)
}

// PutResource overwrites an existing resource. Its bucket cannot change.
func (t *Tx) PutResource(r Resource) error {
	old, err := t.Resource(r.ResourceKey)
	if err != nil {
		return err
	}
	if old.Bucket != r.Bucket || old.Imported != r.Imported {
		return classed(ErrInvalid, "the bucket of a storage resource cannot change")
	}
	return t.putResource(r)
}

func (t *Tx) putResource(r Resource) error {
	v, err := encodeResource(r)
	if err != nil {
		return err
	}
	return t.kv.Bucket(bucketByEnv).Put(resourceTreeKey(r.ResourceKey), v)
}

// DeleteResource removes a resource and releases its bucket.
func (t *Tx) DeleteResource(k ResourceKey) error {
	r, err := t.Resource(k)
	if err != nil {
		return err
	}
	if err := t.kv.Bucket(bucketBuckets).Delete(bucketIndexKey(r)); err != nil {
		return err
	}
	return t.kv.Bucket(bucketByEnv).Delete(resourceTreeKey(k))
}

// Resources lists the resources of an app (env == "") or of one environment,
// hidden ones included, in key order.
func (t *Tx) Resources(appID, env string) ([]Resource, error) {
	var out []Resource
	by := t.kv.Bucket(bucketByEnv)
	if env != "" {
		c := by.Within(treeKey(appID, env, tagResource))
		for k, v := c.First(); k != nil; k, v = c.Next() {
			r, err := decodeResource(v)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	// Every environment's resources, one Seek past the record and jobs
	// of each.
	c := by.Within(appPrefix(appID))
	for k, v := c.First(); k != nil; {
		prefix, tag, _, ok := splitTreeKey(k)
		if !ok {
			return nil, malformedTreeKey(k)
		}
		if tag != tagResource {
			k, v = toTag(c, prefix, tag, tagResource)
			continue
		}
		r, err := decodeResource(v)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		k, v = c.Next()
	}
	return out, nil
}

// CheckScope returns a NotFoundError naming the app or the environment when
// it is neither recorded (apps/, an environment's record) nor known through
// a job recorded in it: apps and environments also exist through the work
// done in them, so their jobs stay readable after they are removed.
func (t *Tx) CheckScope(appID, env string) error {
	// Any key under the prefix will do: a record, a job index entry, or a
	// resource, which is never without its environment's record.
	has := func(prefix []byte) bool {
		k, _ := t.kv.Bucket(bucketByEnv).Within(prefix).First()
		return k != nil
	}
	if !has(appPrefix(appID)) && t.kv.Bucket(bucketApps).Get([]byte(appID)) == nil {
		return &NotFoundError{Kind: KindApp, AppID: appID}
	}
	if env == "" {
		return nil
	}
	if !has(envPrefix(appID, env)) {
		return &NotFoundError{Kind: KindEnv, AppID: appID, Env: env}
	}
	return nil
}

// Job returns the job with id.
func (t *Tx) Job(id string) (Job, error) {
	v := t.kv.Bucket(bucketJobs).Get([]byte(id))
	if v == nil {
		return Job{}, &NotFoundError{Kind: KindJob, Name: id}
	}
	return decodeJob(v)
}

// JobIn returns job id if it belongs to the app and environment; a job of
// another environment is reported as not found rather than leaked. A job
// of the whole app (RemoveAllBackends, whose environment is empty) is
// found under any environment name of its app, since the API reaches
// jobs only through one.
func (t *Tx) JobIn(appID, env, id string) (Job, error) {
	j, err := t.Job(id)
	if err == nil && (j.AppID != appID || (j.Env != env && j.Env != "")) {
		return Job{}, &NotFoundError{Kind: KindJob, AppID: appID, Env: env, Name: id}
	}
	return j, err
}

// InsertJob stores a new job, its newest-first index entry and, when it is
// RUNNING, its pending entry.
func (t *Tx) InsertJob(j Job) error {
	if err := checkNames(j.AppID, j.Env, j.Resource); err != nil {
		return err
	}
	jobs := t.kv.Bucket(bucketJobs)
	if jobs.Get([]byte(j.ID)) != nil {
		return classed(ErrAlreadyExists, "job %q already exists", j.ID)
	}
	// Job ids are time-ordered, so new jobs land at the right edge of these
	// trees: pages split full rather than half full, and a commit writes
	// about half the pages. Not so in by-env/: a job's index entry goes
	// before its environment's older ones, wherever the environment is.
	jobs.FillAtEnd()
	t.kv.Bucket(bucketPending).FillAtEnd()
	byEnv := t.kv.Bucket(bucketByEnv)
	for {
		seq, err := jobs.NextSequence()
		if err != nil {
			return err
		}
		// On etcd two replicas may take one number (NextSequence): the
		// index key read absent here makes the later commit of the two
		// fail and run again.
		if j.seq = seq; byEnv.Get(jobIndexKey(j)) == nil {
			break
		}
	}
	if err := byEnv.Put(jobIndexKey(j), []byte(j.ID)); err != nil {
		return err
	}
	return t.writeJob(j)
}

// PutJob overwrites an existing job and keeps the pending index in step.
func (t *Tx) PutJob(j Job) error {
	old, err := t.Job(j.ID)
	if err != nil {
		return err
	}
	j.seq = old.seq
	return t.writeJob(j)
}

func (t *Tx) writeJob(j Job) error {
	v, err := encodeJob(j)
	if err != nil {
		return err
	}
	if err := t.kv.Bucket(bucketJobs).Put([]byte(j.ID), v); err != nil {
		return err
	}
	if j.Pending() {
		return t.kv.Bucket(bucketPending).Put([]byte(j.ID), nil)
	}
	return t.kv.Bucket(bucketPending).Delete([]byte(j.ID))
}

// PendingJobs returns the ids of the jobs a worker still owes work, read from
// the pending index only, so it costs the same however many jobs finished.
func (t *Tx) PendingJobs() []string {
	var ids []string
	_ = t.kv.Bucket(bucketPending).ForEach(func(k, _ []byte) error {
		ids = append(ids, string(k))
		return nil
	})
	return ids
}

// RunningJobs counts the RUNNING jobs, read through the pending index, and
// returns the one created first (a zero Job when none runs). A cancelled job
// still undoing its change is pending but CANCELLED to clients: it is not
// counted.
func (t *Tx) RunningJobs() (n int, oldest Job, err error) {
	for _, id := range t.PendingJobs() {
		j, err := t.Job(id)
		if err != nil {
			return 0, Job{}, err
		}
		if j.Status != StatusRunning {
			continue
		}
		n++
		if oldest.ID == "" || j.CreateTime.Before(oldest.CreateTime) {
			oldest = j
		}
	}
	return n, oldest, nil
}

// MaxJobsScanned is the most jobs one call of Jobs examines. Every job an
// environment keeps (a month of them by default) is in its index, and a
// filter no job matches would otherwise read them all on each call.
const MaxJobsScanned = 1000

// Jobs pages through the jobs of one environment, newest first (env "":
// the app's jobs of the whole app). after is the cursor returned by the
// previous page (nil for the first page); match, when non-nil, filters. It
// returns up to limit jobs and the cursor of the next page, nil when this
// is the last one. A page examines at most MaxJobsScanned jobs: past that it
// ends early, with fewer jobs (none, even) and a cursor, so a filter that
// matches little costs a call no more than a page, however many jobs the
// environment keeps.
func (t *Tx) Jobs(appID, env string, after []byte, limit int, match func(Job) bool) ([]Job, []byte, error) {
	prefix := jobPrefix(appID, env)
	if old := prefix[:len(prefix)-1]; len(after) == len(old)+8 && bytes.HasPrefix(after, old) {
		// A cursor handed out before migration 8: the index key of
		// jobs-by-env/, app \x00 env \x00 ^seq, names the same place.
		after = append(bytes.Clone(prefix), after[len(old):]...)
	}
	if after != nil && !bytes.HasPrefix(after, prefix) {
		return nil, nil, classed(ErrInvalid, "the pagination token does not belong to this environment")
	}
	c := t.kv.Bucket(bucketByEnv).Within(prefix)
	var k, v []byte
	if after == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(after)
		if bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	var out []Job
	var last Job
	jobs := t.kv.Bucket(bucketJobs)
	for scanned := 0; k != nil; k, v = c.Next() {
		if scanned == MaxJobsScanned {
			return out, jobIndexKey(last), nil
		}
		scanned++
		j, err := decodeIndexed(jobs, v)
		if err != nil {
			return nil, nil, err
		}
		last = j
		if match != nil && !match(j) {
			continue
		}
		if len(out) == limit {
			// Cursor is the last key returned, so the next page starts after it.
			return out, jobIndexKey(out[len(out)-1]), nil
		}
		out = append(out, j)
	}
	return out, nil, nil
}
