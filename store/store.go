package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/amplifybackendd/amplifybackendd/metrics"
)

var (
	bucketMeta       = []byte("meta")
	bucketBuckets    = []byte("buckets")
	bucketJobs       = []byte("jobs")
	bucketPending    = []byte("pending")
	bucketEnvRoles   = []byte("env-roles")
	bucketRoleOwners = []byte("role-owners")
	bucketLegacyEnvs = []byte("legacy-envs")
	bucketApps       = []byte("apps")

	bucketManagedMarks = []byte("managed-marks")
	bucketByEnv        = []byte("by-env")

	// The trees of schema 7 and before that migration 8 moved into
	// by-env/: only the migrations before it read and write them.
	bucketResources = []byte("resources")
	bucketJobsByEnv = []byte("jobs-by-env")
	bucketEnvs      = []byte("envs")

	bucketChallenges          = []byte("challenges")
	bucketSessions            = []byte("sign-in-sessions")
	bucketSessionsByChallenge = []byte("sessions-by-challenge")

	keySchema = []byte("schema")
	// keyMigrating is in meta/ on etcd while a migration committed in
	// parts is unfinished (commitInParts).
	keyMigrating = []byte("migrating")
	keyTokenKey  = []byte("token-key")
	keyStoreID   = []byte("store-id")
)

// Store is the bbolt-backed record of resources and jobs. It is safe for
// concurrent use; bbolt serialises writers.
type Store struct {
	// kv holds the records; db is the same file, for what only a bbolt
	// file has (its pages, transaction id, copy, size), and nil on etcd.
	kv       kvDB
	db       *bolt.DB
	path     string
	log      *slog.Logger
	metrics  *metrics.Metrics
	tokenKey []byte

	commits   chan *commit  // Batch calls for the committer
	stop      chan struct{} // closed by Close
	committed chan struct{} // closed when the committer has returned
	recorded  chan struct{} // closed when keepIdentity has returned
	closeOnce sync.Once
	closeErr  error

	// id is the identity record as last written; keepIdentity, then
	// Close, own it.
	id identity

	// generation counts committed write transactions, and on etcd the
	// revisions other replicas committed; see Generation.
	generation atomic.Uint64
	// unfollowed is set while a store on etcd cannot tell whether other
	// replicas wrote (follow.go); followed is closed when follow has
	// returned, nil on bbolt.
	unfollowed atomic.Bool
	followed   chan struct{}

	// leases keeps the lease and makes the claims of a shared store (nil
	// on bbolt); boltLease is the one term of a bbolt store's claims, and
	// envs its environments' locks (claims.go).
	leases    *etcdLeases
	boltLease *Lease
	envs      localEnvs

	// opened is the store file as opened (nil on etcd): writes go on only
	// while its path still names it (fileInPlace). gone is set once it
	// did not, so that is logged once.
	opened fs.FileInfo
	gone   atomic.Bool

	// checked is closed when the full check CheckBackground runs behind
	// the opening has ended, and from the start in every other mode;
	// checkErr, set before it closes, is the damage that check found.
	checked  chan struct{}
	checkErr error
}

// commit is one Batch call waiting for the committer; claim, when set,
// fences it (BatchFenced).
type commit struct {
	fn    func(*Tx) error
	claim *Claim
	done  chan error
}

// maxBatch bounds the calls one group commit takes, so one transaction's
// dirty pages stay a modest write.
const maxBatch = 1024

// maxLinger bounds how long a commit waits for the company it expects.
const maxLinger = time.Millisecond

// etcdCommitters is how many group commits a store on etcd has in
// flight at once.
const etcdCommitters = 4

// Options tune OpenWith. The zero value is what a server runs with.
type Options struct {
	// Check is how much of the file is read before the store serves
	// (default CheckAuto).
	Check CheckMode
	// AcceptLoss is the operator's explicit "go on" after a refusal: the
	// identity record's claims are waived and a readable file is adopted
	// as it is; a damaged file is renamed aside (path + ".damaged-" + a
	// time) and a new, empty store takes its place.
	AcceptLoss bool
	// Logger receives what an operator must see: damage met at run time,
	// a damaged meta page bbolt skipped, a file set aside (default
	// slog.Default()).
	Logger *slog.Logger
	// Metrics, when set, times each group commit, counts the calls it
	// grouped, and counts the commits that failed to write.
	Metrics *metrics.Metrics
}

