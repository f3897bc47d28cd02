package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/versity/versitygw/iamapi/iamerr"
	"github.com/versity/versitygw/iamapi/storage"
	"github.com/versity/versitygw/iamapi/types"
	bolt "go.etcd.io/bbolt"
)

// roleStore keeps IAM roles one record per role in bbolt and leaves users,
// access keys, OIDC providers and sessions to Versity's file store.
//
// Versity's file store holds every user and role in one JSON document that
// each call parses and each write re-marshals under one lock, so an IAM call
// costs time proportional to all roles ever made. A control plane makes two
// roles per environment; at a few thousand environments that document
// dominated the whole process's CPU. Here a role call reads or writes one
// record, and writes are durable (fsync, group-committed) where the file
// store's were not.
//
// Every method keeps the file store's semantics: case-insensitive role
// names, unique role ids, the inline-policy quota, folded tag keys, the
// same iamerr errors and the same list ordering and markers.
type roleStore struct {
	storage.Storer // everything that is not a role
	db             *bolt.DB
}

var (
	rolesBucket  = []byte("roles")    // lower-cased role name → JSON types.Role
	roleIDBucket = []byte("role-ids") // role id → lower-cased role name
)

// openRoleStore opens path and moves any roles base still holds into it.
func openRoleStore(ctx context.Context, path string, base storage.Storer) (*roleStore, error) {
	db, err := openBolt(path, "IAM role store", "every role and role policy of the embedded IAM is lost. "+
		"Put the file back from a backup of the data directory; or remove it to start with no roles, "+
		"and each storage resource's roles and policies are written again by its next UpdateBackendStorage")
	if err != nil {
		return nil, err
	}
	// Role writes sit on a job's critical path: a short batch window keeps
	// group commit without adding bbolt's default 10 ms to each.
	db.MaxBatchDelay = time.Millisecond
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{rolesBucket, roleIDBucket, policiesBucket, attachmentsBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("init IAM role store: %w", err)
	}
	s := &roleStore{Storer: base, db: db}
	if err := s.adopt(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("move roles out of the IAM file store: %w", err)
	}
	return s, nil
}

// Close closes the role database.
func (s *roleStore) Close() error { return s.db.Close() }

// adopt copies the roles a data directory made before this store existed
// into it, then removes them from the file store. It is safe to repeat: a
// copy that already exists is kept, and a crash before the removal only
// means the next start removes them.
func (s *roleStore) adopt(ctx context.Context) error {
	list, err := s.Storer.ListRoles(ctx, storage.ListRolesInput{})
	if err != nil || len(list.Roles) == 0 {
		return err
	}
	for _, listed := range list.Roles {
		role, err := s.Storer.GetRole(ctx, listed.RoleName)
		if err != nil {
			return err
		}
		if err := s.db.Update(func(tx *bolt.Tx) error {
			if tx.Bucket(rolesBucket).Get(roleKey(role.RoleName)) != nil {
				return nil
			}
			return putRole(tx, role)
		}); err != nil {
			return err
		}
		for _, p := range role.Policies.Inline {
			if err := s.Storer.DeleteRolePolicy(ctx, role.RoleName, p.PolicyName); err != nil {
				return err
			}
		}
		if err := s.Storer.DeleteRole(ctx, role.RoleName); err != nil {
			return err
		}
	}
	return nil
}

func roleKey(name string) []byte { return []byte(strings.ToLower(name)) }

func putRole(tx *bolt.Tx, role *types.Role) error {
	raw, err := json.Marshal(role)
	if err != nil {
		return err
	}
	if err := tx.Bucket(rolesBucket).Put(roleKey(role.RoleName), raw); err != nil {
		return err
	}
	return tx.Bucket(roleIDBucket).Put([]byte(role.RoleID), roleKey(role.RoleName))
}

// getRole decodes a role from tx; a missing role is iamerr's NoSuchEntity.
func getRole(tx *bolt.Tx, name string) (*types.Role, error) {
	raw := tx.Bucket(rolesBucket).Get(roleKey(name))
	if raw == nil {
		return nil, iamerr.NoSuchEntityRole(name)
	}
	var role types.Role
	if err := json.Unmarshal(raw, &role); err != nil {
		return nil, fmt.Errorf("decode IAM role %q: %w", name, err)
	}
	role.EnsureRoleLastUsed()
	return &role, nil
}

func (s *roleStore) view(name string) (*types.Role, error) {
	var role *types.Role
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		role, err = getRole(tx, name)
		return err
	})
	return role, err
}

// update applies mutate to the named role and stores it, in one
// group-committed transaction. mutate may run more than once (bbolt re-runs
// a batch when another member fails), so it must derive everything from
// the role it is given.
func (s *roleStore) update(name string, mutate func(*types.Role) error) (*types.Role, error) {
	var out *types.Role
	err := s.db.Batch(func(tx *bolt.Tx) error {
		role, err := getRole(tx, name)
		if err != nil {
			return err
		}
		if err := mutate(role); err != nil {
			return err
		}
		out = role
		return putRole(tx, role)
	})
	return out, err
}

