package http_test

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/jose"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// The limits of client-supplied values are written down three times: in
// openapi.yaml (minLength, maxLength, minimum, maximum, minItems, maxItems,
// pattern), in core (constants and validation) and in the schema (CHECK
// constraints of the migrations). The tests below keep the three equal.
// Every bound the spec states and every numeric CHECK the database holds
// must be accounted for here: compared with core's, or listed with the
// reason it stands alone. A new bound in either place fails until it is.

// span is an inclusive range; a nil end is unbounded.
type span struct{ min, max *int }

func between(lo, hi int) span { return span{&lo, &hi} }

func (s span) String() string {
	f := func(p *int) string {
		if p == nil {
			return "∞"
		}
		return strconv.Itoa(*p)
	}
	return f(s.min) + ".." + f(s.max)
}

func (s span) equal(o span) bool { return s.String() == o.String() }

// agree compares two bounds of a kind of value. For lengths, no minimum
// and a minimum of 1 are the same rule: "not empty" is checked apart
// wherever an empty value means something (core refuses it, or reads it
// as "no filter").
func agree(kind string, a, b span) bool {
	if kind == "length" {
		a.min, b.min = atLeastOne(a.min), atLeastOne(b.min)
	}
	return a.equal(b)
}

func atLeastOne(p *int) *int {
	if p == nil || *p < 1 {
		return ptr(1)
	}
	return p
}

// specBound is what openapi.yaml says about one value: its length (strings),
// value (integers) and item count (arrays) bounds, its pattern and its
// description (which often repeats the range in words).
type specBound struct {
	length, value, items span
	pattern, desc        string
	def                  any
}

func boundOf(s *openapi3.Schema, desc string) (specBound, bool) {
	b := specBound{pattern: s.Pattern, desc: desc + " " + s.Description, def: s.Default}
	if s.MinLength > 0 {
		n := int(s.MinLength)
		b.length.min = &n
	}
	if s.MaxLength != nil {
		n := int(*s.MaxLength)
		b.length.max = &n
	}
	if s.Min != nil {
		n := int(*s.Min)
		b.value.min = &n
	}
	if s.Max != nil {
		n := int(*s.Max)
		b.value.max = &n
	}
	if s.MinItems > 0 {
		n := int(s.MinItems)
		b.items.min = &n
	}
	if s.MaxItems != nil {
		n := int(*s.MaxItems)
		b.items.max = &n
	}
	bounded := b.length.min != nil || b.length.max != nil || b.value.min != nil || b.value.max != nil ||
		b.items.min != nil || b.items.max != nil || b.pattern != ""
	return b, bounded
}

// specBounds returns every bounded value of openapi.yaml, keyed
// "Schema.property" (component schemas), "operationId?param" (an
// operation's own parameters), "parameter Name" (component parameters) and
// "header Name" (component response headers).
func specBounds(t *testing.T) (map[string]specBound, *openapi3.T) {
	t.Helper()
	doc, err := httpadapter.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]specBound{}
	for name, ref := range doc.Components.Schemas {
		for prop, p := range ref.Value.Properties {
			if b, ok := boundOf(p.Value, ""); ok {
				out[name+"."+prop] = b
			}
		}
	}
	for name, ref := range doc.Components.Parameters {
		if ref.Value.Schema == nil {
			continue
		}
		if b, ok := boundOf(ref.Value.Schema.Value, ref.Value.Description); ok {
			out["parameter "+name] = b
		}
	}
	for name, ref := range doc.Components.Headers {
		if ref.Value.Schema == nil {
			continue
		}
		if b, ok := boundOf(ref.Value.Schema.Value, ref.Value.Description); ok {
			out["header "+name] = b
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if p.Ref != "" || p.Value.Schema == nil {
					continue // a component parameter, above
				}
				if b, ok := boundOf(p.Value.Schema.Value, p.Value.Description); ok {
					out[op.OperationID+"?"+p.Value.Name] = b
				}
			}
		}
	}
	return out, doc
}

