package access

// match reports whether s matches the glob pattern p, where '*' matches
// any run of bytes (the empty one included) and '?' exactly one
// character. It works in linear space and, with the usual backtracking
// to the last star only, in O(len(p)*len(s)) time at worst, so a hostile
// pattern cannot make evaluation blow up.
func match(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == '?':
			pi++
			si += runeLen(s[si:])
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark += runeLen(s[mark:])
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// runeLen is the length in bytes of the UTF-8 character s starts with (1
// for a byte that starts none), so '?' stands for a character, not a byte.
func runeLen(s string) int {
	c := s[0]
	switch {
	case c < 0xC0:
		return 1
	case c < 0xE0 && len(s) >= 2:
		return 2
	case c < 0xF0 && len(s) >= 3:
		return 3
	case len(s) >= 4:
		return 4
	}
	return 1
}
