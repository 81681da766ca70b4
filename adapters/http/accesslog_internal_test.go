package http

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// logRequestBefore is the access-log line as it was written before
// logRequest: Logger.LogAttrs, which reads the clock again and captures the
// caller's program counter. Kept here as the reference the new line is
// compared with (same JSON, same fields) and benchmarked against.
func logRequestBefore(log *slog.Logger, r *http.Request, id string, status int, took time.Duration) {
	ctx := r.Context()
	if !log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.Duration("duration", took))
}

// The access-log line keeps its fields and their order: time, level, msg,
// request_id, method, path (without the query string), status, duration.
// Only the time may differ between the two ways of writing it.
func TestAccessLogLine_SameFieldsAsLogAttrs(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/api/v1/auth/refresh?access_token=secret", nil)
	var before, after bytes.Buffer
	logRequestBefore(slog.New(slog.NewJSONHandler(&before, nil)), r, "abc-1", 200, 1234*time.Microsecond)
	s := &Server{log: slog.New(slog.NewJSONHandler(&after, nil))}
	end := time.Now()
	s.logRequest(r, end, "abc-1", 200, 1234*time.Microsecond)

	keys := func(line []byte) ([]string, map[string]any) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		var order []string
		_, _ = dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			order = append(order, k.(string))
			var skip any
			_ = dec.Decode(&skip)
		}
		return order, m
	}
	ob, mb := keys(before.Bytes())
	oa, ma := keys(after.Bytes())
	if len(ob) != 8 || len(oa) != len(ob) {
		t.Fatalf("fields %v, want %v", oa, ob)
	}
	for i := range ob {
		if oa[i] != ob[i] {
			t.Fatalf("fields %v, want %v", oa, ob)
		}
		if k := ob[i]; k != "time" && ma[k] != mb[k] {
			t.Errorf("%s = %v, want %v", k, ma[k], mb[k])
		}
	}
	if got, _ := time.Parse(time.RFC3339Nano, ma["time"].(string)); !got.Equal(end) {
		t.Errorf("time %v, want the end of the request %v", ma["time"], end)
	}
	if bytes.Contains(after.Bytes(), []byte("secret")) {
		t.Errorf("the query string was logged: %s", after.Bytes())
	}

	// Below info nothing is written.
	after.Reset()
	s.log = slog.New(slog.NewJSONHandler(&after, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s.logRequest(r, end, "abc-1", 200, time.Millisecond)
	if after.Len() != 0 {
		t.Errorf("warn level wrote %q", after.Bytes())
	}
}

// BenchmarkAccessLogLine is one access-log line through the JSON handler
// cmd/sessiond uses (to io.Discard: the write itself is not compared):
// old = Logger.LogAttrs, new = logRequest.
func BenchmarkAccessLogLine(b *testing.B) {
	r := httptest.NewRequest(http.MethodPost, "/api/v1/auth/refresh", nil).WithContext(context.Background())
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := &Server{log: log}
	b.Run("old", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			logRequestBefore(log, r, "0123abcd-1x", 200, time.Since(start))
		}
	})
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			end := time.Now()
			s.logRequest(r, end, "0123abcd-1x", 200, end.Sub(start))
		}
	})
}
