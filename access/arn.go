package access

import "strings"

// AnyResource is the resource of an action that names none (ListS3Buckets,
// the server's system-wide routes): only a statement whose Resource
// matches the string "*", such as "*" itself, applies to it, as in IAM.
const AnyResource = "*"

// Scope builds the ARNs of this server's resources, in the formats of the
// service authorization reference for AWS Amplify Admin:
//
//	app (backend)  arn:aws:amplifybackend:REGION:ACCOUNT:/backend/APP/
//	environment    arn:aws:amplifybackend:REGION:ACCOUNT:/backend/APP/environments/ENV
//	job            arn:aws:amplifybackend:REGION:ACCOUNT:/backend/APP/job/ENV/JOBID
//	token          arn:aws:amplifybackend:REGION:ACCOUNT:/backend/APP/challenge/SESSION
//
// so the reference's patterns (…:/backend/APP/*, …:/backend/APP/environments/*,
// …:/backend/APP/job/*) cover what they name there. An app-wide call acts
// on the app's ARN, which ends in "/" so that …:/backend/APP/* covers it.
type Scope struct {
	// Partition is "aws" unless set.
	Partition string
	Region    string
	// Account is the 12-digit account the ARNs name.
	Account string
}

// DefaultAccount is the account ARNs name unless one is configured.
const DefaultAccount = "000000000000"

func (s Scope) prefix() string {
	p := s.Partition
	if p == "" {
		p = "aws"
	}
	a := s.Account
	if a == "" {
		a = DefaultAccount
	}
	return "arn:" + p + ":" + ServicePrefix + ":" + s.Region + ":" + a + ":/backend/"
}

// Bucket is the ARN of an S3 bucket. No policy here names one: a refused
// import names the bucket it would share rather than the environments
// that already use it, which the caller may not be allowed to know of.
func (s Scope) Bucket(name string) string {
	p := s.Partition
	if p == "" {
		p = "aws"
	}
	return "arn:" + p + ":s3:::" + name
}

// App is the ARN of an app (the reference's "backend").
func (s Scope) App(appID string) string {
	return s.prefix() + Segment(appID) + "/"
}

// Environment is the ARN of an app's backend environment.
func (s Scope) Environment(appID, env string) string {
	return s.prefix() + Segment(appID) + "/environments/" + Segment(env)
}

// Job is the ARN of a job of an environment.
func (s Scope) Job(appID, env, jobID string) string {
	return s.prefix() + Segment(appID) + "/job/" + Segment(env) + "/" + Segment(jobID)
}

// Token is the ARN of a sign-in challenge of an app.
func (s Scope) Token(appID, sessionID string) string {
	return s.prefix() + Segment(appID) + "/challenge/" + Segment(sessionID)
}

// segmentEscaper escapes what would let a name pose as more of an ARN
// (the path separator) or as a pattern (the wildcards), and the escape
// character itself so escaping stays reversible.
var segmentEscaper = strings.NewReplacer("%", "%25", "/", "%2F", "*", "%2A", "?", "%3F")

// Segment is a name as it appears in an ARN: "%", "/", "*" and "?"
// percent-escaped, everything else as it is. A policy naming an app whose
// id holds one of those writes it escaped.
func Segment(name string) string {
	if !strings.ContainsAny(name, "%/*?") {
		return name
	}
	return segmentEscaper.Replace(name)
}
