package policy_test

import (
	"encoding/json"
	"fmt"

	"github.com/amplifybackendd/amplifybackendd/policy"
)

func printJSON(v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
}

// Signed-in users may read: every object statement gets s3:GetObject, and the
// read statements add everybody's protected/ and a listing limited to what the
// user may see. No guest permission, so no unauth document and no bucket
// statements.
func ExampleTranslate_authenticatedRead() {
	d := policy.Translate(policy.Input{
		Bucket:        "amplify-demo-bucket",
		SidPrefix:     policy.SidPrefix("app1", "dev", "photos"),
		Authenticated: []policy.Permission{policy.Read},
	})
	printJSON(d.AuthRole)
	fmt.Println(d.UnauthRole == nil, len(d.Bucket))
	// Output:
	// {
	//   "Version": "2012-10-17",
	//   "Statement": [
	//     {
	//       "Sid": "Amplifybackendd8a2f88c6acd6c8cfPublic",
	//       "Effect": "Allow",
	//       "Action": [
	//         "s3:GetObject"
	//       ],
	//       "Resource": [
	//         "arn:aws:s3:::amplify-demo-bucket/public/*"
	//       ]
	//     },
	//     {
	//       "Sid": "Amplifybackendd8a2f88c6acd6c8cfProtected",
	//       "Effect": "Allow",
	//       "Action": [
	//         "s3:GetObject"
	//       ],
	//       "Resource": [
	//         "arn:aws:s3:::amplify-demo-bucket/protected/${cognito-identity.amazonaws.com:sub}/*"
	//       ]
	//     },
	//     {
	//       "Sid": "Amplifybackendd8a2f88c6acd6c8cfPrivate",
	//       "Effect": "Allow",
	//       "Action": [
	//         "s3:GetObject"
	//       ],
	//       "Resource": [
	//         "arn:aws:s3:::amplify-demo-bucket/private/${cognito-identity.amazonaws.com:sub}/*"
	//       ]
	//     },
	//     {
	//       "Sid": "Amplifybackendd8a2f88c6acd6c8cfReadProtected",
	//       "Effect": "Allow",
	//       "Action": [
	//         "s3:GetObject"
	//       ],
	//       "Resource": [
	//         "arn:aws:s3:::amplify-demo-bucket/protected/*"
	//       ]
	//     },
	//     {
	//       "Sid": "Amplifybackendd8a2f88c6acd6c8cfList",
	//       "Effect": "Allow",
	//       "Action": [
	//         "s3:ListBucket"
	//       ],
	//       "Resource": [
	//         "arn:aws:s3:::amplify-demo-bucket"
	//       ],
	//       "Condition": {
	//         "StringLike": {
	//           "s3:prefix": [
	//             "public/",
	//             "public/*",
	//             "protected/",
	//             "protected/*",
	//             "private/${cognito-identity.amazonaws.com:sub}/",
	//             "private/${cognito-identity.amazonaws.com:sub}/*"
	//           ]
	//         }
	//       }
	//     }
	//   ]
	// }
	// true 0
}

