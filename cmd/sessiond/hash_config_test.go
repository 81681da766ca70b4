package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/adapters/argon2"
)

// LOAD-01: the hashing admission control defaults to the limiter's
// defaults (one slot fewer than the cores, one waiting hash per slot);
// HASH_QUEUE follows HASH_CONCURRENCY unless set; bad values stop startup.
func TestConfig_LOAD01_HashLimits_DefaultsAndValidation(t *testing.T) {
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if d := argon2.DefaultLimits(); c.HashLimits != d {
		t.Errorf("defaults: %+v, want %+v", c.HashLimits, d)
	}

	t.Setenv("HASH_CONCURRENCY", "3")
	t.Setenv("HASH_QUEUE_WAIT", "100ms")
	t.Setenv("HASH_SHED_HOLD", "0")
	if c, err = loadConfig(); err != nil {
		t.Fatal(err)
	}
	if want := (argon2.Limits{Concurrency: 3, Queue: 3, Wait: 100 * time.Millisecond}); c.HashLimits != want {
		t.Errorf("HASH_CONCURRENCY=3: %+v, want %+v", c.HashLimits, want)
	}
	t.Setenv("HASH_QUEUE", "0")
	if c, err = loadConfig(); err != nil || c.HashLimits.Queue != 0 {
		t.Errorf("HASH_QUEUE=0: %+v, %v", c.HashLimits, err)
	}

	for _, bad := range [][2]string{{"HASH_CONCURRENCY", "0"}, {"HASH_QUEUE", "-1"}, {"HASH_QUEUE_WAIT", "-1s"}, {"HASH_SHED_HOLD", "-1ms"}} {
		t.Run(bad[0], func(t *testing.T) {
			t.Setenv(bad[0], bad[1])
			if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "HASH_") {
				t.Errorf("%s=%s: err = %v, want a HASH_ error", bad[0], bad[1], err)
			}
		})
	}
}
