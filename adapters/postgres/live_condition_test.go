package postgres_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The live-session condition is written once, as session_live
// (migrations/00017; docs/session-rules.md): a query of queries/ that
// compares a session's deadlines with a time, or tests revoked_at IS NULL
// next to one, spells the condition out instead of calling the function,
// and would drift from it when the rule changes.
func TestQueries_LiveConditionWrittenOnce(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "queries", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("queries/*.sql: %v (%d files)", err, len(files))
	}
	deadline := regexp.MustCompile(`(?i)\b(idle_expires_at|absolute_expires_at)\s*(>|>=|<|<=)\s*[@$(]`)
	calls := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			code, _, _ := strings.Cut(line, "--")
			if deadline.MatchString(code) {
				t.Errorf("%s:%d writes the live-session condition out; call session_live(revoked_at, idle_expires_at, absolute_expires_at, now):\n\t%s",
					filepath.Base(f), i+1, strings.TrimSpace(line))
			}
			calls += strings.Count(code, "session_live(")
		}
	}
	// Every live query of sessions.sql and the auth-state read of mfa.sql.
	if calls < 9 {
		t.Errorf("queries/ call session_live %d times, want at least 9: did a query stop checking liveness?", calls)
	}
}
