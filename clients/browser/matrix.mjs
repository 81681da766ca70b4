// The browser client (@sessiond/client) in Debian's Chromium, driven by
// playwright-core (never a downloaded browser), in the deployments frontend
// teams run. Run by scripts/clients-matrix.sh browser, which starts:
//   * sessiond in production configuration (DEV_MODE=false,
//     COOKIE_SECURE=true, METRICS_ADDR on loopback, TRUSTED_PROXIES=the
//     proxy) behind cmd/tlsproxy, a TLS-terminating reverse proxy with a
//     certificate made at start;
//   * sessiond in the development configuration (plain HTTP,
//     COOKIE_SECURE=false, as make run) for the localhost layout;
// and passes:
//   CHROMIUM, SPKI (the proxy certificate's key hash), PROXY_PORT,
//   PROD_DIRECT (http://127.0.0.1:port of the production server, for node's
//   own calls), METRICS_URL, DEV_PORT, PAGE_PORT, OTHER_PORT, PG_URL,
//   BUNDLE (IIFE of the client; PAGE_BUNDLE overrides it, e.g. to run the
//   matrix against an older client), VITE_DIST (the built Vite app, optional),
//   USER_DATA_ROOT.
//
// Host names are mapped with --host-resolver-rules: *.example.test and
// evil.test go to the proxy (so https://app.example.test is a real https
// origin on port 443 for the browser), devbox.test to 127.0.0.1 (an
// insecure context: no Web Locks). One browser, one context per layout.
//
// The matrix, each cell a list of checks (README "Browser clients"):
//   layouts: same origin (https://app.example.test, API under /api),
//            sibling subdomains (https://app.example.test → https://api.example.test),
//            other port on localhost (development: http, COOKIE_SECURE=false)
//   cells:   sign-in + me, silent refresh (timer, 401), 4 tabs × 3 expiries,
//            reload → restore, logout, foreign site refused
// plus sign-in with a second factor (TOTP codes computed here from the
// secret), the degraded environment (insecure context) and the Vite app.

import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "../browser-tests/lib/browser.js";
import { totpAt, totpStep } from "./totp.mjs";

const env = (k, optional = false) => {
  const v = process.env[k];
  if (!v && !optional) throw new Error(`${k} is not set (scripts/clients-matrix.sh browser sets it)`);
  return v;
};
const PAGE_PORT = Number(env("PAGE_PORT"));
const OTHER_PORT = Number(env("OTHER_PORT"));
const DEV_PORT = Number(env("DEV_PORT"));
const PROD_DIRECT = env("PROD_DIRECT");
const PG_URL = env("PG_URL");
const VITE_DIST = env("VITE_DIST", true);
const bundle = readFileSync(env("BUNDLE"));
const html = readFileSync(new URL("index.html", import.meta.url));

const LAYOUTS = [
  {
    key: "same",
    name: "same origin (https://app.example.test, API under /api)",
    page: "https://app.example.test",
    api: "https://app.example.test",
    direct: PROD_DIRECT,
    secure: true,
    // a page on another site, and one on a sibling subdomain not in ALLOWED_ORIGINS
    foreign: ["https://evil.test", "https://evil.example.test"],
  },
  {
    key: "sibling",
    name: "sibling subdomains (https://app.example.test → https://api.example.test)",
    page: "https://app.example.test",
    api: "https://api.example.test",
    direct: PROD_DIRECT,
    secure: true,
    foreign: ["https://evil.test", "https://evil.example.test"],
  },
  {
    key: "dev",
    name: "other port on localhost (development: http, COOKIE_SECURE=false)",
    page: `http://localhost:${PAGE_PORT}`,
    api: `http://localhost:${DEV_PORT}`,
    direct: `http://127.0.0.1:${DEV_PORT}`,
    secure: false,
    // another site (127.0.0.1 is not localhost's site), and another port of localhost
    foreign: [`http://127.0.0.1:${PAGE_PORT}`, `http://localhost:${OTHER_PORT}`],
  },
];
const CELLS = ["sign-in, me", "silent refresh (timer and 401)", "4 tabs × 3 expiries → 1 rotation each", "reload → restore", "logout ends server session, all tabs signed out", "foreign site refused"];

const results = {}; // layout key → cell → "ok" | "FAIL: …"
const extras = []; // [name, "ok" | "FAIL: …"]
const figures = [];
let passed = 0;
let failed = 0;

