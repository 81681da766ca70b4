// Command authbench is sessiond's closed-loop load generator: one goroutine
// per virtual client, each sending its next request as soon as the previous
// one is answered, over the public HTTP API only. It seeds tenants, users and
// background sessions directly in PostgreSQL, measures the floors (argon2id,
// Ed25519, pgbench with the schema's hot statements) and, per scenario,
// prints one table row (requests/s, latency percentiles, errors by status and
// problem code, server and PostgreSQL CPU per request) and writes the same as
// JSON. scripts/bench.sh (make bench) runs it against a private cluster and
// a freshly built server; see bench/README.md.
//
//	authbench [flags]              seed, measure floors, run scenarios
//	authbench -keygen FILE         write a private Ed25519 JWK Set for the server
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond/adapters/jose"
)

type options struct {
	scenarios       []string
	concurrency     int
	loginC          int
	floodLogins     int
	perChain        int
	mix             string
	d, warmup       time.Duration
	pprof           string
	base            string
	tenants, users  int
	sessions        int
	password        string
	out             string
	serverPID       int
	pgPIDs          []int
	pgDatadir       string
	db, appDB       string
	doSeed, floors  bool
	floorD          time.Duration
	pgbench         string
	pgbenchC        int
	argon2N         int
	oraclePairs     int
	oracleWarm      int
	wait            time.Duration
	keygen          string
	auditEvents     int
	auditTenants    int
	auditUsers      int
	auditDays       int
	deliveryEvents  int
	deliveryTenants int
	receiverCert    string
	receiver        string
	totp            totpOptions
}