// propertyDescription is a component schema property's description.
func propertyDescription(t *testing.T, doc *openapi3.T, key string) string {
	t.Helper()
	schema, prop, _ := strings.Cut(key, ".")
	s := doc.Components.Schemas[schema]
	if s == nil || s.Value.Properties[prop] == nil {
		t.Fatalf("openapi.yaml has no %s", key)
	}
	return s.Value.Properties[prop].Value.Description
}

// rangeInWords finds a range the text states ("8–128 characters",
// "1…100", "(1–200)").
var rangeInWords = regexp.MustCompile(`(\d+)\s*(?:–|…|\.\.)\s*(\d+)`)

// checkWords fails when text states a range other than want.
func checkWords(t *testing.T, where, text string, want span) {
	t.Helper()
	for _, m := range rangeInWords.FindAllStringSubmatch(text, -1) {
		lo, _ := strconv.Atoi(m[1])
		hi, _ := strconv.Atoi(m[2])
		if got := between(lo, hi); !got.equal(want) {
			t.Errorf("%s: its description says %s, the limit is %s", where, got, want)
		}
	}
}

// dbRef names one bounded expression of a table's CHECK constraints as
// pg_get_constraintdef prints it: a column, or length(column) or
// cardinality(column).
type dbRef struct{ table, expr string }

func (r dbRef) String() string { return r.table + ": " + r.expr }

// checkBound matches the comparisons of a column with a constant in a CHECK
// definition: "(length(name) >= 1)", "(max_sessions_per_user <= 100)",
// "(session_idle_minutes > 0)" (BETWEEN is stored as >= AND <=).
var checkBound = regexp.MustCompile(`\(((?:\w+\()?\w+\)?) (>=|<=|>|<) (-?\d+)\)`)

// dbBounds reads the numeric bounds of every CHECK constraint on the
// schema's tables (not partitions, not Citus shards) from the catalog of a
// migrated database.
func dbBounds(t *testing.T) (map[dbRef]span, func(table, column string) string) {
	t.Helper()
	db := pgtest.Shared(t)
	shard := regexp.MustCompile(`_\d+$`)
	out := map[dbRef]span{}
	for _, c := range db.CheckConstraints(t) {
		table, def := shard.ReplaceAllString(c[0], ""), c[1]
		for _, m := range checkBound.FindAllStringSubmatch(def, -1) {
			ref := dbRef{table, m[1]}
			n, _ := strconv.Atoi(m[3])
			s := out[ref]
			switch m[2] {
			case ">=":
				s.min = &n
			case ">":
				n++
				s.min = &n
			case "<=":
				s.max = &n
			case "<":
				n--
				s.max = &n
			}
			out[ref] = s
		}
	}
	return out, func(table, column string) string { return db.ColumnType(t, table, column) }
}

// limit is one client-supplied value whose bound core enforces: every place
// openapi.yaml states it and every CHECK that repeats it must say the same.
type limit struct {
	what string
	// kind of bound the spec keys state: "length", "value" or "items".
	kind string
	spec []string
	core span
	db   []dbRef
	// noDB says why the database holds no CHECK of its own ("" when db
	// lists one).
	noDB string
}

func (b specBound) String() string {
	return "length " + b.length.String() + ", value " + b.value.String() + ", items " + b.items.String() + ", pattern " + b.pattern
}

func (b specBound) of(kind string) span {
	switch kind {
	case "length":
		return b.length
	case "items":
		return b.items
	}
	return b.value
}

