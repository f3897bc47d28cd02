package embedded

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/versity/versitygw/backend"
	"github.com/versity/versitygw/s3err"
)

// DefaultLifecycleDay and DefaultLifecycleSweep are the length of a
// lifecycle "day" and how often the sweeper looks for expired uploads.
// S3 itself acts on lifecycle rules once a day, some time after they come
// due; an hour is as close as anyone needs on a laptop.
const (
	DefaultLifecycleDay   = 24 * time.Hour
	DefaultLifecycleSweep = time.Hour
)

// sweeper carries out AbortIncompleteMultipartUpload rules: every interval
// it lists the in-progress uploads of each bucket that has an enabled rule
// and aborts those initiated more than the rule's days ago whose key the
// rule's prefix covers.
type sweeper struct {
	be       backend.Backend
	store    *bucketStore
	day      time.Duration
	interval time.Duration
	log      *slog.Logger
}

// run sweeps at once and then every interval until ctx ends.
func (s *sweeper) run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if err := s.sweep(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("embedded gateway: lifecycle sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// abortRule is the part of an enabled rule the sweeper acts on.
type abortRule struct {
	prefix string
	days   int32
}

// abortRules picks a configuration's enabled abort rules. Size filters do
// not apply to uploads and S3 refuses tags with this action, so the prefix
// is the whole filter.
func abortRules(doc []byte) ([]abortRule, error) {
	var c lifecycleConfiguration
	if err := xml.Unmarshal(doc, &c); err != nil {
		return nil, err
	}
	var out []abortRule
	for _, r := range c.Rules {
		a := r.AbortIncompleteMultipartUpload
		if r.Status != "Enabled" || a == nil || a.DaysAfterInitiation == nil {
			continue
		}
		prefix := aws.ToString(r.Prefix)
		if f := r.Filter; f != nil {
			prefix = aws.ToString(f.Prefix)
			if f.And != nil {
				prefix = aws.ToString(f.And.Prefix)
			}
		}
		out = append(out, abortRule{prefix: prefix, days: *a.DaysAfterInitiation})
	}
	return out, nil
}

// sweep makes one pass over every bucket with a lifecycle configuration. A
// bucket's failure does not keep the others from being swept; the errors
// are returned together.
func (s *sweeper) sweep(ctx context.Context, now time.Time) error {
	docs, err := s.store.lifecycles()
	if err != nil {
		return fmt.Errorf("read lifecycle configurations: %w", err)
	}
	var errs []error
	for bucket, doc := range docs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rules, err := abortRules(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("bucket %s: stored lifecycle configuration: %w", bucket, err))
			continue
		}
		if len(rules) > 0 {
			if err := s.sweepBucket(ctx, bucket, rules, now); err != nil {
				errs = append(errs, fmt.Errorf("bucket %s: %w", bucket, err))
			}
		}
	}
	return errors.Join(errs...)
}

// sweepBucket lists all of the bucket's uploads first and then aborts the
// expired ones, each only if it was not touched since it was listed (the
// gateway's Initiated is the upload directory's modification time).
func (s *sweeper) sweepBucket(ctx context.Context, bucket string, rules []abortRule, now time.Time) error {
	type upload struct {
		key, id   string
		initiated time.Time
	}
	var expired []upload
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), MaxUploads: aws.Int32(1000)}
	for {
		out, err := s.be.ListMultipartUploads(ctx, in)
		if isCode(err, "NoSuchBucket") {
			return nil // deleted since the configurations were read
		}
		if err != nil {
			return fmt.Errorf("list multipart uploads: %w", err)
		}
		for _, u := range out.Uploads {
			for _, r := range rules {
				if strings.HasPrefix(u.Key, r.prefix) && now.Sub(u.Initiated) >= time.Duration(r.days)*s.day {
					expired = append(expired, upload{u.Key, u.UploadID, u.Initiated})
					break
				}
			}
		}
		if !out.IsTruncated {
			break
		}
		in.KeyMarker, in.UploadIdMarker = aws.String(out.NextKeyMarker), aws.String(out.NextUploadIDMarker)
	}
	var errs []error
	for _, u := range expired {
		err := s.be.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(bucket), Key: aws.String(u.key), UploadId: aws.String(u.id),
			IfMatchInitiatedTime: aws.Time(u.initiated),
		})
		// Gone, or written to since the listing: the next pass decides again.
		if err != nil && !isCode(err, "NoSuchUpload") && !isCode(err, "PreconditionFailed") {
			errs = append(errs, fmt.Errorf("abort upload %s of %q: %w", u.id, u.key, err))
		}
	}
	return errors.Join(errs...)
}

// isCode reports whether err is the gateway's S3 error with this code.
func isCode(err error, code string) bool {
	var e s3err.S3Error
	return errors.As(err, &e) && e.BaseError().Code == code
}
