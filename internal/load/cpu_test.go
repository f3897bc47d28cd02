package load

import (
	"os"
	"testing"
	"time"
)

// TestStatCPU: utime and stime are found after the command name, even one
// holding spaces and parentheses.
func TestStatCPU(t *testing.T) {
	t.Parallel()
	line := "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 2290 0 0 0 1234 56 0 0 20 0 9 0 123 2000000 3000 18446744073709551615\n"
	got, err := statCPU(4242, line)
	if err != nil || got != 12900*time.Millisecond {
		t.Fatalf("statCPU: %v, %v; want 12.9s", got, err)
	}
	if _, err := statCPU(1, "4242 (x"); err == nil {
		t.Fatal("a line without a closing parenthesis was read")
	}
	if _, err := statCPU(1, "4242 (x) S 1 2"); err == nil {
		t.Fatal("a short line was read")
	}
}

// TestReadCPUGrows: a process's CPU time, read from /proc, grows as it
// computes.
func TestReadCPUGrows(t *testing.T) {
	t.Parallel()
	before, err := ReadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for now := before; now == before; {
		for i := range 1_000_000 {
			x ^= i
		}
		if now, err = ReadCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	_ = x
}
