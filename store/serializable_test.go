package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// The tests here hold the etcd engine's commits to serializability under
// contention: several stores (replicas) over one prefix run transactions
// whose invariants a lost update, a write skew, a phantom or a lost delete
// would break, through the group commit (Store.Batch) and through
// transactions of their own (the engine's Update) at once. Randomness
// decides only the schedule (which operation, on which keys, by whom); what
// is asserted holds for every serial order of the transactions. Each test
// logs its seed.

// etcdReplicas opens n stores over one new prefix of the shared etcd.
func etcdReplicas(t *testing.T, n int) []*Store {
	t.Helper()
	endpoints, prefix := sharedEtcd(t), newEtcdPrefix()
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openEtcd(t, endpoints, prefix)
	}
	return stores
}

// scheduleSeed returns the seed of a test's schedule, logged so a failing
// schedule can be told apart from the next.
func scheduleSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	t.Logf("schedule seed %d", seed)
	return seed
}

// contend runs op ops times in each of workers goroutines on every store
// at once, and returns when all have returned. Each goroutine draws from
// its own source of the seed; id names the operation uniquely.
func contend(stores []*Store, seed uint64, workers, ops int, op func(s *Store, r *rand.Rand, id string)) {
	var wg sync.WaitGroup
	for si, s := range stores {
		for w := range workers {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, uint64(si*workers+w)))
				for n := range ops {
					op(s, r, fmt.Sprintf("%d-%d-%d", si, w, n))
				}
			})
		}
	}
	wg.Wait()
}

// runOn runs fn on s, through the group commit when batched (with the
// calls of the store's other goroutines) or in a transaction of its own.
func runOn(s *Store, batched bool, fn func(kvTx) error) error {
	if batched {
		return s.Batch(context.Background(), func(tx *Tx) error { return fn(tx.kv) })
	}
	return s.kv.Update(fn)
}

// A contended transaction gave up having written nothing: the schedule
// just has one operation fewer.
func contended(err error) bool { return errors.Is(err, errContended) }

