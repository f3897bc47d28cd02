package s3iam

import (
	"context"
	"time"

	"github.com/aws/smithy-go/middleware"

	"github.com/amplifybackendd/amplifybackendd/metrics"
)

// observeCalls returns the stack option that times every call a client
// makes, as one call however many times the SDK retried it (the job's own
// retries are counted apart), with its outcome: success or the class
// Classify gives the error. The operation is the stack's id, the SDK's
// operation name, so the label set stays the SDK's few operations.
func observeCalls(m *metrics.Metrics, service string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		op := stack.ID()
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("amplifybackendd.ObserveCalls",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
				middleware.InitializeOutput, middleware.Metadata, error,
			) {
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				outcome := "success"
				if err != nil {
					outcome = Classify(err).String()
				}
				m.TargetCall(service, op, outcome, time.Since(start))
				return out, md, err
			}), middleware.Before)
	}
}