// Open is OpenWith with the default options.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith opens (creating if needed) the store at path and brings its
// schema up to date. Writes are fsynced before a transaction returns: the
// store never runs with NoSync, because an answered API call must survive
// kill -9.
//
// It refuses, with ErrDataLost, a file that holds less than the identity
// record beside it says the store held (emptied, deleted, cut short, an
// older copy, another store), and, with ErrDamaged, a file bbolt would
// crash on or that fails the check o.Check asks for. A missing file with
// no record is a new store.
func OpenWith(path string, o Options) (*Store, error) {
	if o.Check == "" {
		o.Check = CheckAuto
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s, err := open(path, o)
	if err != nil && o.AcceptLoss && errors.Is(err, ErrDamaged) {
		aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		o.Logger.Warn("the damaged store file is set aside and a new, empty store starts in its place, as asked",
			"path", path, "damaged", aside, "error", err)
		s, err = open(path, o)
	}
	return s, err
}

func open(path string, o Options) (*Store, error) {
	rec, err := readIdentity(path)
	if err != nil && !o.AcceptLoss {
		return nil, err
	}
	if o.AcceptLoss {
		rec = nil
	}
	var size int64
	switch info, err := os.Stat(path); {
	case err == nil:
		size = info.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open store: %w", err)
	case rec != nil:
		return nil, fmt.Errorf("%w: %s is missing, but %s", ErrDataLost, path, rec.held(path))
	}
	if size == 0 && rec != nil {
		return nil, fmt.Errorf("%w: %s is empty, but %s", ErrDataLost, path, rec.held(path))
	}
	if size > 0 {
		m, otherBad, err := preflight(path, size)
		if err != nil {
			return nil, err
		}
		if otherBad {
			o.Logger.Warn("a meta page of the store is damaged; starting from the other one", "path", path, "damaged_page", 1-m.page, "txid", m.txid)
		}
	}
	check := o.Check.forSize(size)
	if check == CheckBackground && o.AcceptLoss {
		// The go-ahead must know now whether the file is damaged, to set
		// it aside before a new store takes its place.
		check = CheckFull
	}

	var db *bolt.DB
	err = guarded(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// bolt.Open only sets the mode on creation; a pre-existing file that is
	// readable by others is tightened because it holds the token MAC key.
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("restrict store %s: %w", path, err)
	}
	// Backups are staged beside the store by the process holding the
	// file's lock, which is now this one: any staged copy there is one a
	// killed or stopped server left, as large as the store.
	if err := removeLeftovers(path, backupStaging); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := newStore(kvDB{bolt: db}, path, o)
	s.db = db
	if s.opened, err = os.Stat(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := guarded(path, func() (err error) { check, err = s.prepare(rec, check); return err }); err != nil {
		db.Close()
		return nil, err
	}
	if check == CheckBackground {
		s.checked = make(chan struct{})
		go s.checkBehind()
	}
	go s.committer()
	go s.keepIdentity()
	return s, nil
}

// checkBehind runs the full check CheckBackground defers, while the store
// serves. Writes wait for it (awaitCheck); a stop cuts it short between
// its parts and between jobs, so Close waits for bbolt's own check at most.
func (s *Store) checkBehind() {
	defer close(s.checked)
	beforeCheckBehind()
	start := time.Now()
	err := guarded(s.path, func() error {
		return s.kv.View(func(tx kvTx) error {
			if tx.bolt != nil { // etcd checks its own pages
				if err := checkPages(s.path, tx.bolt); err != nil {
					return err
				}
				select {
				case <-s.stop:
					return ErrClosed
				default:
				}
			}
			if _, err := countRecords(s.path, tx, s.stop); err != nil {
				return err
			}
			if tx.bolt != nil {
				releaseMapped(tx.bolt)
			}
			return nil
		})
	})
	if errors.Is(err, ErrClosed) {
		return
	}
	if s.checkErr = s.noteDamage(err); err != nil {
		return
	}
	s.log.Info("the store's full check passed", "path", s.path, "took", time.Since(start).Round(time.Millisecond))
}

// beforeCheckBehind runs as the background check starts; tests hold the
// check there to see what waits for it.
var beforeCheckBehind = func() {}

// awaitCheck holds a write until the store's full check has passed, and
// fails it with the damage the check found.
func (s *Store) awaitCheck(ctx context.Context) error {
	select {
	case <-s.checked:
		return s.checkErr
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return ErrClosed
	}
}

// Checked is closed once the store's full check has ended (at once unless
// it runs in the background, CheckBackground): until then writes wait.
func (s *Store) Checked() <-chan struct{} { return s.checked }

// newStore returns a store over kv, its committer not yet started.
func newStore(kv kvDB, path string, o Options) *Store {
	checked := make(chan struct{})
	close(checked)
	return &Store{kv: kv, path: path, log: o.Logger, metrics: o.Metrics, commits: make(chan *commit), stop: make(chan struct{}),
		committed: make(chan struct{}), recorded: make(chan struct{}), boltLease: &Lease{done: make(chan struct{})}, checked: checked}
}

// prepare checks the opened file against its record and as deeply as
// check says, migrates it, and writes the record anew. Nothing is written
// to a file it refuses: a file at the current schema is checked as found,
// an older one is migrated first (its records are checked in their new
// form). A file to migrate is checked fully first even when the check was
// to run in the background: the migration writes. It returns the check
// that is left to run in the background, if any.
func (s *Store) prepare(rec *identity, check CheckMode) (CheckMode, error) {
	var fileID string
	var txid, schema uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		txid = uint64(tx.ID())
		if kv := (kvTx{bolt: tx}); kv.HasBucket(bucketMeta) {
			meta := kv.Bucket(bucketMeta)
			fileID = storeIDIn(meta.Get(keyStoreID))
			if v := meta.Get(keySchema); len(v) == 8 {
				schema = binary.BigEndian.Uint64(v)
			}
		}
		if check == CheckBackground && schema != SchemaVersion {
			check = CheckFull
		}
		if check == CheckFull {
			return checkPages(s.path, tx)
		}
		return nil
	})
	if err != nil {
		return check, err
	}
	info, err := os.Stat(s.path)
	if err != nil {
		return check, err
	}
	if rec != nil {
		if err := compareIdentity(s.path, rec, fileID, txid, info.Size()); err != nil {
			return check, err
		}
	}
	if schema != SchemaVersion {
		if err := s.kv.Update(migrate); err != nil {
			return check, fmt.Errorf("migrate store %s: %w", s.path, err)
		}
	}
	if err := s.load(check); err != nil {
		return check, err
	}
	s.id.Created = time.Now().UTC()
	if rec != nil && rec.StoreID == s.id.StoreID {
		s.id.Created = rec.Created
	}
	return check, s.recordIdentity()
}