// Guests may read and upload. With public guest access the same grants go to
// the bucket policy for anonymous callers, under their own Sids.
func ExampleTranslate_guestReadCreate() {
	d := policy.Translate(policy.Input{
		Bucket:            "amplify-demo-bucket",
		SidPrefix:         policy.SidPrefix("app1", "dev", "photos"),
		Unauthenticated:   []policy.Permission{policy.CreateAndUpdate, policy.Read},
		PublicGuestAccess: true,
	})
	printJSON(d.UnauthRole)
	printJSON(d.Bucket)
	// Output:
	// {
	//   "Version": "2012-10-17",
	//   "Statement": [
	//     {
	//       "Sid": "Amplifybackendd8a2f88c6acd6c8cfPublic",
	//       "Effect": "Allow",
	//       "Action": [
	//         "s3:PutObject",
	//         "s3:GetObject"
	//       ],
	//       "Resource": [
	//         "arn:aws:s3:::amplify-demo-bucket/public/*"
	//       ]
	//     },
	//     {
	//       "Sid": "Amplifybackendd8a2f88c6acd6c8cfUploads",
	//       "Effect": "Allow",
	//       "Action": [
	//         "s3:PutObject"
	//       ],
	//       "Resource": [
	//         "arn:aws:s3:::amplify-demo-bucket/uploads/*"
	//       ]
	//     },
	//     {
	//       "Sid": "Amplifybackendd8a2f88c6acd6c8cfReadProtected",
	//       "Effect": "Allow",
	//       "Action": [
	//         "s3:GetObject"
	//       ],
	//       "Resource": [
	//         "arn:aws:s3:::amplify-demo-bucket/protected/*"
	//       ]
	//     },
	//     {
	//       "Sid": "Amplifybackendd8a2f88c6acd6c8cfList",
	//       "Effect": "Allow",
	//       "Action": [
	//         "s3:ListBucket"
	//       ],
	//       "Resource": [
	//         "arn:aws:s3:::amplify-demo-bucket"
	//       ],
	//       "Condition": {
	//         "StringLike": {
	//           "s3:prefix": [
	//             "public/",
	//             "public/*",
	//             "protected/",
	//             "protected/*"
	//           ]
	//         }
	//       }
	//     }
	//   ]
	// }
	// [
	//   {
	//     "Sid": "Amplifybackendd8a2f88c6acd6c8cfGuestPublic",
	//     "Effect": "Allow",
	//     "Principal": "*",
	//     "Action": [
	//       "s3:PutObject",
	//       "s3:GetObject"
	//     ],
	//     "Resource": [
	//       "arn:aws:s3:::amplify-demo-bucket/public/*"
	//     ]
	//   },
	//   {
	//     "Sid": "Amplifybackendd8a2f88c6acd6c8cfGuestUploads",
	//     "Effect": "Allow",
	//     "Principal": "*",
	//     "Action": [
	//       "s3:PutObject"
	//     ],
	//     "Resource": [
	//       "arn:aws:s3:::amplify-demo-bucket/uploads/*"
	//     ]
	//   },
	//   {
	//     "Sid": "Amplifybackendd8a2f88c6acd6c8cfGuestReadProtected",
	//     "Effect": "Allow",
	//     "Principal": "*",
	//     "Action": [
	//       "s3:GetObject"
	//     ],
	//     "Resource": [
	//       "arn:aws:s3:::amplify-demo-bucket/protected/*"
	//     ]
	//   },
	//   {
	//     "Sid": "Amplifybackendd8a2f88c6acd6c8cfGuestList",
	//     "Effect": "Allow",
	//     "Principal": "*",
	//     "Action": [
	//       "s3:ListBucket"
	//     ],
	//     "Resource": [
	//       "arn:aws:s3:::amplify-demo-bucket"
	//     ],
	//     "Condition": {
	//       "StringLike": {
	//         "s3:prefix": [
	//           "public/",
	//           "public/*",
	//           "protected/",
	//           "protected/*"
	//         ]
	//       }
	//     }
	//   }
	// ]
}

// Our statements join a bucket policy that already holds somebody else's.
func ExampleMergeBucketPolicy() {
	existing := []byte(`{"Version":"2012-10-17","Id":"corp","Statement":[{"Sid":"DenyHTTP","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`)
	prefix := policy.SidPrefix("app1", "dev", "photos")
	ours := policy.Translate(policy.Input{
		Bucket: "b", SidPrefix: prefix, Unauthenticated: []policy.Permission{policy.Read}, PublicGuestAccess: true,
	}).Bucket[:1]

	merged, empty, err := policy.MergeBucketPolicy(existing, prefix, ours)
	fmt.Println(string(merged), empty, err)
	// Output:
	// {"Version":"2012-10-17","Id":"corp","Statement":[{"Sid":"DenyHTTP","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},{"Sid":"Amplifybackendd8a2f88c6acd6c8cfGuestPublic","Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/public/*"]}]} false <nil>
}
