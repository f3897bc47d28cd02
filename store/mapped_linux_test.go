package store

import (
	"bufio"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFullCheckLeavesTheFileUnmapped: a full check reads every page of the
// file through bbolt's mapping; afterwards the process keeps almost none of
// them resident (they stay in the page cache), whether the check ran before
// serving or behind the opening. Resident memory at a million jobs is
// docs/benchmarks.md's figure; this holds the mechanism.
func TestFullCheckLeavesTheFileUnmapped(t *testing.T) {
	t.Parallel()
	for _, mode := range []CheckMode{CheckFull, CheckBackground} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "amplifybackendd.db")
			buildStore(t, path)
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := OpenWith(path, Options{Check: mode, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			<-s.Checked()
			if kb := mappedKB(t, path); kb*1024 > info.Size()/4 {
				t.Errorf("after the %s check %d kB of the %d kB file are resident in the mapping", mode, kb, info.Size()/1024)
			}
		})
	}
}

// mappedKB is how much of the file at path this process holds resident
// through its mappings, from /proc/self/smaps.
func mappedKB(t *testing.T, path string) int64 {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kb int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			in = fields[len(fields)-1] == path // a mapping's header line ends with its file
		case in && len(fields) == 3 && fields[0] == "Rss:":
			n, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			kb += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kb
}
