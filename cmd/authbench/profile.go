package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// captureProfile fetches a CPU profile of the server (its PPROF_ADDR) over
// the scenario's measured window — it starts when the warm-up ends — and
// writes it to dir/<stamp>-<scenario>.cpu.pprof, for `go tool pprof`. It
// runs beside the scenario; the returned function waits for it and reports
// where the profile went (or why there is none).
func captureProfile(ctx context.Context, base, dir, stamp, scenario string, warmup, d time.Duration) func() (string, error) {
	type result struct {
		path string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		select {
		case <-time.After(warmup):
		case <-ctx.Done():
			done <- result{err: ctx.Err()}
			return
		}
		secs := max(1, int(d.Seconds()))
		url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			done <- result{err: err}
			return
		}
		res, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			done <- result{err: fmt.Errorf("%s: %s", url, res.Status)}
			return
		}
		path := filepath.Join(dir, stamp+"-"+scenario+".cpu.pprof")
		f, err := os.Create(path)
		if err != nil {
			done <- result{err: err}
			return
		}
		_, err = io.Copy(f, res.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- result{path: path, err: err}
	}()
	return func() (string, error) { r := <-done; return r.path, r.err }
}