// load checks the records, of a store at the current schema, as check
// says, and reads the keys the store serves with.
func (s *Store) load(check CheckMode) error {
	return s.kv.View(func(tx kvTx) error {
		if check == CheckFull {
			if err := checkRecords(s.path, tx); err != nil {
				return err
			}
			if tx.bolt != nil {
				releaseMapped(tx.bolt)
			}
		}
		meta := tx.Bucket(bucketMeta)
		key, err := unseal(meta.Get(keyTokenKey))
		if err != nil {
			return fmt.Errorf("%s: token key: %w", s.path, err)
		}
		s.tokenKey = append([]byte(nil), key...)
		id, err := unseal(meta.Get(keyStoreID))
		if err != nil {
			return fmt.Errorf("%s: store id: %w", s.path, err)
		}
		s.id.StoreID = hexID(id)
		return nil
	})
}

// recordIdentity writes the identity record with the store's current
// transaction id and size.
func (s *Store) recordIdentity() error {
	var txid uint64
	if err := s.view(func(tx *bolt.Tx) error { txid = uint64(tx.ID()); return nil }); err != nil {
		return err
	}
	// Stat after the transaction: the file had at least this size then.
	info, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	s.id.TxID, s.id.Size, s.id.Updated = txid, info.Size(), time.Now().UTC()
	if err := writeIdentity(s.path, s.id); err != nil {
		return fmt.Errorf("record the store's identity: %w", err)
	}
	return nil
}

