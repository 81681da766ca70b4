package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// Concurrency: what the store's locks and conditional writes promise when
// requests race. Each case releases its goroutines at once (together);
// those that run a transaction hold every racer at a barrier inside it
// until all are open, so the store's lock orders them. Only outcomes that
// hold for every interleaving are checked — no sleeps, no timing.

// testConcurrentRotateIfCurrent: the same refresh token presented by
// several requests at once rotates once: exactly one RotateIfCurrent is
// ok, the others miss (false, nil error) and the row holds the winner's
// token, one generation on (docs/session-rules.md §4).
func testConcurrentRotateIfCurrent(t *testing.T, e *env) {
	tn := e.newTenant()
	s := e.newSession(tn.account, tn.owner.ID, defaultSpec)
	fs := e.lock(tn.account, s.ID)
	now := t0.Add(time.Minute)
	var rs [racers]core.Rotation
	var ok [racers]bool
	var errs [racers]error
	// One statement each, no transaction to hold them in: warm connections
	// let them reach the database together (most likely queued on the row).
	e.warm(tn.account, racers)
	together(racers, func(i int, b *barrier) {
		rs[i] = rotation(fs, now)
		b.wait(i)
		_, ok[i], errs[i] = e.s.RotateIfCurrent(e.ctx, tn.account, guard(fs, s.JTIHash, now), rs[i])
	})
	winner := onlyWinner(t, "RotateIfCurrent: rotated the same token", errs[:], func(i int) bool { return ok[i] })
	after := e.lock(tn.account, s.ID)
	if !bytes.Equal(after.CurrentJTIHash, rs[winner].NewJTIHash) || after.Generation != fs.Generation+1 {
		t.Errorf("row after the race: generation %d (want %d), current token not the winner's", after.Generation, fs.Generation+1)
	}
}

// testConcurrentLockAndRotate: the refresh slow path under the row lock:
// of several transactions that lock the session and rotate the token they
// present when it is still current, exactly one rotates; every other one,
// once it holds the lock, reads the winner's token as current and its own
// as previous — it sees it lost (docs/session-rules.md §4: "exactly one
// rotation happens (row lock)").
func testConcurrentLockAndRotate(t *testing.T, e *env) {
	tn := e.newTenant()
	s := e.newSession(tn.account, tn.owner.ID, defaultSpec)
	now := t0.Add(time.Minute)
	var rotated [racers][]byte // the new token of a transaction that rotated
	var seen [racers]core.FamilyState
	var errs [racers]error
	together(racers, func(i int, b *barrier) {
		errs[i] = e.s.InTenantTx(e.ctx, tn.account, func(tx core.TenantTx) error {
			if _, err := tx.SessionOwner(e.ctx, s.ID); err != nil {
				return err
			}
			b.wait(i)
			fs, err := tx.SessionLockForRefresh(e.ctx, s.ID)
			if err != nil {
				return err
			}
			seen[i] = fs
			if !bytes.Equal(fs.CurrentJTIHash, s.JTIHash) {
				return nil // lost: the presented token is no longer current
			}
			r := rotation(fs, now)
			rotated[i] = r.NewJTIHash
			return tx.SessionRotate(e.ctx, r)
		})
	})
	winner := onlyWinner(t, "rotated (the lock did not serialise them)", errs[:], func(i int) bool { return rotated[i] != nil })
	for i := range racers {
		if i != winner && (!bytes.Equal(seen[i].CurrentJTIHash, rotated[winner]) || !bytes.Equal(seen[i].PreviousJTIHash, s.JTIHash)) {
			t.Errorf("#%d read under the lock a row that does not show the winner's rotation: %+v", i, seen[i])
		}
	}
	if after := e.lock(tn.account, s.ID); after.Generation != seen[winner].Generation+1 {
		t.Errorf("generation after the race = %d, want %d (one rotation)", after.Generation, seen[winner].Generation+1)
	}
}

// testConcurrentRecordFailure: failures recorded at once on the same keys
// each count (LGN-05): each call sees a different count, the last the
// total; keys named in opposite orders by concurrent calls are counted
// too (no call fails on the other's locks).
func testConcurrentRecordFailure(t *testing.T, e *env) {
	k1, k2 := core.ThrottleKey(uuid.NewString()), core.DeviceThrottleKey(uuid.NewString())
	wide := core.ThrottleRule{Threshold: 100, BaseDelay: time.Second, MaxDelay: time.Second, Window: time.Hour}
	var states [racers][]core.ThrottleState
	var errs [racers]error
	e.warm(e.newTenant().account, racers)
	together(racers, func(i int, b *barrier) {
		keys := [][]byte{k1, k2}
		if i%2 == 1 {
			keys = [][]byte{k2, k1}
		}
		b.wait(i)
		states[i], errs[i] = e.s.RecordFailure(e.ctx, core.FailureRecord{Keys: keys, Now: t0, Rule: wide})
	})
	var seen1 []int
	for i := range racers {
		if errs[i] != nil || len(states[i]) != 2 {
			t.Fatalf("RecordFailure #%d = %v, %v", i, states[i], errs[i])
		}
		first := states[i][0] // k1 when i is even, k2 when odd
		if i%2 == 1 {
			first = states[i][1]
		}
		seen1 = append(seen1, first.Failures)
	}
	slices.Sort(seen1)
	if !slices.Equal(seen1, []int{1, 2, 3}[:racers]) {
		t.Errorf("counts returned for k1 = %v, want each of 1…%d once", seen1, racers)
	}
	for _, k := range [][]byte{k1, k2} {
		if st, err := e.s.ThrottleCheck(e.ctx, k, t0); err != nil || st.Failures != racers {
			t.Errorf("ThrottleCheck after the race = %+v, %v; want %d failures", st, err, racers)
		}
	}
}