// CreateRole implements storage.Storer.
func (s *roleStore) CreateRole(_ context.Context, role types.Role) (*types.Role, error) {
	role.EnsureRoleLastUsed()
	err := s.db.Batch(func(tx *bolt.Tx) error {
		if tx.Bucket(rolesBucket).Get(roleKey(role.RoleName)) != nil {
			return iamerr.EntityAlreadyExistsRole(role.RoleName)
		}
		if tx.Bucket(roleIDBucket).Get([]byte(role.RoleID)) != nil {
			// Worded as the file store words it.
			return fmt.Errorf("update iam data: %w", storage.ErrRoleIDAlreadyExists)
		}
		return putRole(tx, &role)
	})
	if err != nil {
		return nil, err
	}
	return &role, nil
}

// GetRole implements storage.Storer.
func (s *roleStore) GetRole(_ context.Context, roleName string) (*types.Role, error) {
	return s.view(roleName)
}

// ListRoles implements storage.Storer: by role name, RoleLastUsed omitted
// as AWS does in lists.
func (s *roleStore) ListRoles(_ context.Context, input storage.ListRolesInput) (*storage.ListRolesOutput, error) {
	var roles []types.Role
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(rolesBucket).ForEach(func(_, raw []byte) error {
			var role types.Role
			if err := json.Unmarshal(raw, &role); err != nil {
				return err
			}
			if input.PathPrefix != "" && !strings.HasPrefix(role.Path, input.PathPrefix) {
				return nil
			}
			role.RoleLastUsed = nil
			roles = append(roles, role)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(roles, func(a, b types.Role) int { return strings.Compare(a.RoleName, b.RoleName) })
	page, truncated := pageAfter(roles, input.Marker, input.MaxItems, func(r types.Role, m string) bool { return r.RoleName == m })
	out := &storage.ListRolesOutput{Roles: page, IsTruncated: truncated}
	if truncated {
		out.Marker = page[len(page)-1].RoleName
	}
	return out, nil
}

// pageAfter returns the items after the one marker names (all of them
// without a marker, none when no item matches it), at most max (0: no
// limit), and whether more follow.
func pageAfter[T any](items []T, marker string, max int32, names func(T, string) bool) ([]T, bool) {
	if marker != "" {
		at := slices.IndexFunc(items, func(it T) bool { return names(it, marker) })
		if at < 0 {
			return []T{}, false
		}
		items = items[at+1:]
	}
	if max > 0 && int(max) < len(items) {
		return slices.Clone(items[:max]), true
	}
	return slices.Clone(items), false
}

// DeleteRole implements storage.Storer; like IAM it refuses a role that
// still has inline or attached managed policies.
func (s *roleStore) DeleteRole(_ context.Context, roleName string) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		role, err := getRole(tx, roleName)
		if err != nil {
			return err
		}
		if len(role.Policies.Inline) > 0 || tx.Bucket(attachmentsBucket).Get(roleKey(roleName)) != nil {
			return iamerr.GetAPIError(iamerr.ErrDeleteConflictPolicies)
		}
		if err := tx.Bucket(roleIDBucket).Delete([]byte(role.RoleID)); err != nil {
			return err
		}
		return tx.Bucket(rolesBucket).Delete(roleKey(roleName))
	})
}

// UpdateAssumeRolePolicy implements storage.Storer.
func (s *roleStore) UpdateAssumeRolePolicy(_ context.Context, input storage.UpdateAssumeRolePolicyInput) (*types.Role, error) {
	return s.update(input.RoleName, func(role *types.Role) error {
		role.AssumeRolePolicyDocument = input.PolicyDocument
		return nil
	})
}

// RecordRoleUsage implements storage.Storer. Uses within
// storage.UsageRecordCoalesceWindow of the recorded one in the same region
// write nothing, so a busy role does not turn reads into writes.
func (s *roleStore) RecordRoleUsage(_ context.Context, roleName, region string, when time.Time) error {
	role, err := s.view(roleName)
	if err != nil {
		return err
	}
	if !usageWorthRecording(role.RoleLastUsed, region, when) {
		return nil
	}
	_, err = s.update(roleName, func(role *types.Role) error {
		if usageWorthRecording(role.RoleLastUsed, region, when) {
			role.RoleLastUsed = &types.RoleLastUsed{LastUsedDate: &when, Region: region}
		}
		return nil
	})
	return err
}

func usageWorthRecording(last *types.RoleLastUsed, region string, when time.Time) bool {
	if last == nil || last.LastUsedDate == nil || last.LastUsedDate.IsZero() || last.Region != region {
		return true
	}
	// A clock that went backwards leaves the record in the future: keep it.
	return when.Sub(*last.LastUsedDate) >= storage.UsageRecordCoalesceWindow
}