func main() {
	if err := mainErr(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "authbench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("authbench", flag.ContinueOnError)
	scen := fs.String("scenario", "all", "scenarios: a comma list of "+strings.Join(scenarioNames, ", ")+", or all")
	fs.IntVar(&o.concurrency, "c", 32, "virtual clients (closed loop)")
	fs.IntVar(&o.loginC, "login-c", 8, "virtual clients of the login scenario")
	fs.IntVar(&o.floodLogins, "flood-logins", 64, "flood: sign-in clients besides the -c readers")
	fs.IntVar(&o.perChain, "per-chain", 8, "refresh-contended: clients sharing one session")
	fs.StringVar(&o.mix, "mix", "70,25,5", "mixed: percentages of me, refresh, login")
	fs.DurationVar(&o.d, "d", 20*time.Second, "measured duration per scenario")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unrecorded warm-up per scenario")
	fs.StringVar(&o.base, "base", "http://127.0.0.1:8080", "server root URL (the API is under /api/v1)")
	fs.IntVar(&o.tenants, "tenants", 10, "seeded tenants")
	fs.IntVar(&o.users, "users", 1000, "seeded users per tenant")
	fs.IntVar(&o.sessions, "sessions", 10000, "seeded background sessions")
	fs.StringVar(&o.password, "password", "bench-password-1", "password of every seeded user")
	fs.StringVar(&o.out, "out", "bench/results", "directory for the JSON results")
	fs.IntVar(&o.serverPID, "server-pid", 0, "server process id, for CPU accounting")
	pgPIDs := fs.String("pg-pids", "", "PostgreSQL root process ids (the postmaster), comma separated; their children are counted too")
	fs.StringVar(&o.pgDatadir, "pg-datadir", "", "PostgreSQL data directory (its postmaster.pid names the root process)")
	fs.StringVar(&o.db, "db", os.Getenv("MIGRATION_DATABASE_URL"), "superuser DSN for seeding (default $MIGRATION_DATABASE_URL)")
	fs.StringVar(&o.appDB, "app-db", os.Getenv("DATABASE_URL"), "runtime-role DSN for the pgbench floor (default $DATABASE_URL)")
	fs.BoolVar(&o.doSeed, "seed", true, "seed tenants, users and sessions before running")
	fs.BoolVar(&o.floors, "floors", true, "measure the floors")
	fs.DurationVar(&o.floorD, "floor-d", 0, "duration of each pgbench floor (default: -d)")
	fs.StringVar(&o.pgbench, "pgbench", "", "pgbench binary (default: newest /usr/lib/postgresql/*/bin/pgbench)")
	fs.IntVar(&o.pgbenchC, "pgbench-c", 32, "pgbench clients")
	fs.IntVar(&o.argon2N, "argon2-n", 8, "argon2id hashes timed for the login floor")
	fs.IntVar(&o.oraclePairs, "oracle-pairs", 200, "oracle: measured pairs (known, unknown email) of each kind")
	fs.IntVar(&o.oracleWarm, "oracle-warm", 20, "oracle: unrecorded pairs of each kind first")
	fs.DurationVar(&o.wait, "wait", 30*time.Second, "how long to wait for the server's /readyz")
	fs.IntVar(&o.auditEvents, "audit-events", 10_000_000, "audit: seeded audit events (only when the audit scenario runs), spread over -audit-tenants and -audit-days")
	fs.IntVar(&o.auditTenants, "audit-tenants", 1000, "audit: tenants the seeded audit events belong to")
	fs.IntVar(&o.auditUsers, "audit-users", 20, "audit: users per audit tenant (u0 the owner), the events' actors and subjects")
	fs.IntVar(&o.auditDays, "audit-days", 90, "audit: the seeded events span this many days back from now (the default retention)")
	fs.IntVar(&o.deliveryEvents, "delivery-events", 5000, "webhook-delivery: events the server delivers to the local receiver")
	fs.IntVar(&o.deliveryTenants, "delivery-tenants", 4, "webhook-delivery: tenants with an endpoint each, the events round robin over them (the server serves WEBHOOK_CONCURRENCY, 4, accounts at once)")
	fs.StringVar(&o.receiverCert, "receiver-cert", "", "write a TLS certificate and key for 127.0.0.1 (cert.pem, key.pem) into this directory and exit")
	fs.StringVar(&o.receiver, "receiver", "", "webhook-delivery: directory with the receiver's cert.pem and key.pem (the server trusts cert.pem: WEBHOOK_CA_FILE)")
	totpFlags(fs, &o.totp)
	fs.StringVar(&o.keygen, "keygen", "", "write a private Ed25519 JWK Set to this file and exit")
	fs.StringVar(&o.pprof, "pprof", "", "the server's PPROF_ADDR root URL (e.g. http://127.0.0.1:6060): capture a CPU profile of each scenario's measured window into -out")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(*scen, ",") {
		switch s = strings.TrimSpace(s); s {
		case "":
		case "all":
			o.scenarios = append(o.scenarios, scenarioNames...)
		default:
			o.scenarios = append(o.scenarios, s)
		}
	}
	for _, p := range strings.Split(*pgPIDs, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return o, fmt.Errorf("-pg-pids: %q is not a process id", p)
		}
		o.pgPIDs = append(o.pgPIDs, n)
	}
	if o.floorD == 0 {
		o.floorD = o.d
	}
	if o.tenants < 1 || o.users < 1 || o.sessions < 0 || o.perChain < 1 || o.oraclePairs < 1 || o.oracleWarm < 0 {
		return o, errors.New("-tenants, -users, -per-chain and -oracle-pairs must be positive, -sessions and -oracle-warm not negative")
	}
	return o, nil
}

func parseMix(s string) (me, login float64, err error) {
	f := strings.Split(s, ",")
	if len(f) != 3 {
		return 0, 0, fmt.Errorf("-mix %q: want three percentages me,refresh,login", s)
	}
	var v [3]float64
	for i, x := range f {
		if v[i], err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil || v[i] < 0 {
			return 0, 0, fmt.Errorf("-mix %q: %q is not a percentage", s, x)
		}
	}
	sum := v[0] + v[1] + v[2]
	if sum <= 0 {
		return 0, 0, fmt.Errorf("-mix %q: the shares add up to zero", s)
	}
	return v[0] / sum, v[2] / sum, nil
}