// int64At reads the 8-byte number v (0 for a short or missing value).
func int64At(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func int64Bytes(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// Bank: accounts acct/NN in bucket bank, opened with bankOpening each;
// accounts new/... opened empty, at least one (new/0, from the start) and
// at most bankNewMax of them; audits in bucket audit, each the total and
// the number of new/ accounts one walk of bank saw.
var (
	bankBucket  = []byte("bank")
	auditBucket = []byte("audit")
)

const (
	bankAccounts = 12
	bankOpening  = 100
	bankNewMax   = 3
	bankTotal    = bankAccounts * bankOpening
)

// bankOp is one operation of the bank, its parameters drawn before it runs
// (a Batch call may run more than once, and must do the same each time).
type bankOp struct {
	kind     string // transfer, audit, close, open, retire
	from, to string // transfer's accounts; close's is from
	nth      int    // which new/ account retire closes
	all      bool   // transfer moves from's whole balance
	amount   int64
	within   bool   // audit walks acct/ and new/ each with Within
	id       string // audit's or new account's unique name
	batched  bool
}

func acct(i int) string { return fmt.Sprintf("acct/%02d", i) }

func drawBankOp(r *rand.Rand, id string) bankOp {
	op := bankOp{id: id, batched: r.IntN(3) > 0}
	switch n := r.IntN(20); {
	case n < 8:
		op.kind = "transfer"
		a := r.Perm(bankAccounts)
		op.from, op.to = acct(a[0]), acct(a[1])
		op.all, op.amount = r.IntN(3) == 0, int64(r.IntN(bankOpening))
	case n < 11:
		op.kind, op.within = "audit", r.IntN(2) == 0
	case n < 13:
		op.kind, op.from = "close", acct(r.IntN(bankAccounts))
	case n < 16:
		op.kind = "open"
	default:
		op.kind, op.nth = "retire", r.IntN(bankNewMax)
	}
	return op
}

// run applies the operation in tx. What it read decides what it writes;
// a transaction that committed on a stale read breaks an invariant.
func (op bankOp) run(tx kvTx) error {
	bank, err := tx.CreateBucket(bankBucket)
	if err != nil {
		return err
	}
	switch op.kind {
	case "transfer":
		// Point reads of two accounts, either possibly closed meanwhile.
		from, to := bank.Get([]byte(op.from)), bank.Get([]byte(op.to))
		if from == nil || to == nil {
			return nil
		}
		amount := min(op.amount, int64At(from))
		if op.all {
			amount = int64At(from)
		}
		if err := bank.Put([]byte(op.from), int64Bytes(int64At(from)-amount)); err != nil {
			return err
		}
		return bank.Put([]byte(op.to), int64Bytes(int64At(to)+amount))
	case "audit":
		var total, opened int64
		walk := func(c kvCursor, fn func(k, v []byte)) {
			for k, v := c.First(); k != nil; k, v = c.Next() {
				fn(k, v)
			}
		}
		count := func(k, v []byte) {
			total += int64At(v)
			if string(k[:4]) == "new/" {
				opened++
			}
		}
		if op.within {
			walk(bank.Within([]byte("acct/")), count)
			walk(bank.Within([]byte("new/")), count)
		} else {
			walk(bank.Cursor(), count)
		}
		audit, err := tx.CreateBucket(auditBucket)
		if err != nil {
			return err
		}
		return audit.Put([]byte(op.id), append(int64Bytes(total), int64Bytes(opened)...))
	case "close":
		// Only an empty account closes: a deposit it missed is lost.
		if v := bank.Get([]byte(op.from)); v != nil && int64At(v) == 0 {
			return bank.Delete([]byte(op.from))
		}
		return nil
	case "open":
		if len(opened(bank)) >= bankNewMax {
			return nil
		}
		return bank.Put([]byte("new/"+op.id), int64Bytes(0))
	default: // retire
		// Never the last one: two retiring different accounts on one
		// walk would leave none.
		keys := opened(bank)
		if len(keys) < 2 {
			return nil
		}
		return bank.Delete(keys[op.nth%len(keys)])
	}
}

// opened returns the keys of the new/ accounts, walked with Within.
func opened(bank kvBucket) [][]byte {
	var keys [][]byte
	c := bank.Within([]byte("new/"))
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		keys = append(keys, k)
	}
	return keys
}

// TestEtcdBankSerializable: three replicas move money between accounts
// (point reads: a lost update creates or destroys money), audit the total
// with a walk of the whole bucket or of two prefixes (a walk that missed a
// concurrent commit records another total), close accounts they read
// empty (a lost delete: a deposit into an account closed on a stale read
// vanishes) and open accounts under new/ only while a walk of new/ finds
// fewer than bankNewMax (a phantom: more than that many), and retire one
// of those while a walk of new/ finds two or more (a delete missed by a
// walk: none left). After every operation has run: the money is all
// there, every audit saw it all, and no audit or final read finds fewer
// than one or more than bankNewMax new accounts.
func TestEtcdBankSerializable(t *testing.T) {
	t.Parallel()
	stores := etcdReplicas(t, 3)
	seed := scheduleSeed(t)
	must(t, stores[0].kv.Update(func(tx kvTx) error {
		bank, err := tx.CreateBucket(bankBucket)
		for i := range bankAccounts {
			err = errors.Join(err, bank.Put([]byte(acct(i)), int64Bytes(bankOpening)))
		}
		return errors.Join(err, bank.Put([]byte("new/0"), int64Bytes(0)))
	}))

	var (
		mu    sync.Mutex
		done  = map[string]int{}
		given int
	)
	contend(stores, seed, 6, 20, func(s *Store, r *rand.Rand, id string) {
		op := drawBankOp(r, id)
		err := runOn(s, op.batched, op.run)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			done[op.kind]++
		case contended(err):
			given++
		default:
			t.Errorf("%s: %v", op.kind, err)
		}
	})
	t.Logf("committed %v; %d gave up contended", done, given)
	if done["audit"] == 0 || done["open"] == 0 || done["retire"] == 0 {
		t.Fatalf("committed %v: the schedule exercised too little", done)
	}

	// Every replica reads the same end state.
	for i, s := range stores {
		must(t, s.kv.View(func(tx kvTx) error {
			var total int64
			open := 0
			must(t, tx.Bucket(bankBucket).ForEach(func(k, v []byte) error {
				if int64At(v) < 0 {
					t.Errorf("replica %d: %s holds %d", i, k, int64At(v))
				}
				total += int64At(v)
				if string(k[:4]) == "new/" {
					open++
				}
				return nil
			}))
			if total != bankTotal {
				t.Errorf("replica %d: the accounts hold %d, want %d", i, total, bankTotal)
			}
			if open < 1 || open > bankNewMax {
				t.Errorf("replica %d: %d accounts open under new/, want 1 to %d", i, open, bankNewMax)
			}
			audits := 0
			must(t, tx.Bucket(auditBucket).ForEach(func(k, v []byte) error {
				audits++
				if sum, n := int64At(v[:8]), int64At(v[8:]); sum != bankTotal || n < 1 || n > bankNewMax {
					t.Errorf("replica %d: audit %s saw %d with %d new accounts, want %d with 1 to %d", i, k, sum, n, bankTotal, bankNewMax)
				}
				return nil
			}))
			if audits != done["audit"] {
				t.Errorf("replica %d: %d audits stored, %d committed", i, audits, done["audit"])
			}
			return nil
		}))
	}
}