// TagRole implements storage.Storer: keys fold case, a key already present
// takes the new value, and a role carries at most storage.MaxTagsPerResource.
func (s *roleStore) TagRole(_ context.Context, roleName string, tags []types.Tag) error {
	_, err := s.update(roleName, func(role *types.Role) error {
		for _, tag := range tags {
			if at := tagIndex(role.Tags, tag.Key); at >= 0 {
				role.Tags[at] = tag
				continue
			}
			if len(role.Tags) >= storage.MaxTagsPerResource {
				return iamerr.GetAPIError(iamerr.ErrTagLimitExceeded)
			}
			role.Tags = append(role.Tags, tag)
		}
		return nil
	})
	return err
}

// UntagRole implements storage.Storer.
func (s *roleStore) UntagRole(_ context.Context, roleName string, tagKeys []string) error {
	_, err := s.update(roleName, func(role *types.Role) error {
		role.Tags = slices.DeleteFunc(role.Tags, func(t types.Tag) bool {
			return slices.ContainsFunc(tagKeys, func(k string) bool { return strings.EqualFold(k, t.Key) })
		})
		return nil
	})
	return err
}

func tagIndex(tags []types.Tag, key string) int {
	return slices.IndexFunc(tags, func(t types.Tag) bool { return strings.EqualFold(t.Key, key) })
}

// ListRoleTags implements storage.Storer: by key; the marker is a key and
// matches regardless of case.
func (s *roleStore) ListRoleTags(_ context.Context, input storage.ListRoleTagsInput) (*storage.ListTagsOutput, error) {
	role, err := s.view(input.RoleName)
	if err != nil {
		return nil, err
	}
	tags := slices.Clone(role.Tags)
	slices.SortFunc(tags, func(a, b types.Tag) int { return strings.Compare(a.Key, b.Key) })
	page, truncated := pageAfter(tags, input.Marker, input.MaxItems, func(t types.Tag, m string) bool { return strings.EqualFold(t.Key, m) })
	out := &storage.ListTagsOutput{Tags: page, IsTruncated: truncated}
	if truncated {
		out.Marker = page[len(page)-1].Key
	}
	return out, nil
}

// PutRolePolicy implements storage.Storer, with IAM's quota on the total
// size of a role's inline policies.
func (s *roleStore) PutRolePolicy(_ context.Context, input storage.PutRolePolicyInput) error {
	_, err := s.update(input.RoleName, func(role *types.Role) error {
		now := time.Now().UTC().Truncate(time.Second)
		total, at := len(input.PolicyDocument), -1
		for i, p := range role.Policies.Inline {
			if p.PolicyName == input.PolicyName {
				at = i
				continue
			}
			total += len(p.PolicyDocument)
		}
		if total > storage.MaxInlinePolicyBytesPerRole {
			return iamerr.InlinePolicyQuotaExceeded("role", input.RoleName, storage.MaxInlinePolicyBytesPerRole)
		}
		if at >= 0 {
			role.Policies.Inline[at].PolicyDocument = input.PolicyDocument
			role.Policies.Inline[at].UpdateDate = now
			return nil
		}
		role.Policies.Inline = append(role.Policies.Inline, types.PolicyEntry{
			PolicyName: input.PolicyName, PolicyDocument: input.PolicyDocument, CreateDate: now, UpdateDate: now})
		return nil
	})
	return err
}

// GetRolePolicy implements storage.Storer.
func (s *roleStore) GetRolePolicy(_ context.Context, roleName, policyName string) (*types.PolicyEntry, error) {
	role, err := s.view(roleName)
	if err != nil {
		return nil, err
	}
	for _, p := range role.Policies.Inline {
		if p.PolicyName == policyName {
			return &p, nil
		}
	}
	return nil, iamerr.NoSuchEntityRolePolicy(roleName, policyName)
}

// DeleteRolePolicy implements storage.Storer.
func (s *roleStore) DeleteRolePolicy(_ context.Context, roleName, policyName string) error {
	_, err := s.update(roleName, func(role *types.Role) error {
		at := slices.IndexFunc(role.Policies.Inline, func(p types.PolicyEntry) bool { return p.PolicyName == policyName })
		if at < 0 {
			return iamerr.NoSuchEntityRolePolicy(roleName, policyName)
		}
		role.Policies.Inline = slices.Delete(role.Policies.Inline, at, at+1)
		return nil
	})
	return err
}

// ListRolePolicies implements storage.Storer: names in order.
func (s *roleStore) ListRolePolicies(_ context.Context, input storage.ListRolePoliciesInput) (*storage.ListRolePoliciesOutput, error) {
	role, err := s.view(input.RoleName)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(role.Policies.Inline))
	for _, p := range role.Policies.Inline {
		names = append(names, p.PolicyName)
	}
	slices.Sort(names)
	page, truncated := pageAfter(names, input.Marker, input.MaxItems, func(n, m string) bool { return n == m })
	out := &storage.ListRolePoliciesOutput{PolicyNames: page, IsTruncated: truncated}
	if truncated {
		out.Marker = page[len(page)-1]
	}
	return out, nil
}
