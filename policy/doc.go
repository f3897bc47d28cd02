// Package policy turns the permissions of an Amplify storage resource into the
// IAM role policies and S3 bucket policy statements that enforce them, and
// merges and compares policy documents read back from a target.
//
// # Why it is pure
//
// The package imports nothing of ours, no AWS SDK and does no I/O. Every
// function is a deterministic function of its arguments: the same input gives
// byte-identical JSON. That is what the reconcile steps in package jobs rely
// on: they translate the desired permissions, read what the target holds,
// compare with Equivalent and write only on drift. Keeping the translation
// free of I/O also lets it be tested exhaustively with golden files (all 64
// combinations of authenticated and guest permissions live under
// testdata/translate) instead of through a running S3 server.
//
// # Translation (Amplify Gen1 parity)
//
// B is the bucket, ${sub} the policy variable
// ${cognito-identity.amazonaws.com:sub} (the caller's Cognito identity id).
// The object actions are s3:PutObject for CREATE_AND_UPDATE, s3:GetObject for
// READ and s3:DeleteObject for DELETE, always in that order.
//
// Authenticated role (only when some authenticated permission is granted):
//
//	Sid            Resource                            Action          when
//	Public         arn:aws:s3:::B/public/*             object actions  always
//	Protected      arn:aws:s3:::B/protected/${sub}/*   object actions  always
//	Private        arn:aws:s3:::B/private/${sub}/*     object actions  always
//	Uploads        arn:aws:s3:::B/uploads/*            s3:PutObject    CREATE_AND_UPDATE
//	ReadProtected  arn:aws:s3:::B/protected/*          s3:GetObject    READ
//	List           arn:aws:s3:::B                      s3:ListBucket   READ
//	               StringLike s3:prefix = public/, public/*, protected/, protected/*,
//	               private/${sub}/, private/${sub}/*
//
// Unauthenticated role (only when some guest permission is granted):
//
//	Public         arn:aws:s3:::B/public/*             object actions  always
//	Uploads        arn:aws:s3:::B/uploads/*            s3:PutObject    CREATE_AND_UPDATE
//	ReadProtected  arn:aws:s3:::B/protected/*          s3:GetObject    READ
//	List           arn:aws:s3:::B                      s3:ListBucket   READ
//	               StringLike s3:prefix = public/, public/*, protected/, protected/*
//
// Guests have no identity of their own, so they never get protected/<id>/ or
// private/<id>/ statements and never any write outside public/ and uploads/.
// No permission, no statement: a role with nothing granted gets no document.
// Every statement has Effect Allow.
//
// With Input.PublicGuestAccess the guest statements are also returned for the
// bucket policy, with Principal "*" and Sids GuestPublic, GuestUploads,
// GuestReadProtected and GuestList. That is for targets (the embedded gateway,
// MinIO) where anonymous requests are judged by the bucket policy alone.
//
// # Sid scheme and ownership
//
// A bucket policy is shared with statements written by others, and several
// resources may share one bucket. Every statement we write has a Sid of the
// form
//
//	Amplifybackendd<16 hex digits><suffix>
//
// where the hex digits hash (appID, env, resourceName) (see SidPrefix) and the
// suffix is one of the names above. Sids allow only [A-Za-z0-9], hence the
// hash rather than the names. The prefix has a fixed length and every suffix
// starts with a capital letter, which a hex digit never is, so one resource's
// prefix never matches another resource's Sids. MergeBucketPolicy replaces
// exactly the statements carrying the prefix and keeps all others unchanged.
// Role policies need no Sid for ownership: the whole inline policy, named by
// EnvRolePolicyName, is ours.
//
// # One role document per environment
//
// An environment's roles carry one document each, holding the grants of
// all its resources (EnvDocuments): statements with the same actions are
// written once and list the ARNs of every bucket that gets them, with Sids
// of the form EnvSidPrefix + "ObjectsPutGetDelete", "Uploads",
// "ReadProtected" or "List". A bucket then costs its ARNs alone (six on the
// authenticated role with full permissions, 225 characters plus six times
// its name) instead of a whole document (1,283 characters for a
// 16-character name). Pack spreads the document over the role's inline
// policy (EnvRolePolicyName, up to IAM's 10,240 characters per role) and
// customer managed policies (EnvManagedPolicyName, 6,144 characters each,
// 10 per role): 213 full-permission resources with 16-character bucket
// names, where one inline policy per resource (RolePolicyName, earlier
// releases) held 7. The golden files under testdata/env show 1, 2, 50 and
// mixed resources with their sizes.
//
// # Reading documents back
//
// IAM answers carry policy documents URL-encoded (AWS, versitygw) or raw (Ceph
// RGW); DecodeDocument handles both. Equivalent compares documents after
// canonicalising the shapes AWS treats as the same.
package policy