// skewRounds runs rounds of a write skew: each round reset prepares the
// keys, then every store's perStore transactions, started together so
// their reads overlap, run take(n) (n numbers them in the round) through
// the group commit or on their own, and settled checks the outcome, which
// any serial order of them gives.
func skewRounds(t *testing.T, reset func(kvTx) error, take func(n int) func(kvTx) error, settled func(round int, tx kvTx)) {
	stores := etcdReplicas(t, 3)
	seed := scheduleSeed(t)
	const rounds, perStore = 12, 4
	for round := range rounds {
		must(t, stores[0].kv.Update(reset))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for si, s := range stores {
			for w := range perStore {
				n := si*perStore + w
				batched := rand.New(rand.NewPCG(seed, uint64(round*100+n))).IntN(2) == 0
				wg.Go(func() {
					<-start
					if err := runOn(s, batched, take(n)); err != nil && !contended(err) {
						t.Error(err)
					}
				})
			}
		}
		close(start)
		wg.Wait()
		must(t, stores[1].kv.View(func(tx kvTx) error { settled(round, tx); return nil }))
	}
}

// TestEtcdWriteSkewPrevented: x and y start at 1 each, as two doctors on
// call; every transaction reads both and takes one from either while x+y
// stays at 1 or above. In any serial order exactly one of them takes,
// leaving x+y at 1. Isolation that only compares the keys a transaction
// writes (snapshot isolation) lets two that read the same x and y take
// from different keys: x+y = 0.
func TestEtcdWriteSkewPrevented(t *testing.T) {
	t.Parallel()
	skew := []byte("skew")
	sum := func(b kvBucket) int64 { return int64At(b.Get([]byte("x"))) + int64At(b.Get([]byte("y"))) }
	skewRounds(t, func(tx kvTx) error {
		b, err := tx.CreateBucket(skew)
		return errors.Join(err, b.Put([]byte("x"), int64Bytes(1)), b.Put([]byte("y"), int64Bytes(1)))
	}, func(n int) func(kvTx) error {
		key := []byte([]string{"x", "y"}[n%2])
		return func(tx kvTx) error {
			b := tx.Bucket(skew)
			if sum(b) < 2 {
				return nil
			}
			return b.Put(key, int64Bytes(int64At(b.Get(key))-1))
		}
	}, func(round int, tx kvTx) {
		if got := sum(tx.Bucket(skew)); got != 1 {
			t.Errorf("round %d: x+y = %d, want 1", round, got)
		}
	})
}

// TestEtcdWalkSkewPrevented: the keys a and b; every transaction walks
// them and deletes one, a or b, while the walk finds two. In any serial
// order exactly one deletes, and one key remains. A commit that compares
// only which keys a walked range holds now (a deleted key changes none of
// them) lets two that walked both delete different ones: none remains.
func TestEtcdWalkSkewPrevented(t *testing.T) {
	t.Parallel()
	skew := []byte("walk")
	walked := func(b kvBucket) (keys [][]byte) {
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, k)
		}
		return keys
	}
	skewRounds(t, func(tx kvTx) error {
		b, err := tx.CreateBucket(skew)
		return errors.Join(err, b.Put([]byte("a"), nil), b.Put([]byte("b"), nil))
	}, func(n int) func(kvTx) error {
		key := []byte([]string{"a", "b"}[n%2])
		return func(tx kvTx) error {
			b := tx.Bucket(skew)
			if len(walked(b)) < 2 {
				return nil
			}
			return b.Delete(key)
		}
	}, func(round int, tx kvTx) {
		if keys := walked(tx.Bucket(skew)); len(keys) != 1 {
			t.Errorf("round %d: %q remain, want one of a and b", round, keys)
		}
	})
}

// errBusy is an accept refused: the resource has a job pending.
var errBusy = errors.New("resource has a job pending")

