package policy

// Permission is one element of an Amplify storage permission list, as it
// arrives in resourceConfig.permissions.authenticated / unAuthenticated. It is
// a string type so the wire value, the stored value and the value translated
// here are the same thing with no mapping table in between.
type Permission string

// The three elements the AmplifyBackend API knows. Each maps to one S3 object
// action (see the package documentation for the full translation).
const (
	// Read lets the user download objects and list the prefixes they may see.
	Read Permission = "READ"
	// CreateAndUpdate lets the user upload objects, including to uploads/.
	CreateAndUpdate Permission = "CREATE_AND_UPDATE"
	// Delete lets the user remove objects.
	Delete Permission = "DELETE"
)

// Valid reports whether p is one of the three elements. Translate silently
// skips anything else so that it can stay total; callers that accept
// permissions from a client use Valid to reject them with a 400 first.
func (p Permission) Valid() bool {
	switch p {
	case Read, CreateAndUpdate, Delete:
		return true
	}
	return false
}

// permissionSet is a permission list reduced to what matters for translation:
// which elements are present. Duplicates and order in the input vanish here,
// which is what makes Translate insensitive to both.
type permissionSet struct {
	read, write, delete bool
}

func setOf(ps []Permission) permissionSet {
	var s permissionSet
	for _, p := range ps {
		switch p {
		case Read:
			s.read = true
		case CreateAndUpdate:
			s.write = true
		case Delete:
			s.delete = true
		}
	}
	return s
}

func (s permissionSet) empty() bool { return !s.read && !s.write && !s.delete }

// objectActions lists the S3 object actions granted on the public, protected
// and private paths, in the order the Amplify CLI writes them (create, read,
// delete) so our documents diff cleanly against Amplify-generated ones.
func (s permissionSet) objectActions() Strings {
	var a Strings
	if s.write {
		a = append(a, actionPut)
	}
	if s.read {
		a = append(a, actionGet)
	}
	if s.delete {
		a = append(a, actionDelete)
	}
	return a
}
