// The main flow of a frontend, written the way a frontend team writes it:
// types generated from openapi.yaml by openapi-typescript, calls made with
// openapi-fetch. `make contract-client` regenerates the types, type-checks
// this file (tsc --noEmit) and runs it with node against a live sessiond,
// so a spec change that breaks a client breaks CI.
//
//   register → login → me → sessions → refresh → policy read/patch →
//   members and account sessions (list, revoke one, revoke a member's,
//   deactivate, session limit, last owner, remove) → logout
//
// SESSIOND_URL is the server root (e.g. http://127.0.0.1:8080).

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type Problem = components["schemas"]["Problem"];
type TokenResponse = components["schemas"]["TokenResponse"];
type User = components["schemas"]["User"];
type AccountSecurity = components["schemas"]["AccountSecurity"];
type AccountSession = components["schemas"]["AccountSession"];

const base = process.env["SESSIOND_URL"];
if (!base) {
  throw new Error("SESSIOND_URL is not set (make contract-client sets it)");
}

// One base URL reaches every operation: the spec writes its paths out in
// full (the REST API under /api/v1, the platform paths at the root).
const api = createClient<paths>({ baseUrl: base });
const root = api;

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

let passed = 0;

function check(ok: boolean, what: string, detail?: unknown): asserts ok {
  if (!ok) {
    throw new Error(`${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  }
}

function step(name: string): void {
  passed++;
  console.log(`ok   ${name}`);
}

/** The problem a call failed with, checked to be the expected one. */
function expectProblem(r: { error?: Problem; response: Response }, status: number, code: string, what: string): Problem {
  check(r.response.status === status, `${what}: status ${r.response.status}, want ${status}`, r.error);
  check(r.response.headers.get("content-type")?.startsWith("application/problem+json") === true, `${what}: not problem+json`);
  check(r.error !== undefined && r.error.code === code, `${what}: code ${r.error?.code}, want ${code}`, r.error);
  return r.error;
}

// A sign-in answers 200 with tokens or, for a user with a second factor,
// 202 with a challenge: narrow to the tokens before reading them.
function isTokens(d: unknown): d is TokenResponse {
  return typeof d === "object" && d !== null && "access_token" in d;
}

function tokenPair(r: { data?: unknown; response: Response }, what: string): TokenResponse & { refresh_token: string } {
  const t = r.data;
  check(r.response.status === 200 && isTokens(t), `${what}: status ${r.response.status}`, t);
  check(t.token_type === "Bearer" && t.access_token.split(".").length === 3, `${what}: not a bearer JWT`, t);
  check(t.refresh_token !== undefined, `${what}: body transport must return the refresh token`);
  check(t.expires_in > 0, `${what}: expires_in`, t.expires_in);
  const idle = Date.parse(t.idle_expires_at);
  const abs = Date.parse(t.absolute_expires_at);
  check(idle > Date.now() - 60_000 && idle <= abs, `${what}: deadlines`, t);
  check(r.response.headers.get("cache-control") === "no-store", `${what}: tokens must not be cached`);
  return { ...t, refresh_token: t.refresh_token };
}

async function main(): Promise<void> {
  {
    const { data, response } = await root.GET("/readyz");
    check(response.status === 200 && data?.status === "ok", "readyz", data);
    const jwks = await root.GET("/.well-known/jwks.json");
    check(jwks.data !== undefined && jwks.data.keys.length > 0 && jwks.data.keys.every((k) => k.kid !== ""), "jwks", jwks.data);
    step("platform: readyz, jwks");
  }

  // register
  const email = `Contract.Client+${Date.now()}@Example.com`;
  const password = "correct horse battery staple";
  let me: User;
  {
    const { data, response } = await api.POST("/api/v1/auth/register", {
      body: { email, password, name: "Contract Client", account_name: "Contract Co" },
    });
    // The server runs with EMAIL_VERIFICATION=off (scripts/lib/live-server.sh):
    // 201 with the owner; with verification required it would be 202.
    check(response.status === 201 && data !== undefined && "id" in data, `register: status ${response.status}`);
    check(data.email === email.toLowerCase() && data.account_role === "owner" && data.is_active, "register: user", data);
    me = data;
    const again = await api.POST("/api/v1/auth/register", {
      body: { email: email.toUpperCase(), password, name: "Again", account_name: "Again Co" },
    });
    expectProblem(again, 409, "email_taken", "register twice");
    step("register (201; 409 email_taken for the same address in another case)");
  }

  // login (JSON, then the OAuth2 form); a wrong password is the generic 401
  let tokens: TokenResponse & { refresh_token: string };
  {
    const wrong = await api.POST("/api/v1/auth/login/json", { body: { email, password: "not the password" } });
    expectProblem(wrong, 401, "invalid_credentials", "login with a wrong password");
    const form = await api.POST("/api/v1/auth/login", {
      body: { grant_type: "password", username: email, password },
      bodySerializer: (b) => new URLSearchParams(b as Record<string, string>).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    tokenPair(form, "login (form)");
    tokens = tokenPair(
      await api.POST("/api/v1/auth/login/json", {
        body: { email, password },
        params: { header: { "X-Device-Id": "contract-client" } },
      }),
      "login",
    );
    step("login (JSON and OAuth2 form; 401 invalid_credentials)");
  }

  // me
  {
    const { data, response } = await api.GET("/api/v1/auth/me", { headers: bearer(tokens.access_token) });
    check(response.status === 200 && data?.id === me.id && data.account_id === me.account_id, "me", data);
    const anonymous = await api.GET("/api/v1/auth/me");
    expectProblem(anonymous, 401, "invalid_token", "me without a token");
    step("me");
  }

  // sessions
  {
    const { data, response } = await api.GET("/api/v1/sessions", { headers: bearer(tokens.access_token) });
    check(response.status === 200 && data !== undefined, `sessions: status ${response.status}`);
    const current = data.items.filter((s) => s.is_current);
    check(current.length === 1 && current[0]?.id === tokens.session_id, "sessions: current", data);
    check(current[0]?.device_id === "contract-client", "sessions: device id", current[0]);
    step("sessions");
  }

  // refresh
  {
    const next = tokenPair(await api.POST("/api/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }), "refresh");
    check(next.session_id === tokens.session_id, "refresh: same session", next);
    check(next.refresh_token !== tokens.refresh_token && next.access_token !== tokens.access_token, "refresh: rotated");
    check(next.absolute_expires_at === tokens.absolute_expires_at, "refresh: the absolute deadline never moves", next);
    const forged = await api.POST("/api/v1/auth/refresh", { body: { refresh_token: tokens.access_token } });
    expectProblem(forged, 401, "invalid_refresh_token", "an access token as refresh token");
    tokens = next;
    step("refresh (rotates; absolute deadline fixed; access token refused)");
  }

  // policy read / patch (owner)
  {
    const read = await api.GET("/api/v1/accounts/me/security", { headers: bearer(tokens.access_token) });
    check(read.response.status === 200 && read.data !== undefined, `policy read: status ${read.response.status}`);
    const p: AccountSecurity = read.data;
    check(p.idle_minutes === null && p.absolute_minutes === null, "policy read: a new account has no override", p);
    check(p.effective_idle_minutes <= p.effective_absolute_minutes, "policy read: effective", p);
    check(p.idle_minutes_min <= p.effective_idle_minutes && p.effective_idle_minutes <= p.idle_minutes_max, "policy read: bounds", p);
    check(p.max_sessions_per_user === null && p.session_limit_action === "evict_oldest", "policy read: no session limit", p);
    check(p.max_sessions_per_user_min === 1 && p.max_sessions_per_user_max === 100, "policy read: session limit bounds", p);
    step("policy read (flat shape)");
    const patch = await api.PATCH("/api/v1/accounts/me/security", {
      headers: bearer(tokens.access_token),
      body: { idle_minutes: 60, absolute_minutes: null },
    });
    check(patch.response.status === 200 && patch.data !== undefined, `policy patch: status ${patch.response.status}`);
    check(patch.data.idle_minutes === 60 && patch.data.effective_idle_minutes === 60, "policy patch", patch.data);
    const invariant = await api.PATCH("/api/v1/accounts/me/security", {
      headers: bearer(tokens.access_token),
      body: { idle_minutes: patch.data.idle_minutes_max, absolute_minutes: patch.data.absolute_minutes_min },
    });
    expectProblem(invariant, 422, "policy_invariant_violated", "policy patch breaking idle ≤ absolute");
    step("policy patch (200; 422 policy_invariant_violated)");
  }

  // members and every session of the account (owner)
  {
    const owner = bearer(tokens.access_token);
    const memberEmail = `contract.member+${Date.now()}@example.com`;
    const memberPassword = "member password, long enough";
    const created = await api.POST("/api/v1/accounts/me/members", {
      headers: owner,
      body: { email: memberEmail, password: memberPassword, name: "Contract Member", role: "member" },
    });
    check(created.response.status === 201 && created.data !== undefined, `member create: status ${created.response.status}`);
    const member: User = created.data;
    const memberLogin = () => api.POST("/api/v1/auth/login/json", { body: { email: memberEmail, password: memberPassword } });
    const m1 = tokenPair(await memberLogin(), "member login");
    const m2 = tokenPair(await memberLogin(), "member login 2");

    const list = await api.GET("/api/v1/accounts/me/sessions", { headers: owner, params: { query: { user_id: member.id, limit: 1 } } });
    check(list.response.status === 200 && list.data !== undefined, `account sessions: status ${list.response.status}`);
    const first: AccountSession | undefined = list.data.items[0];
    check(list.data.items.length === 1 && first?.user_id === member.id && first.user_email === memberEmail, "account sessions: item", list.data);
    check(first.last_ip_address !== undefined && first.last_user_agent !== undefined, "account sessions: activity fields", first);
    check(list.data.next_cursor !== null, "account sessions: a next page", list.data);
    const next = await api.GET("/api/v1/accounts/me/sessions", {
      headers: owner,
      params: { query: { user_id: member.id, limit: 1, cursor: list.data.next_cursor } },
    });
    check(next.data?.items.length === 1 && next.data.items[0]?.id !== first.id && next.data.next_cursor === null, "account sessions: page 2", next.data);
    step("account sessions (paginated, filtered by user)");

    const cut = await api.DELETE("/api/v1/accounts/me/sessions/{session_id}", { headers: owner, params: { path: { session_id: m1.session_id } } });
    check(cut.response.status === 204, `revoke account session: status ${cut.response.status}`);
    expectProblem(await api.GET("/api/v1/auth/me", { headers: bearer(m1.access_token) }), 401, "invalid_token", "member token after its session was revoked");
    const again = await api.DELETE("/api/v1/accounts/me/sessions/{session_id}", { headers: owner, params: { path: { session_id: m1.session_id } } });
    expectProblem(again, 404, "not_found", "revoking it twice");
    const all = await api.POST("/api/v1/accounts/me/members/{user_id}/revoke-sessions", { headers: owner, params: { path: { user_id: member.id } } });
    check(all.response.status === 200 && all.data?.revoked_count === 1, "revoke member sessions", all.data);
    expectProblem(await api.GET("/api/v1/auth/me", { headers: bearer(m2.access_token) }), 401, "invalid_token", "member token after revoke-sessions");
    step("revoke one session (204; 404 twice), revoke a member's sessions");

    const m3 = tokenPair(await memberLogin(), "member login 3");
    const forbidden = await api.GET("/api/v1/accounts/me/sessions", { headers: bearer(m3.access_token) });
    expectProblem(forbidden, 403, "forbidden", "a member listing the account's sessions");
    const deact = await api.PATCH("/api/v1/accounts/me/members/{user_id}", {
      headers: owner,
      params: { path: { user_id: member.id } },
      body: { is_active: false },
    });
    check(deact.response.status === 200 && deact.data?.is_active === false, "deactivate member", deact.data);
    expectProblem(await api.GET("/api/v1/auth/me", { headers: bearer(m3.access_token) }), 401, "invalid_token", "deactivated member's token");
    expectProblem(await memberLogin(), 401, "invalid_credentials", "deactivated member signing in");
    const react = await api.PATCH("/api/v1/accounts/me/members/{user_id}", {
      headers: owner,
      params: { path: { user_id: member.id } },
      body: { is_active: true },
    });
    check(react.response.status === 200 && react.data?.is_active === true, "reactivate member", react.data);
    step("deactivate (tokens die, 401 on sign-in), reactivate");

    const limit = await api.PATCH("/api/v1/accounts/me/security", {
      headers: owner,
      body: { max_sessions_per_user: 1, session_limit_action: "deny" },
    });
    check(limit.data?.max_sessions_per_user === 1 && limit.data.session_limit_action === "deny", "session limit patch", limit.data);
    tokenPair(await memberLogin(), "member login under the limit");
    expectProblem(await memberLogin(), 409, "session_limit_reached", "member login beyond the limit");
    expectProblem(
      await api.PATCH("/api/v1/accounts/me/security", { headers: owner, body: { max_sessions_per_user: 101 } }),
      422,
      "policy_out_of_bounds",
      "session limit beyond its bounds",
    );
    await api.PATCH("/api/v1/accounts/me/security", { headers: owner, body: { max_sessions_per_user: null } });
    step("session limit (deny: 409 session_limit_reached; 422 out of bounds)");

    const demoteSelf = await api.PATCH("/api/v1/accounts/me/members/{user_id}", {
      headers: owner,
      params: { path: { user_id: me.id } },
      body: { role: "member" },
    });
    expectProblem(demoteSelf, 409, "last_owner", "demoting the last owner");
    const removed = await api.DELETE("/api/v1/accounts/me/members/{user_id}", { headers: owner, params: { path: { user_id: member.id } } });
    check(removed.response.status === 204, `remove member: status ${removed.response.status}`);
    expectProblem(await memberLogin(), 401, "invalid_credentials", "removed member signing in");
    const gone = await api.DELETE("/api/v1/accounts/me/members/{user_id}", { headers: owner, params: { path: { user_id: member.id } } });
    expectProblem(gone, 404, "not_found", "removing twice");
    step("last owner (409), remove member (204; sign-in impossible; 404 twice)");
  }

  // logout: the session ends at once, for both tokens
  {
    const { response } = await api.POST("/api/v1/auth/logout", {
      headers: bearer(tokens.access_token),
      body: { refresh_token: tokens.refresh_token },
    });
    check(response.status === 204, `logout: status ${response.status}`);
    expectProblem(await api.GET("/api/v1/auth/me", { headers: bearer(tokens.access_token) }), 401, "invalid_token", "me after logout");
    expectProblem(
      await api.POST("/api/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }),
      401,
      "invalid_refresh_token",
      "refresh after logout",
    );
    step("logout (204; both tokens dead)");
  }

  console.log(`contract client: ${passed} passed, 0 failed`);
}

main().catch((err: unknown) => {
  console.error(`FAIL ${err instanceof Error ? err.message : String(err)}`);
  console.log(`contract client: ${passed} passed, 1 failed`);
  process.exit(1);
});