// keepIdentity refreshes the identity record while writes commit, off
// their path.
func (s *Store) keepIdentity() {
	defer close(s.recorded)
	tick := time.NewTicker(identityEvery)
	defer tick.Stop()
	last := s.generation.Load()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		if g := s.generation.Load(); g != last {
			last = g
			if err := s.recordIdentity(); err != nil {
				s.log.Warn("store identity record not refreshed", "path", s.path, "error", err)
			}
		}
	}
}

// ErrClosed is returned by a Batch after Close.
var ErrClosed = errors.New("store: closed")

// Close stops the committer, after the group commit in progress, records
// the store's identity as it is left, and releases the database file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.committed
		<-s.recorded
		if s.followed != nil {
			<-s.followed
		}
		if s.kv.etcd != nil {
			s.leases.close() // revokes the lease: other replicas take the claims at once
			s.closeErr = s.kv.etcd.client.Close()
			return
		}
		s.closeErr = errors.Join(s.recordIdentity(), s.db.Close())
	})
	return s.closeErr
}

// Path is the store file's path, or etcd: and the prefix of a store in etcd.
func (s *Store) Path() string { return s.path }

// TokenKey is a per-store random key for MACs over pagination tokens, so a
// token survives restarts but cannot be forged or altered by a client.
func (s *Store) TokenKey() []byte { return s.tokenKey }

// Generation changes after every write transaction, before the writer is
// answered. It lets a reader keep what it derived from the store: an
// answer derived in a View begun after reading generation g reflects every
// write answered before g was read, so it stays current while Generation
// still returns g. On etcd it also changes when another replica's write
// reaches this one through the watch of the store's prefix (follow.go),
// and on every call while that watch is not known to deliver.
func (s *Store) Generation() uint64 {
	if s.unfollowed.Load() {
		return s.generation.Add(1)
	}
	return s.generation.Load()
}

// Update runs fn in one read-write transaction of its own; everything fn
// writes commits together or not at all. Never call S3 or IAM inside fn:
// bbolt has one writer at a time. Production code writes through Batch
// instead; Update is for tests and tools that prepare a store, where a
// transaction that waits for no one and runs fn exactly once is simpler.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err // nothing began: no generation to count
	}
	if err := s.awaitCheck(ctx); err != nil {
		return err
	}
	if err := s.fileInPlace(); err != nil {
		return err
	}
	err := s.guard(ctx, func() error { return s.kv.Update(func(kv kvTx) error { return fn(&Tx{kv: kv}) }) })
	// Counted whatever the outcome: a failed commit costs readers a miss,
	// never a stale answer.
	s.generation.Add(1)
	return err
}

// Batch is Update for the many small, concurrent writes of accepting calls
// and settling jobs: one committer runs every Batch call waiting when it
// starts a transaction in that transaction, with one fsync for all (group
// commit), and answers each once its write is durable. A lone call commits
// at once (for a while after heavy load, after waiting up to maxLinger for
// company), and under load each commit takes all that queued during the
// one before, so batches grow with the load.
// (bbolt's own Batch collects for a fixed delay and then queues its
// batches behind the single writer, each paying an fsync for a few calls.)
//
// fn may run more than once: when one call fails, the transaction is
// rolled back, that call gets its error, and the rest run again. So fn
// must be pure apart from its writes through Tx (see Tx).
func (s *Store) Batch(ctx context.Context, fn func(*Tx) error) error {
	return s.batch(ctx, nil, fn)
}

// batch is Batch, fenced on claim when it is set.
func (s *Store) batch(ctx context.Context, claim *Claim, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.awaitCheck(ctx); err != nil {
		return err
	}
	c := &commit{fn: fn, claim: claim, done: make(chan error, 1)}
	select {
	case s.commits <- c:
	case <-s.stop:
		return ErrClosed
	}
	// Once taken, a call is committed or failed whatever the caller's
	// context does meanwhile: the answer must say which.
	return <-c.done
}