func writeKeySet(path string) error {
	k, err := jose.GenerateEd25519()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(gojose.JSONWebKeySet{Keys: []gojose.JSONWebKey{k}}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// postmasterPID reads the first line of DATADIR/postmaster.pid.
func postmasterPID(datadir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(datadir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

func mainErr(args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.keygen != "" {
		return writeKeySet(o.keygen)
	}
	if o.receiverCert != "" {
		return writeReceiverCert(o.receiverCert)
	}
	mixMe, mixLogin, err := parseMix(o.mix)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &benchRun{o: o, mixMe: mixMe, mixLogin: mixLogin, stdout: stdout, log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	if err := b.prepare(ctx); err != nil {
		return err
	}
	defer b.probe.db.close()
	if o.floors {
		if err := b.measureFloors(ctx); err != nil {
			return err
		}
	}
	if err := b.runScenarios(ctx); err != nil {
		return err
	}
	b.print()
	return nil
}

// benchRun is one invocation: its options, what it learnt of the machine
// and what it measured, in the order mainErr takes the steps.
type benchRun struct {
	o       options
	stdout  io.Writer
	log     *slog.Logger
	machine Machine
	probe   cpuProbe
	stamp   string // the JSON files' common prefix
	sp      seedSpec

	mixMe, mixLogin float64 // the mixed scenario's shares (-mix)

	auditSeedSeconds float64
	totpUsers        *totpPool
	floors           *Floors
	api              *api

	results    []Result
	oracle     []OraclePair
	auditPlans []AuditPlan
}

// prepare learns the machine, seeds when asked, enrols the TOTP users the
// scenarios need and waits for the server.
func (b *benchRun) prepare(ctx context.Context) error {
	o := &b.o
	if o.pgDatadir != "" {
		pid, err := postmasterPID(o.pgDatadir)
		if err != nil {
			return fmt.Errorf("-pg-datadir: %w", err)
		}
		o.pgPIDs = append(o.pgPIDs, pid)
	}
	b.probe = cpuProbe{serverPID: o.serverPID, pgRoots: o.pgPIDs}
	host, _ := os.Hostname()
	b.machine = Machine{Cores: runtime.NumCPU(), GoOS: runtime.GOOS + "/" + runtime.GOARCH, Hostname: host}
	if o.db != "" {
		var err error
		if b.machine.Fsync, b.machine.PGVer, err = dbFacts(ctx, o.db); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		if b.machine.Fsync != "on" {
			b.log.Warn("PostgreSQL runs with fsync off: the figures do not represent a durable setup")
		}
	}
	b.sp = seedSpec{tenants: o.tenants, users: o.users, sessions: o.sessions, password: o.password}
	if slices.Contains(o.scenarios, "audit") {
		b.sp.auditEvents, b.sp.auditTenants, b.sp.auditUsers, b.sp.auditDays = o.auditEvents, o.auditTenants, o.auditUsers, o.auditDays
		b.sp.auditSeedSeconds = &b.auditSeedSeconds
	}
	if o.doSeed {
		if o.db == "" {
			return errors.New("seeding needs -db (or MIGRATION_DATABASE_URL): a superuser DSN")
		}
		if err := seed(ctx, o.db, b.sp, b.log); err != nil {
			return err
		}
	}
	if wantsTOTP(o.scenarios) {
		var err error
		if b.totpUsers, err = prepareTOTP(ctx, o.totp, o.db, o.doSeed, o.tenants, o.password, b.log); err != nil {
			return err
		}
	}
	if err := waitReady(ctx, o.base, o.wait); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	b.probe.db = newDBProbe(ctx, o.db)
	b.stamp = time.Now().UTC().Format("2006-01-02T15-04-05Z")
	b.api = newAPI(o.base, max(o.concurrency+o.floodLogins, o.loginC))
	return nil
}

// measureFloors measures what the scenarios are compared with: argon2id
// and Ed25519 in process, and pgbench's rotation write and authenticated
// read when it can.
func (b *benchRun) measureFloors(ctx context.Context) error {
	o := b.o
	b.floors = &Floors{}
	b.log.Info("measuring floors: argon2id, Ed25519")
	if err := measureCrypto(b.floors, o.argon2N); err != nil {
		return fmt.Errorf("floors: %w", err)
	}
	switch bin, err := findPgbench(o.pgbench); {
	case err != nil:
		b.floors.PgbenchSkipped = "pgbench not found"
	case o.appDB == "":
		b.floors.PgbenchSkipped = "no -app-db"
	case o.sessions < 1:
		b.floors.PgbenchSkipped = "no seeded sessions"
	default:
		b.log.Info("measuring floors: pgbench", "bin", bin, "clients", o.pgbenchC, "each", o.floorD)
		if err := measurePgbench(ctx, b.floors, bin, o.appDB, o.pgbenchC, o.floorD, b.sp); err != nil {
			return fmt.Errorf("floors: %w", err)
		}
	}
	if b.floors.PgbenchSkipped != "" {
		b.log.Warn("pgbench floor skipped", "why", b.floors.PgbenchSkipped)
	}
	if err := b.write("floors", b.floors); err != nil {
		return err
	}
	fmt.Fprint(b.stdout, floorsTable(*b.floors))
	return nil
}

// write stores one JSON result beside the run's others.
func (b *benchRun) write(name string, v any) error {
	return writeFile(filepath.Join(b.o.out, b.stamp+"-"+name+".json"), v)
}

// runScenarios runs the scenarios in order. flood is read against its
// readers alone, measured just before it in the same run (flood-solo): the
// ratios compare like with like.
func (b *benchRun) runScenarios(ctx context.Context) error {
	var names []string
	for _, name := range b.o.scenarios {
		if name == "flood" {
			names = append(names, "flood-solo")
		}
		names = append(names, name)
	}
	for _, name := range names {
		var err error
		switch name {
		case "oracle":
			err = b.runOracle(ctx)
		case "webhook-delivery":
			err = b.runDelivery(ctx)
		default:
			err = b.runLoad(ctx, name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// runOracle runs the known/unknown email pairs (not closed-loop).
func (b *benchRun) runOracle(ctx context.Context) error {
	o := b.o
	b.log.Info("running", "scenario", "oracle", "pairs", o.oraclePairs, "warm-up pairs", o.oracleWarm)
	started := time.Now().UTC()
	ps, err := runOracle(ctx, b.api, b.population(), o.oraclePairs, o.oracleWarm)
	if err != nil {
		return err
	}
	b.oracle = ps
	return b.write("oracle", OracleResult{Scenario: "oracle", StartedAt: started, Kinds: ps, Machine: b.machine})
}

// runDelivery measures the webhook delivery worker.
func (b *benchRun) runDelivery(ctx context.Context) error {
	r, err := benchDelivery(ctx, b.env(), b.o, b.probe, b.log)
	if err != nil {
		return err
	}
	r.Machine = b.machine
	if err := b.write("webhook-delivery", r); err != nil {
		return err
	}
	fmt.Fprint(b.stdout, deliveryTable(r))
	return nil
}

func (b *benchRun) population() population {
	return population{tenants: b.o.tenants, users: b.o.users, password: b.o.password}
}

func (b *benchRun) env() env { return env{api: b.api, pop: b.population(), totp: b.totpUsers} }

// runLoad runs one closed-loop scenario and keeps its result.
func (b *benchRun) runLoad(ctx context.Context, name string) error {
	o := b.o
	var err error
	if name == "audit" {
		if b.auditPlans, err = explainAudit(ctx, o.appDB, o.auditTenants, o.auditUsers, o.auditDays); err != nil {
			return fmt.Errorf("audit: EXPLAIN: %w", err)
		}
	}
	spec, err := newScenario(name, b.env(), scenarioOptions{concurrency: o.concurrency, loginConcurrency: o.loginC, floodLogins: o.floodLogins,
		perChain: o.perChain, mixMe: b.mixMe, mixLogin: b.mixLogin, auditTenants: o.auditTenants, auditUsers: o.auditUsers, auditDays: o.auditDays})
	if err != nil {
		return err
	}
	b.log.Info("running", "scenario", name, "clients", spec.clients, "warmup", o.warmup, "duration", o.d)
	var profiled func() (string, error)
	if o.pprof != "" {
		profiled = captureProfile(ctx, o.pprof, o.out, b.stamp, name, o.warmup, o.d)
	}
	rr, err := run(ctx, spec, o.warmup, o.d, b.probe)
	if err != nil {
		return err
	}
	if profiled != nil {
		if path, err := profiled(); err != nil {
			b.log.Warn("no CPU profile", "scenario", name, "err", err)
		} else {
			b.log.Info("CPU profile", "scenario", name, "file", path)
		}
	}
	r := b.result(name, spec, rr)
	if err := b.write(name, r); err != nil {
		return err
	}
	b.results = append(b.results, r)
	b.api.hc.CloseIdleConnections()
	return nil
}

// result summarises one closed-loop run.
func (b *benchRun) result(name string, spec scenarioSpec, rr runResult) Result {
	o := b.o
	r := Result{
		Scenario: name, StartedAt: rr.started.UTC(), Concurrency: spec.clients,
		Duration: roundTo(rr.window.Seconds(), 3), Warmup: o.warmup.Seconds(),
		Sessions: o.sessions, Tenants: o.tenants, Users: o.users,
		OpSummary: summarize(rr.samples, rr.window),
		CPU:       cpuPerRequest(rr.cpuStart, rr.cpuEnd, len(rr.samples)),
		Ops:       byOp(rr.samples, rr.window),
		Floors:    b.floors, Machine: b.machine,
	}
	r.Floor = floorFor(name, r.RPS, b.floors)
	if name == "audit" {
		r.Audit = &AuditInfo{Events: o.auditEvents, Tenants: o.auditTenants, UsersPerTenant: o.auditUsers, Days: o.auditDays,
			SeedSeconds: b.auditSeedSeconds, Plans: b.auditPlans}
		r.Tenants, r.Users = o.auditTenants, o.auditUsers
	}
	return r
}

// print writes the tables of everything measured.
func (b *benchRun) print() {
	o, m, w := b.o, b.machine, b.stdout
	if len(b.results) > 0 {
		fmt.Fprintf(w, "\n%s, %d cores, PostgreSQL %s (fsync %s), %d tenants x %d users, %d background sessions\n\n",
			time.Now().UTC().Format("2006-01-02"), m.Cores, m.PGVer, m.Fsync, o.tenants, o.users, o.sessions)
		fmt.Fprint(w, tableHeader)
		for _, r := range b.results {
			fmt.Fprint(w, tableRow(r))
		}
		for _, r := range b.results {
			if line := outcomesLine(r); line != "" {
				fmt.Fprintln(w, "\n"+line)
			}
		}
		for _, r := range b.results {
			if r.Audit != nil {
				fmt.Fprint(w, "\n"+auditInfoTable(*r.Audit))
			}
		}
		if s := floodSummary(b.results, b.floors); s != "" {
			fmt.Fprint(w, "\n"+s)
		}
		if s := totpSummary(b.results, b.totpUsers); s != "" {
			fmt.Fprint(w, "\n"+s)
		}
	}
	if b.oracle != nil {
		fmt.Fprintf(w, "\n%s, %d cores, PostgreSQL %s (fsync %s)\n", time.Now().UTC().Format("2006-01-02"), m.Cores, m.PGVer, m.Fsync)
		fmt.Fprint(w, oracleTable(b.oracle))
	}
	if len(b.results) > 0 || b.oracle != nil {
		fmt.Fprintf(w, "\nJSON: %s/%s-*.json\n", o.out, b.stamp)
	}
}

// floorFor relates a scenario's rate to its floor: refresh to the pgbench
// rotation write, me to the pgbench authenticated read, login to cores ÷
// argon2id CPU time.
func floorFor(scenario string, rps float64, f *Floors) *FloorRatio {
	if f == nil {
		return nil
	}
	var name string
	var rate float64
	switch scenario {
	case "refresh":
		name, rate = "pgbench rotate", f.RotatePerS
	case "me":
		name, rate = "pgbench read", f.ReadPerS
	case "login", "login-totp": // one argon2id hash per sign-in either way
		name, rate = "argon2id", f.LoginFloorPerS
	}
	if rate <= 0 {
		return nil
	}
	return &FloorRatio{Name: name, Rate: rate, Ratio: roundTo(rps/rate, 3)}
}

func floorsTable(f Floors) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nFloors (%d cores)\n\n| floor | value |\n|---|---:|\n", f.Cores)
	fmt.Fprintf(&b, "| argon2id hash (m=19456 KiB, t=2, p=1), CPU | %.1f ms (wall %.1f ms) |\n", f.Argon2CPUMs, f.Argon2WallMs)
	fmt.Fprintf(&b, "| login floor = cores ÷ hash CPU | %.1f/s |\n", f.LoginFloorPerS)
	fmt.Fprintf(&b, "| Ed25519 sign / verify | %.1f / %.1f µs |\n", f.Ed25519SignUs, f.Ed25519VerifyUs)
	fmt.Fprintf(&b, "| go-jose JWS sign / parse+verify | %.1f / %.1f µs |\n", f.JoseSignUs, f.JoseVerifyUs)
	if f.PgbenchSkipped != "" {
		fmt.Fprintf(&b, "| pgbench | skipped: %s |\n", f.PgbenchSkipped)
	} else {
		fmt.Fprintf(&b, "| pgbench (a) tenant + rotation UPDATE, pipelined, %d clients | %.0f/s (avg %.2f ms) |\n", f.PgbenchClients, f.RotatePerS, f.RotateLatencyMs)
		fmt.Fprintf(&b, "| pgbench (b) tenant + liveness + user read, pipelined, %d clients | %.0f/s (avg %.2f ms) |\n", f.PgbenchClients, f.ReadPerS, f.ReadLatencyMs)
	}
	return b.String()
}

func writeFile(path string, v any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeJSON(f, v); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