function check(ok, what, detail) {
  if (!ok) throw new Error(`${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const psql = (sql) => execFileSync("psql", [PG_URL, "-XAtc", sql], { encoding: "utf8" }).trim();
const generation = (sid) => Number(psql(`SELECT generation FROM sessions WHERE id = '${sid}'`));
const revoked = (sid) => psql(`SELECT revoked_at IS NOT NULL FROM sessions WHERE id = '${sid}'`) === "t";
const reuseEvents = () => Number(psql(`SELECT count(*) FROM audit_events WHERE action = 'auth.refresh_reuse_detected'`));

// --- the page server: the test page and the client bundle on every host,
//     the Vite app's build on vite.example.test --------------------------
const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon" };
function pageServer(port) {
  const srv = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const host = (req.headers.host ?? "").split(":")[0];
    if (host === "vite.example.test" && VITE_DIST) {
      let file = normalize(join(VITE_DIST, path === "/" ? "index.html" : path));
      if (!file.startsWith(VITE_DIST) || !existsSync(file) || statSync(file).isDirectory()) file = join(VITE_DIST, "index.html");
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
      return res.end(readFileSync(file));
    }
    if (path === "/sessiond-client.js") {
      res.writeHead(200, { "content-type": "text/javascript", "cache-control": "no-store" });
      return res.end(bundle);
    }
    if (path === "/" || path === "/index.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      return res.end(html);
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => srv.listen(port, "127.0.0.1", () => resolve(srv)));
}

// --- API calls from node (another "device"), straight to the server -------
async function apiJSON(base, method, path, body, headers = {}) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body ? { "Content-Type": "application/json" } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

// --- tabs ---------------------------------------------------------------
const pageErrors = [];
async function openTab(context, layout, { origin = layout.page, proactive = false, extra = "" } = {}) {
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${origin}: ${e.message}`));
  await page.goto(`${origin}/?api=${encodeURIComponent(layout.api)}&proactive=${proactive ? 1 : 0}${extra}`);
  await page.waitForFunction(() => typeof window.run === "function");
  return page;
}
const stats = (p) => p.evaluate(() => ({ ...window.client.stats, signedIn: window.client.signedIn, exp: window.client.expiresAt, mode: window.client.mode }));
const events = (p, e) => p.evaluate((e) => window.events.filter((x) => x.e === e), e);
const call = (p, method, ...args) => p.evaluate(([m, a]) => window.run(m, ...a), [method, args]);

/** Every outcome a test sees from the client is data or a SessiondError, never a raw TypeError. */
function typed(r, what) {
  check(r.ok || r.name === "SessiondError", `${what}: a raw ${r.name} reached the application`, r);
  return r;
}

/** Waits (real time: the server's clock) until every tab's access token has expired. */
async function untilExpired(tabs) {
  const exps = await Promise.all(tabs.map((p) => p.evaluate(() => window.client.expiresAt ?? 0)));
  await sleep(Math.max(0, Math.max(...exps) - Date.now()) + 600);
}

/** Every tab calls me() at the same instant. */
async function meAtOnce(tabs) {
  const at = Date.now() + 400;
  return Promise.all(
    tabs.map((p) =>
      p.evaluate(async (at) => {
        await new Promise((r) => setTimeout(r, at - Date.now()));
        return window.run("me");
      }, at),
    ),
  );
}

async function register(layout, tag) {
  const email = `matrix.${layout.key}.${tag}.${Date.now()}@example.com`;
  const password = "correct horse battery staple";
  const r = await apiJSON(layout.direct, "POST", "/api/v1/auth/register", { email, password, name: "Matrix", account_name: `Matrix ${layout.key}` });
  check(r.status === 201, "register", r);
  return { email, password };
}

async function signIn(tab, user, device = "matrix") {
  const r = typed(await call(tab, "signIn", user.email, user.password, device), "signIn");
  check(r.ok, "sign-in", r);
  return r.value;
}

