package policy

import "encoding/json"

// Pack spreads doc's statements over as few documents as it can, in order,
// with document i at most limits[i] bytes of JSON as json.Marshal writes
// it (no white space, which is how IAM counts). A statement whose
// resources do not all fit continues in the next document with the same
// Sid, actions and condition, so the documents together grant exactly what
// doc grants. It returns one entry per limit, nil where nothing was put,
// and false when the limits cannot hold doc. The result is deterministic:
// the same doc and limits give the same documents.
//
// An environment's role grants outgrow one inline policy (IAM's 10,240
// characters per role) long before they outgrow the role: Pack is what
// spreads them over the inline policy and customer managed policies of
// 6,144 characters each.
func Pack(doc *Document, limits []int) ([]*Document, bool) {
	out := make([]*Document, len(limits))
	if doc == nil {
		return out, true
	}
	sizes := make([]int, len(limits))
	slot := 0
	for _, st := range doc.Statement {
		bare := st
		bare.Resource = Strings{""}
		b, err := json.Marshal(bare)
		if err != nil {
			return nil, false
		}
		empty := len(b) - len(`""`) // the statement with "Resource":[]
		open := false               // whether out[slot] ends with this statement
		for _, r := range st.Resource {
			rb, err := json.Marshal(r)
			if err != nil {
				return nil, false
			}
			for {
				if slot == len(limits) {
					return nil, false
				}
				if out[slot] == nil {
					out[slot] = &Document{Version: doc.Version}
					sizes[slot] = len(`{"Version":"","Statement":[]}`) + len(doc.Version)
				}
				d := out[slot]
				grow := len(rb)
				if open {
					grow++ // the comma before it
				} else {
					grow += empty
					if len(d.Statement) > 0 {
						grow++
					}
				}
				if sizes[slot]+grow <= limits[slot] {
					if !open {
						next := st
						next.Resource = nil
						d.Statement = append(d.Statement, next)
						open = true
					}
					last := &d.Statement[len(d.Statement)-1]
					last.Resource = append(last.Resource, r)
					sizes[slot] += grow
					break
				}
				if len(d.Statement) == 0 {
					return nil, false // one resource larger than a whole document
				}
				slot++
				open = false
			}
		}
	}
	return out, true
}
