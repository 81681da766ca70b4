package argon2

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/core"
)

type countingObserver struct {
	mu       sync.Mutex
	admitted int
	shed     map[string]int
}

func (o *countingObserver) HashAdmitted(time.Duration) { o.mu.Lock(); o.admitted++; o.mu.Unlock() }
func (o *countingObserver) HashShed(reason string) {
	o.mu.Lock()
	if o.shed == nil {
		o.shed = map[string]int{}
	}
	o.shed[reason]++
	o.mu.Unlock()
}

// LOAD-01: with every slot busy and the queue full, a hash is refused at
// once with ErrOverloaded — a 503 service_unavailable Fault — and counted.
func TestLimiter_LOAD01_FullQueue_ShedsAtOnce(t *testing.T) {
	l, err := NewLimiter(Limits{Concurrency: 1, Queue: 1}) // Wait 0: the waiter waits without bound
	if err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{}
	l.SetObserver(obs)
	release, err := l.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	waiterIn := make(chan error, 1)
	go func() {
		r, err := l.Acquire() // the one place in the queue
		if err == nil {
			r()
		}
		waiterIn <- err
	}()
	for !l.Saturated() { // the waiter has queued (no timing: wait for the state)
		time.Sleep(time.Millisecond)
	}
	for range 5 {
		if _, err := l.Acquire(); !errors.Is(err, ErrOverloaded) {
			t.Fatalf("Acquire with a full queue: %v, want ErrOverloaded", err)
		}
	}
	if err := l.Shed(context.Background()); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Shed: %v", err)
	}
	var f *core.Fault
	if !errors.As(ErrOverloaded, &f) || f.Kind != core.FaultHashOverloaded || core.ErrorCode(ErrOverloaded) != core.CodeUnavailable {
		t.Fatalf("ErrOverloaded = %#v, want a Fault of kind %q (service_unavailable)", ErrOverloaded, core.FaultHashOverloaded)
	}
	release() // the waiter gets the slot
	if err := <-waiterIn; err != nil {
		t.Fatalf("queued Acquire: %v, want the slot once it freed", err)
	}
	if l.Saturated() {
		t.Fatal("Saturated with every slot free")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.admitted != 2 || obs.shed[ShedQueueFull] != 6 || obs.shed[ShedWaitTimed] != 0 {
		t.Fatalf("observer: admitted %d, shed %v; want 2 admitted, 6 queue_full", obs.admitted, obs.shed)
	}
}

// LOAD-01: a queued hash that does not get a slot within Wait is shed
// (wait_timeout), and the slot stays with its holder.
func TestLimiter_LOAD01_WaitBound_Sheds(t *testing.T) {
	l, err := NewLimiter(Limits{Concurrency: 1, Queue: 4, Wait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{}
	l.SetObserver(obs)
	release, err := l.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := l.Acquire(); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Acquire past its wait: %v, want ErrOverloaded", err)
	}
	if obs.shed[ShedWaitTimed] != 1 {
		t.Fatalf("shed %v, want one wait_timeout", obs.shed)
	}
	if l.waiting.Load() != 0 {
		t.Fatalf("%d still counted as waiting after the timeout", l.waiting.Load())
	}
}

// LOAD-01: no queue at all: a busy slot sheds the next hash at once; a
// free one admits it.
func TestLimiter_LOAD01_NoQueue(t *testing.T) {
	l, err := NewLimiter(Limits{Concurrency: 2, Queue: 0, Wait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r1, err1 := l.Acquire()
	r2, err2 := l.Acquire()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !l.Saturated() {
		t.Fatal("not Saturated with both slots busy and no queue")
	}
	if _, err := l.Acquire(); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("third Acquire: %v, want ErrOverloaded", err)
	}
	r1()
	r3, err := l.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	r2()
	r3()
}

// LOAD-01: a shed hash does no work: the Hasher's Verify, VerifyDummy and
// Hash all return ErrOverloaded without running argon2id, alike for a
// known and an unknown email's path.
func TestHasher_LOAD01_Saturated_ShedsEveryMethod(t *testing.T) {
	l, err := NewLimiter(Limits{Concurrency: 1, Queue: 0})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewLimited(Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, l)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash("a password")
	if err != nil {
		t.Fatal(err)
	}
	release, err := l.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ran := 0
	testHookHashing = func() { ran++ }
	t.Cleanup(func() { testHookHashing = nil })
	if _, _, err := h.Verify(enc, "a password"); !errors.Is(err, ErrOverloaded) {
		t.Errorf("Verify: %v", err)
	}
	if err := h.VerifyDummy("a password"); !errors.Is(err, ErrOverloaded) {
		t.Errorf("VerifyDummy: %v", err)
	}
	if _, err := h.Hash("a password"); !errors.Is(err, ErrOverloaded) {
		t.Errorf("Hash: %v", err)
	}
	if ran != 0 {
		t.Fatalf("%d hashes ran while shed", ran)
	}
}

func TestLimits_Validate(t *testing.T) {
	for _, l := range []Limits{{Concurrency: 0}, {Concurrency: 1, Queue: -1}, {Concurrency: 1, Wait: -time.Second}} {
		if _, err := NewLimiter(l); err == nil {
			t.Errorf("NewLimiter(%+v) accepted", l)
		}
	}
	if d := DefaultLimits(); d.Concurrency < 1 || d.Queue != d.Concurrency || d.Wait <= 0 || d.Validate() != nil {
		t.Errorf("DefaultLimits() = %+v", d)
	}
}

// LOAD-01: a request shed because every slot is busy and the queue full is
// held ShedHold before its answer (the tarpit), whether the HTTP layer's
// early check (Shed) or the hasher (Acquire) refused it; a hash shed after
// waiting Wait is not held again; the hold ends with the request's context.
// The sleep is recorded, not timed.
func TestLimiter_LOAD01_ShedHold_HoldsQueueFullShedsOnly(t *testing.T) {
	l, err := NewLimiter(Limits{Concurrency: 1, Queue: 1, Wait: time.Millisecond, ShedHold: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var holds []time.Duration
	l.sleep = func(ctx context.Context, d time.Duration) {
		mu.Lock()
		holds = append(holds, d)
		mu.Unlock()
	}
	release, err := l.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := l.Acquire(); !errors.Is(err, ErrOverloaded) { // queued, then shed after Wait: not held
		t.Fatalf("queued Acquire: %v, want ErrOverloaded after Wait", err)
	}
	if len(holds) != 0 {
		t.Fatalf("a wait_timeout shed was held: %v", holds)
	}
	l.waiting.Add(1) // the queue's one place taken: the next ones are queue_full
	defer l.waiting.Add(-1)
	if _, err := l.Acquire(); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Acquire, queue full: %v", err)
	}
	if err := l.Shed(context.Background()); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Shed: %v", err)
	}
	if len(holds) != 2 || holds[0] != time.Hour || holds[1] != time.Hour {
		t.Fatalf("holds = %v, want two of ShedHold (1h)", holds)
	}

	// The real sleep ends with the request: a client that has gone is not
	// held (an hour's hold would otherwise outlast the test's deadline).
	l.sleep = sleepCtx
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Shed(ctx); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Shed with an ended context: %v", err)
	}
}