// testConcurrentInvitationAccept: an invitation accepted by several
// requests at once is accepted once: each locks it by its token
// (InvitationLockByToken) and accepts only while it is not accepted yet;
// exactly one does, and the row names that one's user (INV-03).
func testConcurrentInvitationAccept(t *testing.T, e *env) {
	tn := e.newTenant()
	inv := invitationAt(tn, t0, time.Hour)
	h := e.newInvitation(inv)
	var users [racers]uuid.UUID
	for i := range users {
		users[i] = e.newUser(tn).ID
	}
	var accepted [racers]bool
	var errs [racers]error
	now := t0.Add(time.Minute)
	together(racers, func(i int, b *barrier) {
		errs[i] = e.s.InTenantTx(e.ctx, tn.account, func(tx core.TenantTx) error {
			if _, err := tx.UserGet(e.ctx, users[i]); err != nil {
				return err
			}
			b.wait(i)
			got, err := tx.InvitationLockByToken(e.ctx, h)
			if err != nil || got.AcceptedAt != nil {
				return err
			}
			accepted[i] = true
			return tx.InvitationAccept(e.ctx, got.ID, users[i], now)
		})
	})
	winner := onlyWinner(t, "accepted the invitation", errs[:], func(i int) bool { return accepted[i] })
	if got, err := e.invitationByToken(tn.account, h); err != nil || got.AcceptedUserID == nil || *got.AcceptedUserID != users[winner] {
		t.Errorf("invitation after the race = %+v, %v; want accepted by #%d's user", got, err, winner)
	}
}

// testConcurrentSignInEviction: concurrent sign-ins of one user under the
// limit's "evict_oldest" (docs/session-rules.md §2) each lock the user
// (UserLockForSignIn), evict beyond limit-1 and create their session: they
// pass one at a time, so the user ends with exactly limit live sessions
// and every other one was evicted once.
func testConcurrentSignInEviction(t *testing.T, e *env) {
	const limit = 2
	tn := e.newTenant()
	u := tn.owner.ID
	for range limit {
		e.newSession(tn.account, u, defaultSpec)
	}
	now := t0.Add(time.Minute)
	var evicted [racers][]uuid.UUID
	var errs [racers]error
	together(racers, func(i int, b *barrier) {
		errs[i] = e.s.InTenantTx(e.ctx, tn.account, func(tx core.TenantTx) error {
			if _, err := tx.UserGet(e.ctx, u); err != nil {
				return err
			}
			b.wait(i)
			if _, err := tx.UserLockForSignIn(e.ctx, u); err != nil {
				return err
			}
			var err error
			if evicted[i], err = tx.SessionEvictBeyond(e.ctx, u, limit-1, now, core.ReasonEvicted); err != nil {
				return err
			}
			return tx.SessionCreate(e.ctx, sessionAt(u, now, defaultSpec))
		})
	})
	var all []uuid.UUID
	for i := range racers {
		if errs[i] != nil {
			t.Fatalf("sign-in #%d: %v", i, errs[i])
		}
		all = append(all, evicted[i]...)
	}
	var n int
	e.tx(tn.account, func(tx core.TenantTx) (err error) { n, err = tx.SessionCountLive(e.ctx, u, now); return err })
	slices.SortFunc(all, compareIDs)
	if n != limit || len(all) != racers || len(slices.Compact(all)) != racers {
		t.Errorf("after %d concurrent sign-ins: %d live sessions (want %d), evicted %v (want %d distinct)", racers, n, limit, all, racers)
	}
}

// onlyWinner checks a race's outcome: no racer failed, and exactly one won
// (did what); it returns the winner's index.
func onlyWinner(t *testing.T, did string, errs []error, won func(i int) bool) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer #%d: %v", i, err)
		}
		if won(i) {
			if winner >= 0 {
				t.Errorf("#%d and #%d both %s", winner, i, did)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no racer %s", did)
	}
	return winner
}
