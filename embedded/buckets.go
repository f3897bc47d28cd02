package embedded

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"github.com/versity/versitygw/backend"
	"github.com/versity/versitygw/s3api/utils"
	"github.com/versity/versitygw/s3err"
	"github.com/versity/versitygw/s3response"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// bucketStore keeps what this package adds to each bucket of the posix
// backend: its lifecycle configuration and its creation time.
//
// They live in a bbolt file beside the posix root rather than in extended
// attributes of the bucket directory, where Versity keeps policies and CORS:
// on ext4 every attribute of an inode shares one 4 KiB block, which the
// bucket policy already nearly fills (hence --bucket-policy-limit), and a
// lifecycle configuration may hold up to 1,000 rules. The price is that a
// record does not vanish with the directory by itself: DeleteBucket removes
// both records, CreateBucket writes fresh ones (so a crash between a
// directory's removal and its records' cannot hand an old configuration to
// a new bucket of the same name), and start-up drops records of buckets
// that are gone.
type bucketStore struct {
	db *bolt.DB
}

var (
	lifecycleBucket = []byte("lifecycle") // bucket name → LifecycleConfiguration XML, as GET returns it
	createdBucket   = []byte("created")   // bucket name → creation time, RFC 3339 with nanoseconds
)

// openBucketStore opens path and reconciles it with the buckets under root:
// a bucket without a creation time gets the best one the filesystem still
// knows (see bucketBirth), and records of buckets that no longer exist are
// dropped. It runs before the gateway serves, so nothing races it.
func openBucketStore(path, root string) (*bucketStore, error) {
	db, err := openBolt(path, "bucket store", "the embedded buckets' lifecycle rules and creation times are lost. "+
		"Put the file back from a backup of the data directory; or remove it to start without them, "+
		"and each storage resource's lifecycle rule is written again by its next UpdateBackendStorage")
	if err != nil {
		return nil, err
	}
	db.MaxBatchDelay = time.Millisecond
	entries, err := os.ReadDir(root)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("list buckets in %s: %w", root, err)
	}
	exists := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() && utils.IsValidBucketName(e.Name()) {
			exists[e.Name()] = true
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{lifecycleBucket, createdBucket} {
			b, err := tx.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			var gone [][]byte
			if err := b.ForEach(func(k, _ []byte) error {
				if !exists[string(k)] {
					gone = append(gone, k)
				}
				return nil
			}); err != nil {
				return err
			}
			for _, k := range gone {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		created := tx.Bucket(createdBucket)
		for name := range exists {
			if created.Get([]byte(name)) != nil {
				continue
			}
			t, err := bucketBirth(filepath.Join(root, name))
			if err != nil {
				return err
			}
			if err := created.Put([]byte(name), []byte(t.UTC().Format(time.RFC3339Nano))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("reconcile bucket store %s with %s: %w", path, root, err)
	}
	return &bucketStore{db: db}, nil
}

// bucketBirth is the best creation time a bucket made before this store
// existed still has: the directory's birth time where the filesystem keeps
// one (ext4, xfs, btrfs and tmpfs do, through statx), else its modification
// time, which is what the gateway reported until then. Either way it is
// recorded once and no longer follows the objects written later.
func bucketBirth(dir string) (time.Time, error) {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME|unix.STATX_MTIME, &st)
	if err != nil {
		return time.Time{}, fmt.Errorf("statx %s: %w", dir, err)
	}
	ts := st.Mtime
	// A zero birth time is an image built without one, not a date.
	if st.Mask&unix.STATX_BTIME != 0 && st.Btime.Sec != 0 {
		ts = st.Btime
	}
	return time.Unix(ts.Sec, int64(ts.Nsec)), nil
}

// Close closes the bucket database.
func (s *bucketStore) Close() error { return s.db.Close() }

// bucketCreated records a new bucket: its creation time, and no lifecycle
// configuration whatever a bucket of the same name once had.
func (s *bucketStore) bucketCreated(name string, at time.Time) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		if err := tx.Bucket(lifecycleBucket).Delete([]byte(name)); err != nil {
			return err
		}
		return tx.Bucket(createdBucket).Put([]byte(name), []byte(at.UTC().Format(time.RFC3339Nano)))
	})
}

// bucketDeleted forgets a deleted bucket.
func (s *bucketStore) bucketDeleted(name string) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		if err := tx.Bucket(lifecycleBucket).Delete([]byte(name)); err != nil {
			return err
		}
		return tx.Bucket(createdBucket).Delete([]byte(name))
	})
}

// creationTimes returns the recorded creation time of every bucket.
func (s *bucketStore) creationTimes() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(createdBucket).ForEach(func(k, v []byte) error {
			t, err := time.Parse(time.RFC3339Nano, string(v))
			if err != nil {
				return fmt.Errorf("creation time of bucket %s: %w", k, err)
			}
			out[string(k)] = t
			return nil
		})
	})
	return out, err
}

