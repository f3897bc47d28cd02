package store

import (
	"fmt"
)

// An environment role's managed-policy mark is the highest number of the
// environment's managed policies (policy.EnvManagedPolicyName) for that
// role that this service may have created and not yet deleted. The job
// layer raises it before it creates a policy and lowers it once the
// policies above what the role needs are gone, so a job looks for
// leftovers by name only up to it, instead of asking the target for every
// number a role may hold: on a role that never needed a managed policy,
// not at all.

// ManagedMark returns the mark of the environment's role of kind: 0 when
// none is recorded, which is when no managed policy of it can exist.
func (t *Tx) ManagedMark(appID, env string, kind RoleKind) (int, error) {
	v := t.kv.Bucket(bucketManagedMarks).Get(markKey(appID, env, kind))
	if v == nil {
		return 0, nil
	}
	d, f := sealed(v)
	d.format(f)
	n := d.uvarint()
	if d.err != nil {
		return 0, fmt.Errorf("managed-policy mark of the %s role of environment %q of app %q: %w", kind, env, appID, d.err)
	}
	return int(n), nil
}

// SetManagedMark records the mark of the environment's role of kind; 0
// removes the record, so environments that hold no managed policy keep
// none.
func (t *Tx) SetManagedMark(appID, env string, kind RoleKind, n int) error {
	if err := checkNames(appID, env); err != nil {
		return err
	}
	if kind != RoleAuth && kind != RoleUnauth {
		return classed(ErrInvalid, "role kind %q is neither %q nor %q", kind, RoleAuth, RoleUnauth)
	}
	if n < 0 {
		return classed(ErrInvalid, "a managed-policy mark counts policies; %d is negative", n)
	}
	k := markKey(appID, env, kind)
	if n == 0 {
		return t.kv.Bucket(bucketManagedMarks).Delete(k)
	}
	return t.kv.Bucket(bucketManagedMarks).Put(k, encodeMark(n))
}

func encodeMark(n int) []byte {
	e := encoder{b: []byte{recordFormat}}
	e.uvarint(uint64(n))
	return seal(e.b)
}

// markKey is app \x00 env \x00 kind.
func markKey(appID, env string, kind RoleKind) []byte {
	return append(envKey(appID, env), append([]byte{0}, kind...)...)
}

// unknownMark is what migration 7 records for the roles of environments
// made before marks were: any of the 10 managed policies IAM lets a role
// hold may have been created. The next job's sweep lowers it.
const unknownMark = 10

// markManagedPolicies is migration 7: it creates managed-marks/ and marks
// both roles of every environment that exists with unknownMark. Running
// it again writes the same values.
func markManagedPolicies(tx kvTx) error {
	if _, err := tx.CreateBucket(bucketManagedMarks); err != nil {
		return err
	}
	marks := tx.Bucket(bucketManagedMarks)
	return tx.Bucket(bucketEnvs).ForEach(func(k, _ []byte) error {
		for _, kind := range []RoleKind{RoleAuth, RoleUnauth} {
			if err := marks.Put(append(append([]byte(nil), k...), append([]byte{0}, kind...)...), encodeMark(unknownMark)); err != nil {
				return err
			}
		}
		return nil
	})
}