func (s *Store) committer() {
	defer close(s.committed)
	// On etcd several group commits are in flight at once: each is a
	// round trip to the cluster's leader and its quorum's fsyncs, which
	// one after another would bound a replica's writes by that latency,
	// while the cluster serves many at once. Commits of different keys do
	// not conflict (etcdTx.compares), and those that read what another
	// wrote run again after it. bbolt has one writer.
	slots := make(chan struct{}, 1)
	if s.kv.etcd != nil {
		slots = make(chan struct{}, etcdCommitters)
	}
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	// Timers of Go 1.23 and later drop a stale tick on Stop and Reset, so
	// this one needs no draining.
	linger := time.NewTimer(maxLinger)
	linger.Stop()
	// peak is the most calls a recent commit took, decaying so a load that
	// went away stops being waited for.
	peak := 0.0
	for {
		var batch []*commit
		select {
		case c := <-s.commits:
			batch = append(batch, c)
		case <-s.stop:
			return
		}
		// The calls that come while every slot is busy join this batch.
		slots <- struct{}{}
	gather:
		for len(batch) < maxBatch {
			select {
			case c := <-s.commits:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		// Fewer calls than last time: most of the others are on their way,
		// the answers to the last commit coming back as new calls. A short
		// wait for them spares a commit (two fsyncs) that would hold
		// everyone after it.
		want := int(peak)
		if len(batch) < want {
			linger.Reset(maxLinger)
		wait:
			for len(batch) < want && len(batch) < maxBatch {
				select {
				case c := <-s.commits:
					batch = append(batch, c)
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		peak = max(float64(len(batch)), peak*0.98)
		run := func() {
			defer func() { <-slots }()
			start, n := time.Now(), len(batch)
			s.commitBatch(batch)
			s.metrics.Commit(n, time.Since(start))
		}
		if cap(slots) == 1 {
			run()
		} else {
			inFlight.Go(run)
		}
	}
}

// commitBatch runs batch in one transaction. A call that fails is answered
// with its error, and the others run again without it: its error was
// reached with the calls before it applied, which is the order they commit
// in.
func (s *Store) commitBatch(batch []*commit) {
	// Checked once per group commit: a stat beside its fsyncs. A file
	// removed between this and the commit loses that one commit's calls,
	// as a kill at that moment would.
	if err := s.fileInPlace(); err != nil {
		s.metrics.CommitFailed()
		for _, c := range batch {
			c.done <- err
		}
		return
	}
	for len(batch) > 0 {
		failed, taken := -1, len(batch)
		var failure error
		// Guarded: damage met while bbolt commits fails this batch's
		// callers, not the committer and with it the process.
		err := s.noteDamage(guarded(s.path, func() error {
			return s.kv.Update(func(kv kvTx) error {
				tx := &Tx{kv: kv}
				// The engine may run this again (etcd: on a newer copy of
				// the store), so each run starts over.
				taken, failed, failure = len(batch), -1, nil
				if err := s.layoutCurrent(kv); err != nil {
					return err
				}
				for i, c := range batch {
					mark := kv.mark()
					if c.claim != nil {
						kv.fence(c.claim.key, c.claim.rev)
					}
					if err := runSafely(c.fn, tx); err != nil {
						failed, failure = i, err
						return err
					}
					if kv.full() {
						// The engine's transaction holds no more (etcd's
						// limits): the calls so far commit now, the rest
						// in the next one. Past the limit with this call,
						// it waits for the next, unless it is alone.
						if i > 0 {
							kv.undo(mark)
						} else {
							i++
						}
						taken = i
						return nil
					}
				}
				return nil
			})
		}))
		if errors.Is(err, errTxnTooLarge) && taken > 1 {
			// The server's limits are below what the engine assumed: each
			// half commits on its own, a call's writes never split.
			half := taken / 2
			s.commitBatch(batch[:half])
			s.commitBatch(batch[half:taken])
			batch = batch[taken:]
			continue
		}
		var fenced *fencedError
		if errors.As(err, &fenced) {
			// Only the calls fenced on a lost claim fail; the others run
			// again without them.
			kept := batch[:0]
			for _, c := range batch {
				if c.claim != nil && slices.Contains(fenced.keys, c.claim.key) {
					c.done <- fmt.Errorf("job %s: %w", c.claim.job, ErrFenced)
				} else {
					kept = append(kept, c)
				}
			}
			batch = kept
			continue
		}
		if failed < 0 {
			if err != nil {
				// The engine could not write (disk full, I/O error,
				// damage, etcd): counted, since its clients see only 500s.
				s.metrics.CommitFailed()
			}
			s.generation.Add(1)
			for _, c := range batch[:taken] {
				c.done <- err
			}
			batch = batch[taken:]
			continue
		}
		if err != nil && !errors.Is(err, failure) {
			// The engine failed under the call: etcd did not answer one of
			// its reads, which then read as absent, so the call's own
			// error (a record "not found") rests on nothing.
			failure = err
			s.metrics.CommitFailed()
		}
		batch[failed].done <- failure
		batch = append(batch[:failed], batch[failed+1:]...)
	}
}

// runSafely turns a panic in fn into an error for its caller alone, so a
// bug in one call cannot take the committer, and every other caller, down.
func runSafely(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("store: panic in a batched write: %v", v)
		}
	}()
	return fn(tx)
}

// View runs fn in one read-only transaction. Damage fn meets in the file
// (a page bbolt panics on, a fault through a damaged page reference, a
// record whose checksum fails) is an ErrDamaged error, logged loudly.
func (s *Store) View(ctx context.Context, fn func(*Tx) error) error {
	return s.guard(ctx, func() error {
		return s.kv.View(func(kv kvTx) error {
			if err := s.layoutCurrent(kv); err != nil {
				return err
			}
			return fn(&Tx{kv: kv})
		})
	})
}

// layoutCurrent fails on etcd when the store is not at the schema this
// binary reads and writes: a newer release migrated it, or is migrating
// it, while this replica ran. Its reads are of the mirror, and in a commit
// they are compared like any other, so a migration's first part fails the
// commits of the replicas still running and they stop before a record
// moves. On bbolt the file's lock keeps any other process out.
func (s *Store) layoutCurrent(kv kvTx) error {
	if s.kv.etcd == nil {
		return nil
	}
	meta := kv.Bucket(bucketMeta)
	if meta.Get(keyMigrating) != nil {
		return fmt.Errorf("%w: %w: a newer release is migrating it; start replicas of that release", ErrUnavailable, ErrSchemaMoved)
	}
	if v := meta.Get(keySchema); len(v) != 8 || binary.BigEndian.Uint64(v) != SchemaVersion {
		have := uint64(0)
		if len(v) == 8 {
			have = binary.BigEndian.Uint64(v)
		}
		return fmt.Errorf("%w: %w: it is at schema %d and this release reads and writes schema %d; start replicas of the newer release", ErrUnavailable, ErrSchemaMoved, have, SchemaVersion)
	}
	return nil
}

// guard runs fn unless ctx is done, with damage fn meets in the file
// turned into an ErrDamaged error and logged.
func (s *Store) guard(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.noteDamage(guarded(s.path, fn))
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	return guarded(s.path, func() error { return s.db.View(fn) })
}

// fileInPlace fails, with ErrDataLost, once the store's path no longer
// names the file the store has open: deleted, moved or replaced under the
// running server. bbolt goes on writing into the file it has open, so
// every write answered from then on would be gone when the process ends
// (a deleted file), or never read by the next start (a moved or replaced
// one). Writes are refused instead and /readyz says so (Ping); reads and
// backups still come from the open file, so a backup taken now holds
// everything that was answered.
func (s *Store) fileInPlace() error {
	if s.opened == nil {
		return nil
	}
	at, err := os.Stat(s.path)
	if err == nil && os.SameFile(at, s.opened) {
		return nil
	}
	what := "is another file now"
	if errors.Is(err, fs.ErrNotExist) {
		what = "is gone"
	} else if err != nil {
		what = "cannot be looked at (" + err.Error() + ")"
	}
	err = fmt.Errorf("%w: %s, the store file this server opened, %s (deleted, moved or replaced while the server ran), so writes are refused: put the file back, or take a backup now (amplifybackendd backup reads the open file), stop the server and restore it",
		ErrDataLost, s.path, what)
	if !s.gone.Swap(true) {
		s.log.Error("STORE FILE GONE: writes are refused", "path", s.path, "error", err)
	}
	return err
}

// noteDamage logs err when it is damage: the operator must hear of it
// from the server, not only from the clients it fails.
func (s *Store) noteDamage(err error) error {
	if errors.Is(err, ErrDamaged) {
		s.log.Error("STORE DAMAGED: the store file cannot be read as it was written; stop the server and restore a backup",
			"path", s.path, "error", err)
	}
	return err
}

// migration is one ordered, idempotent-by-version schema step.
type migration struct {
	name string
	run  func(tx kvTx) error
}

// migrations run in order; the schema version is the number that ran. Append
// only: a released migration is never edited.
var migrations = []migration{
	{name: "initial buckets and token key", run: func(tx kvTx) error {
		for _, b := range [][]byte{bucketResources, bucketBuckets, bucketJobs, bucketJobsByEnv, bucketPending} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyTokenKey, key)
	}},
	{name: "binary records instead of JSON", run: func(tx kvTx) error {
		if err := recode(tx.Bucket(bucketResources), func(v []byte) ([]byte, error) {
			r, err := decodeResourceV1(v)
			if err != nil {
				return nil, err
			}
			return encodeResource(r)
		}); err != nil {
			return err
		}
		return recode(tx.Bucket(bucketJobs), func(v []byte) ([]byte, error) {
			j, err := decodeJobV1(v)
			if err != nil {
				return nil, err
			}
			return encodeJob(j)
		})
	}},
	{name: "checksums on every record and value, and a store id", run: func(tx kvTx) error {
		if err := recode(tx.Bucket(bucketResources), resealed(decodeResource, decodeResourceV2, encodeResource)); err != nil {
			return err
		}
		if err := recode(tx.Bucket(bucketJobs), resealed(decodeJob, decodeJobV2, encodeJob)); err != nil {
			return err
		}
		// Idempotent, like the recodes: a schema version flipped back to
		// 2 must not seal the key twice or give the store a new id.
		meta := tx.Bucket(bucketMeta)
		if key := meta.Get(keyTokenKey); len(key) == 32 {
			if err := meta.Put(keyTokenKey, seal(append([]byte(nil), key...))); err != nil {
				return err
			}
		}
		if meta.Get(keyStoreID) != nil {
			return nil
		}
		id := make([]byte, storeIDSize)
		if _, err := rand.Read(id); err != nil {
			return err
		}
		return meta.Put(keyStoreID, seal(id))
	}},
	{name: "record which IAM roles each environment uses", run: markLegacyEnvs},
	{name: "sign-in challenges and sessions", run: createSignInBuckets},
	{name: "record apps and environments", run: recordEnvironments},
	{name: "mark the managed policies environments may hold", run: markManagedPolicies},
	{name: "each environment's record, resources and job index in one tree", run: gatherByEnvironment},
}

// recode rewrites every value of b with fn.
func recode(b kvBucket, fn func([]byte) ([]byte, error)) error {
	type kv struct{ k, v []byte }
	var all []kv
	err := b.ForEach(func(k, v []byte) error {
		nv, err := fn(v)
		if err != nil {
			return fmt.Errorf("record %q: %w", k, err)
		}
		all = append(all, kv{append([]byte(nil), k...), nv})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range all {
		if err := b.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// resealed recodes a record of format 2 in the current, sealed format.
// Records already sealed stay as they are: migration 2 of this binary
// writes them.
func resealed[T any](decode, decodeV2 func([]byte) (T, error), encode func(T) ([]byte, error)) func([]byte) ([]byte, error) {
	return func(v []byte) ([]byte, error) {
		if _, err := decode(v); err == nil {
			return v, nil
		}
		r, err := decodeV2(v)
		if err != nil {
			return nil, err
		}
		return encode(r)
	}
}

// SchemaVersion is the version a store has after Open.
var SchemaVersion = uint64(len(migrations))

func migrate(tx kvTx) error {
	for {
		ran, err := migrateNext(tx)
		if err != nil || !ran {
			return err
		}
	}
}

// migrateNext runs the first migration the store lacks and records the
// version it reaches; it reports whether there was one to run.
func migrateNext(tx kvTx) (bool, error) {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return false, err
	}
	var have uint64
	if v := meta.Get(keySchema); v != nil {
		if len(v) != 8 {
			return false, errors.New("corrupt schema version")
		}
		have = binary.BigEndian.Uint64(v)
	}
	if have > uint64(len(migrations)) {
		// A newer release migrated it: a conflict, which the server
		// reports as it is rather than as an unreachable store.
		return false, classed(ErrConflict, "store schema version %d is newer than this binary understands (%d): a newer release migrated it; run that release", have, len(migrations))
	}
	if have == uint64(len(migrations)) {
		return false, nil
	}
	if err := migrations[have].run(tx); err != nil {
		return false, fmt.Errorf("migration %d (%s): %w", have+1, migrations[have].name, err)
	}
	return true, meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, have+1))
}