// lifecycle returns the bucket's stored configuration, or nil.
func (s *bucketStore) lifecycle(bucket string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(lifecycleBucket).Get([]byte(bucket)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// lifecycles returns every stored configuration by bucket.
func (s *bucketStore) lifecycles() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(lifecycleBucket).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}

// putLifecycle replaces the bucket's configuration; nil removes it.
func (s *bucketStore) putLifecycle(bucket string, doc []byte) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(lifecycleBucket)
		if doc == nil {
			return b.Delete([]byte(bucket))
		}
		return b.Put([]byte(bucket), doc)
	})
}

// bucketBackend is the posix backend with the bucket records kept in step:
// it is what the gateway serves, so every bucket created or deleted through
// S3 passes here.
type bucketBackend struct {
	backend.Backend
	meta *bucketStore
}

// CreateBucket records the creation time once the directory exists. A
// bucket that already existed is left as it was.
func (b *bucketBackend) CreateBucket(ctx context.Context, in *s3.CreateBucketInput, acl []byte) error {
	if err := b.Backend.CreateBucket(ctx, in, acl); err != nil {
		return err
	}
	if err := b.meta.bucketCreated(*in.Bucket, time.Now()); err != nil {
		return fmt.Errorf("record creation of bucket %s: %w", *in.Bucket, err)
	}
	return nil
}

// DeleteBucket forgets the bucket's records once its directory is gone.
func (b *bucketBackend) DeleteBucket(ctx context.Context, bucket string) error {
	if err := b.Backend.DeleteBucket(ctx, bucket); err != nil {
		return err
	}
	if err := b.meta.bucketDeleted(bucket); err != nil {
		return fmt.Errorf("forget deleted bucket %s: %w", bucket, err)
	}
	return nil
}

// ListBuckets answers each bucket's creation time. The posix backend
// reports the directory's modification time, which moves whenever an object
// is written at the top of the bucket.
func (b *bucketBackend) ListBuckets(ctx context.Context, in s3response.ListBucketsInput) (s3response.ListAllMyBucketsResult, error) {
	out, err := b.Backend.ListBuckets(ctx, in)
	if err != nil {
		return out, err
	}
	created, err := b.meta.creationTimes()
	if err != nil {
		return out, fmt.Errorf("read bucket creation times: %w", err)
	}
	for i, e := range out.Buckets.Bucket {
		if t, ok := created[e.Name]; ok {
			out.Buckets.Bucket[i].CreationDate = t
		}
	}
	return out, nil
}

// The posix backend joins an upload id to a directory path unchecked, so an
// id such as "../../../etc" would make UploadPart write a file, and
// AbortMultipartUpload remove a directory tree, anywhere the process may:
// for anyone the bucket policy lets put objects, guests included. Its own
// ids are canonical UUIDs (CreateMultipartUpload), so every other id names
// no upload of this gateway and is answered NoSuchUpload before it reaches
// the backend.

// knownUploadID reports whether id has the form of an id the posix backend
// issues.
func knownUploadID(id *string) bool {
	if id == nil || len(*id) != 36 {
		return false
	}
	_, err := uuid.Parse(*id)
	return err == nil
}

// UploadPart refuses an upload id the backend never issued.
func (b *bucketBackend) UploadPart(ctx context.Context, in *s3.UploadPartInput) (*s3.UploadPartOutput, error) {
	if !knownUploadID(in.UploadId) {
		return nil, noSuchUpload(in.UploadId)
	}
	return b.Backend.UploadPart(ctx, in)
}

// UploadPartCopy refuses an upload id the backend never issued.
func (b *bucketBackend) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput) (s3response.CopyPartResult, error) {
	if !knownUploadID(in.UploadId) {
		return s3response.CopyPartResult{}, noSuchUpload(in.UploadId)
	}
	return b.Backend.UploadPartCopy(ctx, in)
}

// CompleteMultipartUpload refuses an upload id the backend never issued.
func (b *bucketBackend) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput) (s3response.CompleteMultipartUploadResult, string, error) {
	if !knownUploadID(in.UploadId) {
		return s3response.CompleteMultipartUploadResult{}, "", noSuchUpload(in.UploadId)
	}
	return b.Backend.CompleteMultipartUpload(ctx, in)
}

// AbortMultipartUpload refuses an upload id the backend never issued.
func (b *bucketBackend) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput) error {
	if !knownUploadID(in.UploadId) {
		return noSuchUpload(in.UploadId)
	}
	return b.Backend.AbortMultipartUpload(ctx, in)
}

// ListParts refuses an upload id the backend never issued.
func (b *bucketBackend) ListParts(ctx context.Context, in *s3.ListPartsInput) (s3response.ListPartsResult, error) {
	if !knownUploadID(in.UploadId) {
		return s3response.ListPartsResult{}, noSuchUpload(in.UploadId)
	}
	return b.Backend.ListParts(ctx, in)
}

func noSuchUpload(id *string) error {
	var s string
	if id != nil {
		s = *id
	}
	return s3err.GetNoSuchUploadErr(s)
}