// --- the cells ----------------------------------------------------------
async function layoutCells(browser, layout) {
  const res = (results[layout.key] = {});
  const context = await browser.newContext();
  const cell = async (name, fn) => {
    const t0 = Date.now();
    try {
      await fn();
      res[name] = "ok";
      passed++;
      console.log(`  ok   ${layout.key} / ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (err) {
      res[name] = `FAIL: ${err.message}`;
      failed++;
      console.log(`  FAIL ${layout.key} / ${name}: ${err.message}`);
    }
  };
  const user = await register(layout, "u");
  let tabs = [];
  let sid;
  try {
    await cell(CELLS[0], async () => {
      const t1 = await openTab(context, layout);
      const body = await signIn(t1, user, "tab-1");
      sid = body.session_id;
      tabs = [t1];
      check((await stats(t1)).mode === "multi-tab", "multi-tab mode in a secure context", await stats(t1));
      check(!("refresh_token" in body) && typeof body.csrf_token === "string" && body.csrf_token.length >= 32, "cookie transport: no refresh token, a csrf_token in the answer", Object.keys(body));
      const jar = await context.cookies(`${layout.api}/api/v1/auth/refresh`);
      const rc = jar.find((c) => c.name === (layout.secure ? "__Secure-refresh_token" : "refresh_token"));
      const cc = jar.find((c) => c.name === (layout.secure ? "__Host-csrf_token" : "csrf_token"));
      check(rc && rc.httpOnly && rc.sameSite === "Strict" && rc.path === "/api/v1/auth" && rc.secure === layout.secure, "refresh cookie HttpOnly, SameSite=Strict, Path=/api/v1/auth", rc);
      check(cc && cc.httpOnly && cc.path === "/" && cc.secure === layout.secure, "CSRF cookie HttpOnly (the page never reads a cookie)", cc);
      check((await t1.evaluate(() => document.cookie)) === "", "document.cookie shows nothing", await t1.evaluate(() => document.cookie));
      const me = typed(await call(t1, "me"), "me");
      check(me.ok && me.value.email === user.email, "me", me);
    });

    await cell(CELLS[1], async () => {
      // (a) timer: a proactive tab refreshes before expiry, with no request.
      const timerCtx = await browser.newContext();
      try {
        const tt = await openTab(timerCtx, layout, { proactive: true });
        const b = await signIn(tt, user, "timer");
        const g0 = generation(b.session_id);
        const exp0 = (await stats(tt)).exp;
        await sleep(Math.max(0, exp0 - Date.now()) + 800);
        const s = await stats(tt);
        check(s.networkRefreshes >= 1 && s.exp > exp0 && s.signedIn && s.retries === 0, "timer: refreshed before expiry without a 401", s);
        check(generation(b.session_id) > g0, "timer: the session rotated", generation(b.session_id) - g0);
        check((await events(tt, "signed-out")).length === 0, "timer: never signed out");
        const me = typed(await call(tt, "me"), "me after timer refresh");
        check(me.ok, "me after the timer refresh", me);
      } finally {
        await timerCtx.close();
      }
      // (b) 401: a non-proactive tab lets the token expire; the request gets
      // 401 invalid_token, one refresh, one retry.
      const t1 = tabs[0];
      await untilExpired([t1]);
      const g0 = generation(sid);
      const s0 = await stats(t1);
      const me = typed(await call(t1, "me"), "me after expiry");
      const s1 = await stats(t1);
      check(me.ok && me.value.email === user.email, "401: me survives the expiry", me);
      check(s1.retries === s0.retries + 1 && s1.networkRefreshes === s0.networkRefreshes + 1 && generation(sid) === g0 + 1, "401: one refresh, one retry, one rotation", { s0, s1 });
      check((await events(t1, "signed-out")).length === 0, "401: never signed out", await events(t1, "signed-out"));
    });

    await cell(CELLS[2], async () => {
      const more = [await openTab(context, layout), await openTab(context, layout), await openTab(context, layout)];
      for (const t of more) check(typed(await call(t, "restore"), "restore").value === true, "a new tab joins the session");
      tabs = [tabs[0], ...more];
      for (let i = 1; i <= 3; i++) {
        await untilExpired(tabs);
        const g0 = generation(sid);
        const before = await Promise.all(tabs.map(stats));
        const rs = await meAtOnce(tabs);
        rs.forEach((r) => typed(r, "me at once"));
        check(rs.every((r) => r.ok && r.value.email === user.email), `expiry ${i}: every tab stays signed in`, rs);
        const after = await Promise.all(tabs.map(stats));
        const rotations = generation(sid) - g0;
        const net = after.reduce((n, s, k) => n + s.networkRefreshes - before[k].networkRefreshes, 0);
        const retries = after.reduce((n, s, k) => n + s.retries - before[k].retries, 0);
        figures.push({ layout: layout.key, expiry: i, rotations, net, retries });
        check(retries === 4, `expiry ${i}: four 401s, four retries`, { retries });
        check(rotations === 1 && net === 1, `expiry ${i}: exactly one rotation`, { rotations, net });
        check(after.every((s) => s.signedIn && s.reused === 0), `expiry ${i}: all signed in, no reuse`, after);
      }
      check(reuseEvents() === 0, "no auth.refresh_reuse_detected audit event", reuseEvents());
    });

    await cell(CELLS[3], async () => {
      // With a peer open: the reloaded tab takes the token from it.
      const t2 = tabs[1];
      await t2.reload();
      await t2.waitForFunction(() => typeof window.run === "function");
      check(typed(await call(t2, "restore"), "restore").value === true, "reload with a peer: restored");
      // Alone: every other tab closed, the reloaded tab has nothing in
      // memory; it asks GET /api/v1/auth/csrf, then refreshes with the cookie.
      for (const t of tabs.slice(1)) await t.close();
      tabs = [tabs[0]];
      const t1 = tabs[0];
      await t1.reload();
      await t1.waitForFunction(() => typeof window.run === "function");
      const r = typed(await call(t1, "restore"), "restore alone");
      const s = await stats(t1);
      check(r.value === true && s.signedIn && s.csrfFetches === 1 && s.networkRefreshes === 1, "reload alone: restored with the cookie (one CSRF fetch, one refresh)", { r, s });
      const me = typed(await call(t1, "me"), "me after restore");
      check(me.ok && me.value.email === user.email, "me after restore", me);
      check((await events(t1, "signed-out")).length === 0, "restore: never signed out");
    });

    await cell(CELLS[4], async () => {
      const t1 = tabs[0];
      const others = [await openTab(context, layout), await openTab(context, layout)];
      for (const t of others) check(typed(await call(t, "restore"), "restore").value === true, "tabs join");
      // A failed logout is reported, not swallowed: the API unreachable.
      await t1.route(`${layout.api}/api/v1/auth/**`, (route) => route.abort("connectionrefused"));
      const failedLogout = typed(await call(t1, "logout"), "logout while unreachable");
      await t1.unroute(`${layout.api}/api/v1/auth/**`);
      check(!failedLogout.ok && failedLogout.code === "network_error" && !revoked(sid) && (await stats(t1)).signedIn, "logout while unreachable rejects with network_error, session kept", failedLogout);
      // Logout from one tab: server session ended, every tab signed out.
      const r = typed(await call(t1, "logout"), "logout");
      check(r.ok, "logout resolves", r);
      check(revoked(sid), "the server session has ended");
      for (const t of [t1, ...others]) {
        await t.waitForFunction(() => window.events.some((e) => e.e === "signed-out"), undefined, { timeout: 3000 });
        check(!(await stats(t)).signedIn, "every tab signed out");
      }
      const so = await Promise.all([t1, ...others].map((t) => events(t, "signed-out")));
      check(so.every((l) => l.length === 1 && l[0].reason === "logout"), "one signed-out (logout) per tab", so);
      check(!(await context.cookies(`${layout.api}/api/v1/auth/refresh`)).some((c) => c.name.endsWith("refresh_token")), "refresh cookie cleared");
      for (const t of others) await t.close();
      // From a broken local state: signed in, then the page reloaded and
      // nothing restored (no token, no CSRF token in memory): logout still
      // ends the server session through the cookie.
      const b = await signIn(t1, user, "tab-1");
      await t1.reload();
      await t1.waitForFunction(() => typeof window.run === "function");
      check(!(await stats(t1)).signedIn, "fresh page: nothing in memory");
      const r2 = typed(await call(t1, "logout"), "logout from a fresh page");
      check(r2.ok && revoked(b.session_id), "logout from a fresh page ended the server session", { r2, revoked: revoked(b.session_id) });
      const r3 = typed(await call(t1, "logout"), "logout with no session");
      check(r3.ok, "logout with no session left resolves (nothing to end)", r3);
    });

    await cell(CELLS[5], async () => {
      const t1 = tabs[0];
      const b = await signIn(t1, user, "victim");
      sid = b.session_id;
      const g0 = generation(sid);
      for (const origin of layout.foreign) {
        const evil = await openTab(context, layout, { origin });
        const statuses = [];
        evil.on("response", (res) => {
          if (res.url().startsWith(layout.api)) statuses.push(`${new URL(res.url()).pathname} ${res.status()}`);
        });
        // The client on the foreign page: it can neither refresh nor log out.
        const refresh = typed(await call(evil, "refresh", null), `${origin}: refresh`);
        const logout = typed(await call(evil, "logout"), `${origin}: logout`);
        check((refresh.ok && refresh.value === null) || !refresh.ok, `${origin}: no token`, refresh);
        // Raw requests: read the CSRF token; a preflight-free refresh/logout.
        const raw = await evil.evaluate(async (api) => {
          const out = {};
          try {
            const r = await fetch(`${api}/api/v1/auth/csrf`, { credentials: "include" });
            out.csrf = `read ${r.status} ${await r.text()}`;
          } catch (e) {
            out.csrf = `refused (${e.name})`;
          }
          for (const p of ["refresh", "logout"]) {
            try {
              await fetch(`${api}/api/v1/auth/${p}`, { method: "POST", credentials: "include", mode: "no-cors" });
              out[p] = "sent";
            } catch (e) {
              out[p] = `refused (${e.name})`;
            }
          }
          return out;
        }, layout.api);
        check(raw.csrf.startsWith("refused"), `${origin}: the CSRF token is unreadable`, raw);
        for (let i = 0; i < 20 && statuses.filter((s) => s.startsWith("/api/v1/auth/refresh")).length === 0; i++) await sleep(100);
        const refreshAnswers = statuses.filter((s) => s.startsWith("/api/v1/auth/refresh"));
        check(refreshAnswers.length > 0 && refreshAnswers.every((s) => / (401|403)$/.test(s)), `${origin}: the simple refresh is refused (401 without the cookie, 403 csrf_failed with it)`, statuses);
        figures.push({ layout: layout.key, foreign: origin, client: refresh.ok ? "null" : refresh.code, logout: logout.ok ? "resolved: nothing to end" : logout.code, answers: statuses.join(", ") });
        await evil.close();
      }
      check(generation(sid) === g0 && !revoked(sid), "no rotation and no logout from the foreign pages", { g: generation(sid) - g0, revoked: revoked(sid) });
      const me = typed(await call(t1, "me"), "victim me");
      check(me.ok && (await stats(t1)).signedIn, "the victim is still signed in", me);
    });
  } finally {
    await context.close();
  }
}

async function extra(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    extras.push([name, "ok"]);
    passed++;
    console.log(`  ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (err) {
    extras.push([name, `FAIL: ${err.message}`]);
    failed++;
    console.log(`  FAIL ${name}: ${err.message}`);
  }
}

// Sign-in with a second factor through the client (production server,
// sibling subdomains): signIn() resolves to the challenge and opens no
// session; verifyMfa() with a wrong code is a typed invalid_mfa_code, with
// the authenticator's code the session starts (amr pwd+otp, acr aal2); past
// the recent-authentication window a guarded call is a typed 403
// reauthentication_required until reauthenticate() (password + code). Each
// code is of a later 30-second step than the one before (a code, or an
// older step's, is accepted once), all within the server's ±1 step.
async function mfaSignIn(browser) {
  await extra("sign-in with TOTP: challenge, verifyMfa, reauthenticate", async () => {
    const layout = LAYOUTS[1];
    const user = await register(layout, "mfa");
    const login = await apiJSON(layout.direct, "POST", "/api/v1/auth/login/json", { email: user.email, password: user.password });
    check(login.status === 200, "password-only sign-in before enrolment", login);
    const bearer = { Authorization: `Bearer ${login.body.access_token}` };
    const enrol = await apiJSON(layout.direct, "POST", "/api/v1/auth/mfa/totp", undefined, bearer);
    check(enrol.status === 201 && enrol.body.otpauth_uri.startsWith("otpauth://totp/"), "enrol", enrol);
    const secret = enrol.body.secret;
    const confirm = await apiJSON(layout.direct, "POST", "/api/v1/auth/mfa/totp/confirm", { code: totpAt(secret, totpStep() - 1) }, bearer);
    check(confirm.status === 200 && confirm.body.recovery_codes.length === 10, "confirm with the previous step's code", confirm);

    const context = await browser.newContext();
    try {
      const t = await openTab(context, layout);
      const first = typed(await call(t, "signIn", user.email, user.password, "mfa"), "signIn");
      check(first.ok && first.value.kind === "mfa" && first.value.challenge.methods.includes("totp"), "signIn resolves to the challenge", first);
      check((await stats(t)).signedIn === false, "no session before the second factor");
      const jar = await context.cookies(`${layout.api}/api/v1/auth/refresh`);
      check(!jar.some((c) => c.name === "__Secure-refresh_token"), "no refresh cookie before the second factor", jar.map((c) => c.name));
      const challenge = first.value.challenge;
      const good = totpAt(secret, totpStep());
      const wrong = typed(await call(t, "verifyMfa", challenge, { code: good === "000000" ? "111111" : "000000" }), "verifyMfa (wrong)");
      check(!wrong.ok && wrong.code === "invalid_mfa_code", "a wrong code is a typed invalid_mfa_code", wrong);
      const ok = typed(await call(t, "verifyMfa", challenge, { code: good }, "mfa"), "verifyMfa");
      check(ok.ok && typeof ok.value.session_id === "string" && !("refresh_token" in ok.value), "verifyMfa starts the session (cookie transport)", ok);
      check((await stats(t)).signedIn === true, "signed in after the second factor");
      const claims = async () => JSON.parse(Buffer.from((await t.evaluate(() => window.client.token.value)).split(".")[1], "base64url").toString());
      const c1 = await claims();
      check(JSON.stringify(c1.amr) === '["pwd","otp"]' && c1.acr === "aal2" && typeof c1.auth_time === "number", "the access token carries amr, acr, auth_time", c1);
      const me = typed(await call(t, "me"), "me");
      check(me.ok && me.value.email === user.email, "me", me);
      const again = typed(await call(t, "verifyMfa", challenge, { recoveryCode: confirm.body.recovery_codes[0] }), "verifyMfa (used challenge)");
      check(!again.ok && again.code === "invalid_mfa_challenge", "the challenge is single-use", again);

      // Past the recent-authentication window (moved back in the database:
      // the server's clock is real and the window's minimum is a minute).
      psql(`UPDATE sessions SET last_auth_at = now() - interval '2 hours' WHERE id = '${ok.value.session_id}'`);
      const guarded = () =>
        t.evaluate(async () => {
          const r = await window.client.api.POST("/api/v1/auth/mfa/recovery-codes");
          return { status: r.response.status, code: r.error?.code, n: r.data?.recovery_codes?.length };
        });
      const refused = await guarded();
      check(refused.status === 403 && refused.code === "reauthentication_required", "a guarded call past the window", refused);
      const noCode = typed(await call(t, "reauthenticate", user.password), "reauthenticate without the code");
      check(!noCode.ok && noCode.code === "invalid_mfa_code", "the code is required when enrolled", noCode);
      const re = typed(await call(t, "reauthenticate", user.password, totpAt(secret, totpStep() + 1)), "reauthenticate");
      check(re.ok, "reauthenticate with password and code", re);
      const c2 = await claims();
      check(c2.auth_time >= c1.auth_time && Math.abs(c2.auth_time - Date.now() / 1000) < 30 && c2.acr === "aal2", "the fresh token's auth_time is now", { c1, c2 });
      const accepted = await guarded();
      check(accepted.status === 200 && accepted.n === 10, "the guarded call after reauthenticate", accepted);
      check(typed(await call(t, "logout"), "logout").ok, "logout");
    } finally {
      await context.close();
    }
  });
}

// RFC 6238 (SHA-1, 6 digits, 30 s) from a base32 secret, as an
// authenticator app computes it: the test's own, independent of the server.
function totp(secret, atMs) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 30000)));
  const h = createHmac("sha1", key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1e6).padStart(6, "0");
}

// Sign-in with a second factor through the browser client: signIn()
// resolves { kind: "mfa", challenge }, verifyMfa() starts the session (cookie
// transport), reauthenticate() renews auth_time. Codes are computed here
// from the secret (the live server keeps real time): the enrolment is
// confirmed with the previous step's code, the challenge answered with the
// current one and the reauthentication with the next, each accepted once.
async function totpSignIn(browser) {
  await extra("browser client: sign-in with TOTP (challenge, verifyMfa, reauthenticate)", async () => {
    const layout = LAYOUTS[0];
    const user = await register(layout, "totp");
    const into = (Date.now() / 1000) % 30;
    if (into > 20) await sleep((31 - into) * 1000); // keep the three steps apart from a step boundary
    const login = await apiJSON(layout.direct, "POST", "/api/v1/auth/login/json", { email: user.email, password: user.password });
    check(login.status === 200, "password-only sign-in before enrolment", login);
    const auth = { Authorization: `Bearer ${login.body.access_token}` };
    const enrol = await apiJSON(layout.direct, "POST", "/api/v1/auth/mfa/totp", undefined, auth);
    check(enrol.status === 201 && enrol.body.otpauth_uri.startsWith("otpauth://totp/"), "enrol", enrol);
    const now = Date.now();
    const confirm = await apiJSON(layout.direct, "POST", "/api/v1/auth/mfa/totp/confirm", { code: totp(enrol.body.secret, now - 30000) }, auth);
    check(confirm.status === 200 && confirm.body.recovery_codes.length === 10, "confirm", confirm);

    const context = await browser.newContext();
    try {
      const tab = await openTab(context, layout);
      const first = typed(await call(tab, "signIn", user.email, user.password, "totp"), "signIn");
      check(first.ok && first.value.kind === "mfa" && typeof first.value.challenge.mfa_challenge_token === "string", "signIn resolves a challenge, no session", first);
      check(!(await stats(tab)).signedIn, "no session before the second factor");
      const wrong = typed(await call(tab, "verifyMfa", first.value.challenge, { code: totp(enrol.body.secret, now - 30000) }), "verifyMfa (replayed code)");
      check(!wrong.ok && wrong.code === "invalid_mfa_code", "the confirmation's code is not accepted again", wrong);
      const ok = typed(await call(tab, "verifyMfa", first.value.challenge, { code: totp(enrol.body.secret, now) }, "totp"), "verifyMfa");
      check(ok.ok && typeof ok.value.csrf_token === "string" && !("refresh_token" in ok.value), "verifyMfa starts the session in cookie transport", ok);
      const claims = JSON.parse(Buffer.from((await tab.evaluate(() => window.client.accessToken)).split(".")[1], "base64url"));
      check(claims.acr === "aal2" && claims.amr.join() === "pwd,otp", "the access token says aal2, pwd+otp", claims);
      const me = typed(await call(tab, "me"), "me");
      check(me.ok && me.value.email === user.email, "me after the second factor", me);
      const re = typed(await call(tab, "reauthenticate", user.password, totp(enrol.body.secret, now + 30000)), "reauthenticate");
      check(re.ok, "reauthenticate with password and code", re);
      const after = JSON.parse(Buffer.from((await tab.evaluate(() => window.client.accessToken)).split(".")[1], "base64url"));
      check(after.auth_time >= claims.auth_time && after.acr === "aal2", "the reauthenticated token", after);
    } finally {
      await context.close();
    }
  });
}

// An insecure context (plain http on a name that is not localhost): no Web
// Locks. The client runs single-tab with a warning, or refuses at
// construction with a typed error when told to; no raw TypeError anywhere.
async function degraded(browser) {
  const dev = LAYOUTS[2];
  const layout = { ...dev, key: "insecure", page: `http://devbox.test:${PAGE_PORT}`, api: `http://devbox.test:${DEV_PORT}` };
  const context = await browser.newContext();
  try {
    await extra("insecure context: single-tab with a warning, sign-in, survives an expiry", async () => {
      const user = await register(dev, "insecure");
      const t = await openTab(context, layout);
      const env = await t.evaluate(() => ({ secure: isSecureContext, locks: typeof navigator.locks }));
      check(!env.secure && env.locks === "undefined", "the page is an insecure context without navigator.locks", env);
      check((await stats(t)).mode === "single-tab", "single-tab mode");
      await t.waitForFunction(() => window.events.some((e) => e.e === "warning" && e.code === "single_tab"), undefined, { timeout: 2000 });
      await signIn(t, user, "insecure");
      await untilExpired([t]);
      const me = typed(await call(t, "me"), "me after expiry (single-tab)");
      check(me.ok && me.value.email === user.email, "me after expiry", me);
      await t.reload();
      await t.waitForFunction(() => typeof window.run === "function");
      check(typed(await call(t, "restore"), "restore (single-tab)").value === true, "restore after reload");
      check(typed(await call(t, "logout"), "logout (single-tab)").ok, "logout");
    });
    await extra("insecure context: multiTab \"required\" refuses at construction with a typed error", async () => {
      const t = await openTab(context, layout, { extra: "&multiTab=required" }).catch(async () => null);
      const page = t ?? (await context.newPage());
      const ce = await page.evaluate(() => window.constructionError);
      check(ce && ce.name === "SessiondError" && ce.code === "unsupported_environment", "typed construction error", ce);
    });
  } finally {
    await context.close();
  }
}

// The Vite + React + TypeScript app built from the packed tarball: signs in
// through its form and survives an access-token expiry.
async function viteApp(browser) {
  if (!VITE_DIST) return;
  await extra("Vite + React app (packed tarball): signs in, survives an expiry", async () => {
    const layout = LAYOUTS[1];
    const user = await register(layout, "vite");
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      page.on("pageerror", (e) => pageErrors.push(`vite: ${e.message}`));
      await page.goto("https://vite.example.test/");
      await page.getByTestId("status").filter({ hasText: "signed-out" }).waitFor({ timeout: 5000 });
      await page.getByLabel("Email").fill(user.email);
      await page.getByLabel("Password").fill(user.password);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByTestId("user").filter({ hasText: user.email }).waitFor({ timeout: 5000 });
      const sid = psql(`SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE lower(u.email) = lower('${user.email}')`);
      const g0 = generation(sid);
      await sleep(5000); // past the 4 s access-token lifetime
      await page.getByRole("button", { name: "Who am I" }).click();
      await page.getByTestId("whoami").filter({ hasText: user.email }).waitFor({ timeout: 5000 });
      check((await page.getByTestId("status").textContent()) === "signed-in", "still signed in");
      check((await page.getByTestId("error").textContent()) === "", "no error shown", await page.getByTestId("error").textContent());
      check(generation(sid) > g0, "the session rotated (silent refresh)", generation(sid) - g0);
      // Another tab of the app follows this one's sign-out.
      const other = await context.newPage();
      await other.goto("https://vite.example.test/");
      await other.getByTestId("status").filter({ hasText: "signed-in" }).waitFor({ timeout: 5000 });
      await page.getByRole("button", { name: "Sign out" }).click();
      await other.getByTestId("status").filter({ hasText: "signed-out" }).waitFor({ timeout: 5000 });
      check(revoked(sid), "the server session ended");
    } finally {
      await context.close();
    }
  });
}

async function metricsPrivate() {
  await extra("production server: /metrics only on its loopback listener", async () => {
    const onApi = await fetch(`${PROD_DIRECT}/metrics`);
    const own = await fetch(env("METRICS_URL"));
    check(onApi.status === 404 && own.status === 200, "metrics listener", { api: onApi.status, metrics: own.status });
  });
}

async function main() {
  const t0 = Date.now();
  const servers = [await pageServer(PAGE_PORT), await pageServer(OTHER_PORT)];
  const proxy = `127.0.0.1:${env("PROXY_PORT")}`;
  const browser = await chromium.launch({
    executablePath: env("CHROMIUM"),
    headless: true,
    args: [
      ...CHROMIUM_ARGS,
      `--host-resolver-rules=MAP *.example.test ${proxy}, MAP evil.test ${proxy}, MAP devbox.test 127.0.0.1, EXCLUDE localhost`,
      `--ignore-certificate-errors-spki-list=${env("SPKI")}`,
    ],
  });
  try {
    await metricsPrivate();
    for (const layout of LAYOUTS) {
      console.log(`layout: ${layout.name}`);
      await layoutCells(browser, layout);
    }
    await mfaSignIn(browser);
    await degraded(browser);
    await totpSignIn(browser);
    await viteApp(browser);
  } finally {
    await browser.close();
    for (const s of servers) s.close();
  }
  if (pageErrors.length > 0) {
    failed++;
    console.log(`  FAIL uncaught errors in pages: ${JSON.stringify(pageErrors)}`);
  }
  console.log("\n| layout | " + CELLS.join(" | ") + " |");
  console.log("|---|" + CELLS.map(() => "---").join("|") + "|");
  for (const l of LAYOUTS) {
    console.log(`| ${l.name} | ${CELLS.map((c) => (results[l.key]?.[c] === "ok" ? "ok" : results[l.key]?.[c] ? "FAIL" : "—")).join(" | ")} |`);
  }
  for (const [n, r] of extras) console.log(`  ${r === "ok" ? "ok  " : "FAIL"} ${n}`);
  for (const f of figures) console.log(`  ${JSON.stringify(f)}`);
  console.log(`browser matrix took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`browser-client: ${passed} passed, ${failed} failed`);
  if (failed > 0) process.exit(1);
}

main().catch((err) => {
  console.error(`  FAIL ${err instanceof Error ? err.stack : String(err)}`);
  console.log(`browser-client: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
