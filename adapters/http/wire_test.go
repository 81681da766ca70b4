package http_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// wireTally is what one stretch of PostgreSQL traffic did, read off the
// wire protocol itself (no server statistics, nothing asynchronous):
//   - RoundTrips: the server's ReadyForQuery messages, one per exchange the
//     client waited on;
//   - Commits: transactions (explicit, or the implicit one of a statement
//     or a pipelined batch) that ran at least one statement and ended
//     committed;
//   - WriteCommits: those of them that wrote (an INSERT, UPDATE or DELETE,
//     or a call of a VOLATILE function of the schema): the commits that
//     flush the write-ahead log, which is what a durable commit costs;
//   - Statements: the statements run, transaction by transaction, for the
//     failure message.
type wireTally struct {
	RoundTrips, Commits, WriteCommits int
	Statements                        []string
}

func (w wireTally) String() string {
	return fmt.Sprintf("%d round trip(s), %d commit(s) (%d writing)\n    %s", w.RoundTrips, w.Commits, w.WriteCommits, strings.Join(w.Statements, "\n    "))
}

// wireRecorder follows the PostgreSQL protocol on the connections of one
// pool: the client's Parse/Bind/Query messages (which statement runs) and
// the server's CommandComplete/ErrorResponse/ReadyForQuery (what ran, and
// where transactions end).
type wireRecorder struct {
	mu       sync.Mutex
	volatile *regexp.Regexp // calls of the schema's VOLATILE functions
	tally    wireTally
}

// wiredPool is a one-connection pool of the runtime role whose traffic rec
// follows.
func wiredPool(t *testing.T, db *pgtest.DB) (*pgxpool.Pool, *wireRecorder) {
	t.Helper()
	rec := &wireRecorder{}
	var names []string
	for _, n := range db.VolatileFunctions(t) {
		names = append(names, regexp.QuoteMeta(n))
	}
	if len(names) == 0 {
		t.Fatal("no volatile functions in the schema: is the query broken?")
	}
	rec.volatile = regexp.MustCompile(`\b(` + strings.Join(names, "|") + `)\s*\(`)

	cfg, err := pgxpool.ParseConfig(db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	cfg.ConnConfig.TLSConfig = nil // the protocol is read in the clear
	cfg.ConnConfig.Fallbacks = nil
	var d net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &wiredConn{Conn: c, rec: rec, named: map[string]string{}}, nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, rec
}

// take returns what was recorded since the last take, and starts afresh.
func (r *wireRecorder) take() wireTally {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tally
	r.tally = wireTally{}
	return t
}

type wiredConn struct {
	net.Conn
	rec            *wireRecorder
	out, in        []byte
	startupSent    bool
	named          map[string]string // prepared statement → SQL
	unnamed        string
	pending        []string // statements sent, not yet answered
	txStatements   []string
	txWrites       bool
	txFailed       bool
	txRolledBack   bool
	protocolBroken bool
}

func (c *wiredConn) Write(b []byte) (int, error) {
	c.rec.mu.Lock()
	c.out = append(c.out, b...)
	c.readFrontend()
	c.rec.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *wiredConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.rec.mu.Lock()
		c.in = append(c.in, b[:n]...)
		c.readBackend()
		c.rec.mu.Unlock()
	}
	return n, err
}

func cstring(b []byte) (string, []byte) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return string(b), nil
	}
	return string(b[:i]), b[i+1:]
}

// readFrontend consumes the client's complete messages.
func (c *wiredConn) readFrontend() {
	for !c.protocolBroken {
		if !c.startupSent { // StartupMessage: length, then payload, no type byte
			if len(c.out) < 4 {
				return
			}
			n := int(binary.BigEndian.Uint32(c.out))
			if len(c.out) < n {
				return
			}
			c.out, c.startupSent = c.out[n:], true
			continue
		}
		if len(c.out) < 5 {
			return
		}
		typ, n := c.out[0], int(binary.BigEndian.Uint32(c.out[1:]))
		if n < 4 {
			c.protocolBroken = true
			return
		}
		if len(c.out) < 1+n {
			return
		}
		body := c.out[5 : 1+n]
		c.out = c.out[1+n:]
		switch typ {
		case 'P': // Parse: name, query, …
			name, rest := cstring(body)
			query, _ := cstring(rest)
			if name == "" {
				c.unnamed = query
			} else {
				c.named[name] = query
			}
		case 'B': // Bind: portal, statement, …
			_, rest := cstring(body)
			stmt, _ := cstring(rest)
			q := c.unnamed
			if stmt != "" {
				q = c.named[stmt]
			}
			c.pending = append(c.pending, q)
		case 'Q': // simple query
			q, _ := cstring(body)
			c.pending = append(c.pending, q)
		}
	}
}

var whitespace = regexp.MustCompile(`\s+`)

// readBackend consumes the server's complete messages.
func (c *wiredConn) readBackend() {
	for !c.protocolBroken {
		if len(c.in) < 5 {
			return
		}
		typ, n := c.in[0], int(binary.BigEndian.Uint32(c.in[1:]))
		if n < 4 {
			c.protocolBroken = true
			return
		}
		if len(c.in) < 1+n {
			return
		}
		body := c.in[5 : 1+n]
		c.in = c.in[1+n:]
		switch typ {
		case 'C': // CommandComplete: the tag of the statement that ran
			tag, _ := cstring(body)
			q := ""
			if len(c.pending) > 0 {
				q, c.pending = c.pending[0], c.pending[1:]
			}
			verb, _, _ := strings.Cut(tag, " ")
			switch verb {
			case "INSERT", "UPDATE", "DELETE", "MERGE":
				c.txWrites = true
			case "ROLLBACK":
				c.txRolledBack = true
			case "SELECT":
				if c.rec.volatile.MatchString(q) {
					c.txWrites = true
				}
			}
			q = strings.TrimSpace(whitespace.ReplaceAllString(q, " "))
			if len(q) > 110 {
				q = q[:110] + "…"
			}
			c.txStatements = append(c.txStatements, q)
		case 'E': // ErrorResponse: the transaction will not commit
			c.txFailed = true
		case 'Z': // ReadyForQuery: one exchange done; status I = no transaction open
			c.pending = nil
			t := &c.rec.tally
			t.RoundTrips++
			if len(body) == 1 && body[0] == 'I' && len(c.txStatements) > 0 {
				outcome := "committed"
				if c.txFailed || c.txRolledBack {
					outcome = "rolled back"
				} else {
					t.Commits++
					if c.txWrites {
						t.WriteCommits++
						outcome = "committed, wrote"
					}
				}
				t.Statements = append(t.Statements, "["+strings.Join(c.txStatements, " ; ")+"] "+outcome)
				c.txStatements, c.txWrites, c.txFailed, c.txRolledBack = nil, false, false, false
			}
		}
	}
}
