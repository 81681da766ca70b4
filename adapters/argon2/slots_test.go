package argon2

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// A burst of hashes runs at most one per CPU at once; the rest wait.
func TestHasher_HashesAtOnce_BoundedByGOMAXPROCS(t *testing.T) {
	h, err := New(Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	var active, peak atomic.Int32
	testHookHashing = func() {
		n := active.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		runtime.Gosched()
		active.Add(-1)
	}
	t.Cleanup(func() { testHookHashing = nil })
	var wg sync.WaitGroup
	for range 8 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			if _, err := h.Hash("a password"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p := int(peak.Load()); p < 1 || p > runtime.GOMAXPROCS(0) {
		t.Fatalf("%d hashes ran at once, want 1 to GOMAXPROCS (%d)", p, runtime.GOMAXPROCS(0))
	}
}