// TestLimits_SpecCoreAndSchemaAgree compares every bound of a
// client-supplied value across openapi.yaml, core and the CHECK constraints
// of the migrated schema.
func TestLimits_SpecCoreAndSchemaAgree(t *testing.T) {
	spec, doc := specBounds(t)
	db, columnType := dbBounds(t)
	covered := map[string]bool{}
	coveredDB := map[dbRef]bool{}

	newPasswords := []string{"RegisterRequest.password", "PasswordResetConfirm.new_password",
		"ChangePasswordRequest.new_password", "CreateMemberRequest.password", "AcceptInvitationRequest.password"}
	emails := []string{"RegisterRequest.email", "LoginRequest.email", "LoginForm.username",
		"PasswordResetRequest.email", "CreateMemberRequest.email", "ResendVerificationRequest.email",
		"CreateInvitationRequest.email"}
	userNames := []string{"RegisterRequest.name", "CreateMemberRequest.name", "AcceptInvitationRequest.name",
		"MemberPatch.name", "ProfilePatch.name"}
	pageDefault := map[string]int{
		"listMembers?limit": core.MemberPageDefault, "listInvitations?limit": core.InvitationPageDefault,
		"listAccountSessions?limit": core.AccountSessionPageDefault, "listAuditEvents?limit": core.AuditPageDefault,
		"listWebhookAttempts?limit": core.WebhookAttemptPageDefault,
	}
	limits := []limit{
		{what: "new password", kind: "length", spec: newPasswords, core: between(core.PasswordMinLen, core.PasswordMaxLen),
			noDB: "only its argon2id hash is stored"},
		{what: "email", kind: "length", spec: emails, core: span{max: ptr(core.EmailMaxLen)},
			noDB: "stored only after core.ValidateEmail; users.email's CHECK is its case (lower), not its length"},
		{what: "email_prefix filter", kind: "length", spec: []string{"listMembers?email_prefix"}, core: span{max: ptr(core.EmailMaxLen)},
			noDB: "a query filter, never stored"},
		{what: "user's name", kind: "length", spec: userNames, core: between(1, core.NameMaxLen),
			noDB: "users.name has no CHECK: every write (sign-up, member creation, invitation acceptance, member and profile patch) goes through core's validateName first"},
		{what: "account_name", kind: "length", spec: []string{"RegisterRequest.account_name"}, core: between(1, core.NameMaxLen),
			db: []dbRef{{"accounts", "length(name)"}}},
		{what: "X-Device-Id", kind: "length", spec: []string{"parameter DeviceId"}, core: span{max: ptr(core.MaxDeviceIDChars)},
			noDB: "core.CleanText cuts it to MaxDeviceIDChars before it is stored"},
		{what: "refresh token", kind: "length", spec: []string{"RefreshRequest.refresh_token", "LogoutRequest.refresh_token"},
			core: span{max: ptr(jose.MaxTokenLength)}, noDB: "never stored (only a hash of its jti)"},
		{what: "webhook url", kind: "length", spec: []string{"WebhookEndpointCreate.url", "WebhookEndpointPatch.url"},
			core: span{max: ptr(core.MaxWebhookURLLen)}, db: []dbRef{{"webhook_endpoints", "length(url)"}}},
		{what: "webhook description", kind: "length", spec: []string{"WebhookEndpointCreate.description", "WebhookEndpointPatch.description"},
			core: span{max: ptr(core.MaxWebhookDescriptionLen)}, db: []dbRef{{"webhook_endpoints", "length(description)"}}},
		{what: "recovery codes issued", kind: "items", spec: []string{"RecoveryCodes.recovery_codes", "MfaConfirmed.recovery_codes"},
			core: between(core.RecoveryCodeCount, core.RecoveryCodeCount), noDB: "one row per code"},
		{what: "members page size", kind: "value", spec: []string{"listMembers?limit"}, core: between(1, core.MemberPageMax), noDB: "a query parameter"},
		{what: "invitations page size", kind: "value", spec: []string{"listInvitations?limit"}, core: between(1, core.InvitationPageMax), noDB: "a query parameter"},
		{what: "account sessions page size", kind: "value", spec: []string{"listAccountSessions?limit"}, core: between(1, core.AccountSessionPageMax), noDB: "a query parameter"},
		{what: "audit events page size", kind: "value", spec: []string{"listAuditEvents?limit"}, core: between(1, core.AuditPageMax), noDB: "a query parameter"},
		{what: "webhook attempts page size", kind: "value", spec: []string{"listWebhookAttempts?limit"}, core: between(1, core.WebhookAttemptPageMax), noDB: "a query parameter"},
	}
	// The policy fields whose bound the spec states in words only: a range
	// in the schema would make the request validator answer
	// validation_failed where the documented answer is core's 422
	// policy_out_of_bounds naming the field.
	policy := []struct {
		what, spec string
		core       span
		db         dbRef
	}{
		{"max_sessions_per_user", "SessionPolicyPatch.max_sessions_per_user",
			between(core.MaxSessionsPerUserMin, core.MaxSessionsPerUserMax), dbRef{"accounts", "max_sessions_per_user"}},
		{"reauth_max_age_minutes", "SessionPolicyPatch.reauth_max_age_minutes",
			between(core.ReauthMaxAgeMin, core.ReauthMaxAgeMax), dbRef{"accounts", "reauth_max_age_minutes"}},
	}

	// The constants are what core enforces: core.NewUser.Validate (sign-up,
	// member creation) at each end of each range.
	emailOf := func(n int) string { // a valid address of n bytes, n ≥ 254-ish
		domain := strings.Repeat(strings.Repeat("b", 61)+".", 3)
		return strings.Repeat("a", 64) + "@" + domain + strings.Repeat("c", n-65-len(domain))
	}
	for _, c := range []struct {
		what string
		u    core.NewUser
		ok   bool
	}{
		{"longest email", core.NewUser{Email: emailOf(core.EmailMaxLen)}, true},
		{"email too long", core.NewUser{Email: emailOf(core.EmailMaxLen + 1)}, false},
		{"shortest password", core.NewUser{Password: strings.Repeat("é", core.PasswordMinLen)}, true},
		{"password too short", core.NewUser{Password: strings.Repeat("é", core.PasswordMinLen-1)}, false},
		{"longest password", core.NewUser{Password: strings.Repeat("é", core.PasswordMaxLen)}, true},
		{"password too long", core.NewUser{Password: strings.Repeat("é", core.PasswordMaxLen+1)}, false},
		{"longest name", core.NewUser{Name: strings.Repeat("é", core.NameMaxLen)}, true},
		{"name too long", core.NewUser{Name: strings.Repeat("é", core.NameMaxLen+1)}, false},
		{"empty name", core.NewUser{Name: ""}, false},
	} {
		u := core.NewUser{Email: "limits@example.com", Password: "long enough", Name: "Limits"}
		if c.u.Email != "" {
			u.Email = c.u.Email
		}
		if c.u.Password != "" {
			u.Password = c.u.Password
		}
		if c.u.Name != "" || c.what == "empty name" {
			u.Name = c.u.Name
		}
		if err := u.Validate(); (err == nil) != c.ok {
			t.Errorf("core.NewUser.Validate, %s: %v", c.what, err)
		}
	}

	for _, l := range limits {
		for _, key := range l.spec {
			covered[key] = true
			b, ok := spec[key]
			if !ok {
				t.Errorf("%s: openapi.yaml states no bound at %s", l.what, key)
				continue
			}
			if got := b.of(l.kind); !agree(l.kind, got, l.core) {
				t.Errorf("%s: openapi.yaml %s says %s %s, core says %s", l.what, key, l.kind, got, l.core)
			}
			checkWords(t, key, b.desc, l.core)
			if strings.HasSuffix(key, "?limit") {
				if fmt.Sprint(b.def) != strconv.Itoa(pageDefault[key]) {
					t.Errorf("%s: default %v in openapi.yaml, %d in core", key, b.def, pageDefault[key])
				}
			}
		}
		for _, ref := range l.db {
			coveredDB[ref] = true
			if got, ok := db[ref]; !ok {
				t.Errorf("%s: no CHECK bounds %s", l.what, ref)
			} else if !agree(l.kind, got, l.core) {
				t.Errorf("%s: CHECK on %s says %s, core says %s", l.what, ref, got, l.core)
			}
		}
		if len(l.db) == 0 && l.noDB == "" {
			t.Errorf("%s: neither a CHECK nor the reason there is none", l.what)
		}
	}
	for _, p := range policy {
		covered[p.spec] = true // bounded in words only
		checkWords(t, p.spec, propertyDescription(t, doc, p.spec), p.core)
		if !rangeInWords.MatchString(propertyDescription(t, doc, p.spec)) {
			t.Errorf("%s: the description states no range", p.spec)
		}
		coveredDB[p.db] = true
		if got := db[p.db]; !got.equal(p.core) {
			t.Errorf("%s: CHECK on %s says %s, core says %s", p.what, p.db, got, p.core)
		}
	}

	// Webhook event types: the spec and the CHECK bound the list alike;
	// core takes 1 to every known action, once each, which must fit.
	et := dbRef{"webhook_endpoints", "cardinality(event_types)"}
	coveredDB[et] = true
	for _, key := range []string{"WebhookEndpointCreate.event_types", "WebhookEndpointPatch.event_types"} {
		covered[key] = true
		if got := spec[key].items; !got.equal(db[et]) {
			t.Errorf("%s: openapi.yaml says %s items, the CHECK on %s says %s", key, got, et, db[et])
		}
		if db[et].max == nil || len(core.AuditActions) > *db[et].max || *db[et].min != 1 {
			t.Errorf("%s: core accepts 1..%d event types, the CHECK %s", key, len(core.AuditActions), db[et])
		}
	}

	// Limits and defaults stated in words only, in an operation's or a
	// property's description.
	for _, c := range []struct {
		op   string // an operationId, or Schema.property
		text *regexp.Regexp
		core int
	}{
		{"createWebhookEndpoint", regexp.MustCompile(`At most (\d+) endpoints per account`), core.MaxWebhookEndpoints},
		{"SessionPolicyPatch.reauth_max_age_minutes", regexp.MustCompile(`the default \((\d+)\)`), core.ReauthMaxAgeDefault},
	} {
		var desc string
		if strings.Contains(c.op, ".") {
			desc = propertyDescription(t, doc, c.op)
		}
		for _, item := range doc.Paths.Map() {
			for _, op := range item.Operations() {
				if op.OperationID == c.op {
					desc = op.Description
				}
			}
		}
		m := c.text.FindStringSubmatch(desc)
		if m == nil || m[1] != strconv.Itoa(c.core) {
			t.Errorf("%s: its description should say %q with %d (core), got %q", c.op, c.text, c.core, m)
		}
	}

	// The configurable policy bounds (minutes and retention days): the
	// spec leaves them to the server (AccountSecurity reports them), so
	// the comparison is between what core.PolicySettings.Validate accepts
	// and what the database holds.
	valid := func(mutate func(*core.PolicySettings)) bool {
		s := core.DefaultPolicySettings()
		mutate(&s)
		return s.Validate() == nil
	}
	for _, c := range []struct {
		ref     dbRef
		setMin  func(*core.PolicySettings, int)
		seconds string // the sessions column holding it × 60
	}{
		{dbRef{"accounts", "session_idle_minutes"}, func(s *core.PolicySettings, n int) { s.IdleMin = n }, "idle_seconds"},
		{dbRef{"accounts", "session_absolute_minutes"}, func(s *core.PolicySettings, n int) { s.AbsoluteMin = n }, "absolute_seconds"},
	} {
		coveredDB[c.ref] = true
		sec := dbRef{"sessions", c.seconds}
		coveredDB[sec] = true
		floor := db[c.ref].min
		if floor == nil || db[c.ref].max != nil || db[sec].min == nil || db[sec].max != nil || *db[sec].min > *floor*60 {
			t.Fatalf("CHECK on %s is %s and on %s %s: want a floor alone in minutes, and one that admits it in seconds", c.ref, db[c.ref], sec, db[sec])
		}
		if valid(func(s *core.PolicySettings) { c.setMin(s, *floor-1) }) || !valid(func(s *core.PolicySettings) { c.setMin(s, *floor) }) {
			t.Errorf("core.PolicySettings.Validate: the smallest minimum it accepts is not the CHECK's %d on %s", *floor, c.ref)
		}
		if typ := columnType("sessions", c.seconds); typ != "integer" {
			t.Errorf("sessions.%s is %s; core.PolicyMinutesCeiling assumes integer", c.seconds, typ)
		}
	}
	if core.PolicyMinutesCeiling*60 > math.MaxInt32 || (core.PolicyMinutesCeiling+1)*60 <= math.MaxInt32 {
		t.Errorf("core.PolicyMinutesCeiling %d is not the most minutes whose seconds fit an integer column", core.PolicyMinutesCeiling)
	}
	if valid(func(s *core.PolicySettings) { s.AbsoluteMax = core.PolicyMinutesCeiling + 1 }) ||
		valid(func(s *core.PolicySettings) { s.IdleMax = core.PolicyMinutesCeiling + 1 }) ||
		!valid(func(s *core.PolicySettings) { s.AbsoluteMax = core.PolicyMinutesCeiling }) {
		t.Errorf("core.PolicySettings.Validate does not stop the maxima at %d minutes", core.PolicyMinutesCeiling)
	}
	retention := dbRef{"accounts", "audit_retention_days"}
	coveredDB[retention] = true
	if want := between(core.AuditRetentionFloorDays, core.AuditRetentionCeilingDays); !db[retention].equal(want) {
		t.Errorf("CHECK on %s says %s, core says %s", retention, db[retention], want)
	}
	if valid(func(s *core.PolicySettings) { s.AuditRetentionMax = core.AuditRetentionCeilingDays + 1 }) ||
		!valid(func(s *core.PolicySettings) { s.AuditRetentionMax = core.AuditRetentionCeilingDays }) ||
		valid(func(s *core.PolicySettings) { s.AuditRetentionMin = core.AuditRetentionFloorDays - 1 }) ||
		!valid(func(s *core.PolicySettings) { s.AuditRetentionMin = core.AuditRetentionFloorDays }) {
		t.Errorf("core.PolicySettings.Validate does not take audit retention from %d to %d days",
			core.AuditRetentionFloorDays, core.AuditRetentionCeilingDays)
	}

	// Bounds that stand alone, on purpose.
	specOnly := map[string]string{
		"LoginRequest.password":                  "any length is tried as a password (old passwords predate today's rule); the bound only caps the hashing input",
		"LoginForm.password":                     "as LoginRequest.password",
		"ChangePasswordRequest.current_password": "as LoginRequest.password",
		"VerifyEmailRequest.password":            "as LoginRequest.password",
		"ReauthenticateRequest.password":         "as LoginRequest.password",
		"PasswordResetConfirm.token":             "a server-issued opaque token (43 characters); the bound only caps input, an unknown token is refused alike",
		"VerifyEmailRequest.token":               "as PasswordResetConfirm.token",
		"AcceptInvitationRequest.token":          "as PasswordResetConfirm.token",
		"MfaVerifyRequest.mfa_challenge_token":   "as PasswordResetConfirm.token",
		"MfaVerifyRequest.recovery_code":         "server-issued; the bound only caps input, a wrong code is refused alike",
		"MfaVerifyRequest.code":                  "a TOTP code: six digits (adapters/totp); core refuses any other length alike",
		"TotpConfirmRequest.code":                "as MfaVerifyRequest.code",
		"ReauthenticateRequest.code":             "as MfaVerifyRequest.code",
		"parameter CsrfToken":                    "a server-issued token compared with its cookie; the bound only caps input",
		"listAuditEvents?action_prefix":          "matched against core.AuditActions; a prefix of none is refused",
		"listMembers?cursor":                     "opaque, server-issued (TestLimits_CursorsFitTheSpec checks the longest fits)",
		"listInvitations?cursor":                 "as listMembers?cursor",
		"listAccountSessions?cursor":             "as listMembers?cursor",
		"listAuditEvents?cursor":                 "as listMembers?cursor",
		"listWebhookAttempts?cursor":             "as listMembers?cursor",
		// Answers: what the server sends, not what it accepts.
		"Problem.status":                     "an answer",
		"Invitation.send_count":              "an answer",
		"TokenResponse.expires_in":           "an answer",
		"TokenResponse.csrf_token":           "an answer",
		"MfaChallenge.mfa_challenge_token":   "an answer",
		"MfaStatus.recovery_codes_remaining": "an answer",
		"MfaConfirmed.expires_in":            "an answer",
		"AccessTokenResponse.expires_in":     "an answer",
		"CsrfTokenResponse.csrf_token":       "an answer",
		"RevokedCount.revoked_count":         "an answer",
		"header RetryAfter":                  "an answer",
	}
	dbOnly := map[dbRef]string{
		{"login_throttle", "failures"}:         "a server-maintained counter",
		{"webhook_endpoints", "delivered_seq"}: "a server-maintained sequence",
		{"webhook_attempts", "latency_ms"}:     "a measurement",
	}
	for key := range spec {
		if !covered[key] && specOnly[key] == "" {
			t.Errorf("openapi.yaml bounds %s (%s): compare it with core here, or list it in specOnly with the reason", key, spec[key])
		}
	}
	for key := range specOnly {
		if _, ok := spec[key]; !ok || covered[key] {
			t.Errorf("specOnly lists %s, which openapi.yaml does not bound or which is compared above", key)
		}
	}
	for ref, s := range db {
		if !coveredDB[ref] && dbOnly[ref] == "" {
			t.Errorf("a CHECK bounds %s (%s): compare it with core here, or list it in dbOnly with the reason", ref, s)
		}
	}
	for ref := range dbOnly {
		if _, ok := db[ref]; !ok {
			t.Errorf("dbOnly lists %s, which no CHECK bounds", ref)
		}
	}
}