// TestEtcdAcceptsSerializable: three replicas accept changes to the same
// resources concurrently, as the job runner does (jobs.Runner.accept):
// a change is accepted only while the resource has no pending job, and
// names the new job on the resource; settling a job clears it. Pairs of
// resources ask for the same bucket. At the end: each bucket is held by
// one resource, each resource has at most one pending job and it is the
// one it names, and the newest-first index lists every accepted job once,
// in the order of their numbers.
func TestEtcdAcceptsSerializable(t *testing.T) {
	t.Parallel()
	stores := etcdReplicas(t, 3)
	seed := scheduleSeed(t)
	ctx := context.Background()
	const names = 6
	key := func(i int) ResourceKey { return ResourceKey{AppID: "app", Env: "dev", Name: fmt.Sprintf("res%d", i)} }
	accept := func(k ResourceKey, bucket, id string) func(*Tx) error {
		return func(tx *Tx) error {
			j := newJob(id, k.AppID, k.Env, k.Name, StatusRunning)
			res, err := tx.Resource(k)
			switch {
			case errors.Is(err, ErrNotFound):
				r := newResource(k.AppID, k.Env, k.Name, bucket)
				r.ActiveJob = id
				err = tx.CreateResource(r)
			case err != nil:
			case res.ActiveJob != "":
				return errBusy
			default:
				res.ActiveJob = id
				err = tx.PutResource(res)
			}
			if err != nil {
				return err
			}
			return tx.InsertJob(j)
		}
	}
	settle := func(k ResourceKey) func(*Tx) error {
		return func(tx *Tx) error {
			res, err := tx.Resource(k)
			if errors.Is(err, ErrNotFound) || (err == nil && res.ActiveJob == "") {
				return nil
			}
			if err != nil {
				return err
			}
			j, err := tx.Job(res.ActiveJob)
			if err != nil {
				return err
			}
			j.Status, res.ActiveJob = StatusCompleted, ""
			return errors.Join(tx.PutJob(j), tx.PutResource(res))
		}
	}

	var (
		mu       sync.Mutex
		accepted []string
	)
	contend(stores, seed, 5, 16, func(s *Store, r *rand.Rand, id string) {
		i := r.IntN(names)
		k, bucket := key(i), fmt.Sprintf("bucket-%d", i/2)
		id = "job-" + id
		var err error
		if r.IntN(2) == 0 {
			err = s.Batch(ctx, accept(k, bucket, id))
		} else {
			err = s.Batch(ctx, settle(k))
			id = ""
		}
		var taken *BucketTakenError
		switch {
		case err == nil && id != "":
			mu.Lock()
			accepted = append(accepted, id)
			mu.Unlock()
		case err == nil, errors.Is(err, errBusy), errors.As(err, &taken), contended(err):
		default:
			t.Error(err)
		}
	})
	t.Logf("%d changes accepted", len(accepted))

	for i, s := range stores {
		must(t, s.View(ctx, func(tx *Tx) error {
			resources, err := tx.Resources("app", "dev")
			if err != nil {
				return err
			}
			holders := map[string][]string{}
			active := map[string]string{}
			for _, r := range resources {
				holders[r.Bucket] = append(holders[r.Bucket], r.Name)
				active[r.Name] = r.ActiveJob
				if owner, ok := tx.BucketOwner(r.Bucket); !ok || owner != r.ResourceKey {
					t.Errorf("replica %d: bucket %s owned by %v, held by %s", i, r.Bucket, owner, r.Name)
				}
			}
			for b, h := range holders {
				if len(h) > 1 {
					t.Errorf("replica %d: bucket %s held by %v", i, b, h)
				}
			}
			pending := map[string][]string{}
			for _, id := range tx.PendingJobs() {
				j, err := tx.Job(id)
				if err != nil {
					return err
				}
				pending[j.Resource] = append(pending[j.Resource], id)
			}
			for name, ids := range pending {
				if len(ids) > 1 || ids[0] != active[name] {
					t.Errorf("replica %d: %s has jobs %v pending, names %q", i, name, ids, active[name])
				}
			}
			var listed []string
			var after []byte
			var last uint64
			for {
				jobs, next, err := tx.Jobs("app", "dev", after, 7, nil)
				if err != nil {
					return err
				}
				for _, j := range jobs {
					if last != 0 && j.seq >= last {
						t.Errorf("replica %d: job %s (number %d) listed after number %d", i, j.ID, j.seq, last)
					}
					last = j.seq
					listed = append(listed, j.ID)
				}
				if next == nil {
					break
				}
				after = next
			}
			slices.Sort(listed)
			want := slices.Sorted(slices.Values(accepted))
			if !slices.Equal(listed, want) {
				t.Errorf("replica %d: %d jobs listed, %d accepted (listed %v, accepted %v)", i, len(listed), len(want), listed, want)
			}
			return nil
		}))
	}
}
