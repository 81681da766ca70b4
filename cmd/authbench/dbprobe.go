package main

// Database work per request, beside CPU (cpu.go): the database's committed
// and rolled-back transactions (pg_stat_database) and the server's write
// system calls (/proc/<pid>/io syscw), each read at the measured window's
// edges.
//
// Both are approximate, and labelled so where printed. A backend flushes its
// transaction counts to pg_stat_database when it goes idle, at most once a
// second, so each edge misses up to about a second of every busy backend's
// transactions (alike at both edges under steady load). The server writes
// once per round trip to PostgreSQL (pgconn sends what it has in one write
// before it waits; TestRoundTrips_PerRequest counts the same writes on the
// wire) and once per HTTP answer (a small answer leaves net/http's buffer in
// one write); anything else it writes (a log line, the runtime waking its
// poller) adds to the count, which is why it is a cross-check of the exact
// counts in adapters/http's tests, not a substitute.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// dbProbe reads pg_stat_database for one database on its own connection.
type dbProbe struct {
	mu   sync.Mutex
	conn *pgx.Conn
}

// newDBProbe connects to dsn; nil (no figures) when it cannot.
func newDBProbe(ctx context.Context, dsn string) *dbProbe {
	if dsn == "" {
		return nil
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil
	}
	return &dbProbe{conn: conn}
}

func (p *dbProbe) close() {
	if p != nil {
		_ = p.conn.Close(context.Background())
	}
}

// xacts is the database's transactions so far (committed + rolled back),
// as far as the backends have reported them.
func (p *dbProbe) xacts() (int64, bool) {
	if p == nil {
		return 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int64
	if err := p.conn.QueryRow(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		return 0, false
	}
	return n, true
}

// procWrites reads syscw (write system calls so far) from /proc/<pid>/io.
func procWrites(pid int) (int64, bool) {
	if pid <= 0 {
		return 0, false
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, false
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "syscw:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