func ptr(n int) *int { return &n }

// TestLimits_CursorsFitTheSpec: a next_cursor must be accepted back by the
// parameter that takes it. The member list sorted by name carries the
// name in its cursor, so its cursor is the longest: a name of
// core.NameMaxLen characters that JSON escapes to six bytes each.
func TestLimits_CursorsFitTheSpec(t *testing.T) {
	spec, _ := specBounds(t)
	h := newHarness(t)
	_, otk := h.owner(t, "cursorlen")
	at := otk.AccessToken
	h.createMember(t, at, uniqueEmail("cursorlen"), strings.Repeat("<", core.NameMaxLen), "member")
	maxLen := spec["listMembers?cursor"].length.max
	if maxLen == nil {
		t.Fatal("openapi.yaml does not bound listMembers' cursor")
	}
	longest := 0
	for _, sort := range []string{"name", "-name"} {
		cursor := ""
		for page := 0; ; page++ {
			q := url.Values{"sort": {sort}, "limit": {"1"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			res := h.do(t, req{method: "GET", path: "/api/v1/accounts/me/members?" + q.Encode(), bearer: at})
			if res.Status != http.StatusOK {
				t.Fatalf("sort %s page %d with a cursor of %d characters: %d %s", sort, page, len(cursor), res.Status, res.Body)
			}
			var body struct {
				NextCursor *string `json:"next_cursor"`
			}
			res.JSON(t, &body)
			if body.NextCursor == nil {
				break
			}
			cursor = *body.NextCursor
			longest = max(longest, len(cursor))
		}
	}
	if longest > *maxLen {
		t.Errorf("a member list cursor is %d characters; openapi.yaml takes at most %d", longest, *maxLen)
	}
	if longest < 1000 {
		t.Errorf("the longest cursor is only %d characters: the names did not reach it", longest)
	}
	t.Logf("longest member list cursor: %d characters (openapi.yaml: at most %d)", longest, *maxLen)
}
