// Browser tests of clients/typescript in Debian's Chromium (playwright-core,
// never a downloaded browser), against a live sessiond with a short
// access-token lifetime. Run by scripts/clients-matrix.sh browser, which sets:
//   SESSIOND_URL  the API origin (http://127.0.0.1:<port>)
//   PAGE_PORT     the test page's port: its origin is in ALLOWED_ORIGINS
//   OTHER_PORT    a second origin for the same page, NOT allowed
//   CHROMIUM      /usr/bin/chromium
//   PG_URL        superuser URL of the server's database (psql reads generations)
//   BUNDLE        the esbuild bundle of the client
//   USER_DATA_ROOT  where the fresh user-data-dir goes
//
// The page is served by a tiny static server of this script on 127.0.0.1
// at another port than the API: a cross-origin but same-site page (ports do
// not make sites), so the client exercises credentialed CORS, and the
// SameSite=Strict refresh cookie still travels.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (scripts/clients-matrix.sh browser sets it)`);
  return v;
};
const API = env("SESSIOND_URL");
const PAGE = `http://127.0.0.1:${env("PAGE_PORT")}`;
const OTHER = `http://127.0.0.1:${env("OTHER_PORT")}`;
const PG_URL = env("PG_URL");
const bundle = readFileSync(env("BUNDLE"));
const html = readFileSync(new URL("index.html", import.meta.url));

let passed = 0;
const figures = [];
function check(ok, what, detail) {
  if (!ok) throw new Error(`${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
}
function step(name) {
  passed++;
  console.log(`  ok   ${name}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const psql = (sql) => execFileSync("psql", [PG_URL, "-XAtc", sql], { encoding: "utf8" }).trim();
const generation = (sid) => Number(psql(`SELECT generation FROM sessions WHERE id = '${sid}'`));
const reuseEvents = () => Number(psql(`SELECT count(*) FROM audit_events WHERE action = 'auth.refresh_reuse_detected'`));

// --- the page server, on two origins ----------------------------------------
function serve(port) {
  const srv = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
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

// --- API helpers from node (another "device") -------------------------------
async function apiJSON(method, path, body, headers = {}) {
  const r = await fetch(`${API}${path}`, {
    method,
    headers: { ...(body ? { "Content-Type": "application/json" } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

async function main() {
  const servers = [await serve(Number(env("PAGE_PORT"))), await serve(Number(env("OTHER_PORT")))];
  const userDataDir = mkdtempSync(join(env("USER_DATA_ROOT"), "chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: env("CHROMIUM"),
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    await scenarios(context);
  } finally {
    await context.close();
    for (const s of servers) s.close();
  }
}

async function openTab(context, origin = PAGE, query = "") {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`  page error: ${e.message}`));
  await page.goto(`${origin}/?api=${encodeURIComponent(API)}&proactive=0${query}`);
  await page.waitForFunction(() => typeof window.client === "object");
  return page;
}

const stats = (p) => p.evaluate(() => ({ ...window.client.stats, signedIn: window.client.signedIn, exp: window.client.expiresAt }));

/** Waits (real time: the server's clock) until every tab's access token has expired. */
async function untilExpired(tabs) {
  const exps = await Promise.all(tabs.map((p) => p.evaluate(() => window.client.expiresAt)));
  const last = Math.max(...exps);
  await sleep(Math.max(0, last - Date.now()) + 600);
}

/** Every tab calls GET /api/v1/auth/me at the same instant. */
async function meAtOnce(tabs) {
  const at = Date.now() + 400;
  return Promise.all(
    tabs.map((p) =>
      p.evaluate(async (at) => {
        await new Promise((r) => setTimeout(r, at - Date.now()));
        try {
          return { email: (await window.client.me()).email };
        } catch (e) {
          return { error: String(e), code: e.code };
        }
      }, at),
    ),
  );
}

async function scenarios(context) {
  const email = `browser.${Date.now()}@example.com`;
  const password = "correct horse battery staple";
  const reg = await apiJSON("POST", "/api/v1/auth/register", { email, password, name: "Browser", account_name: "Browser Co" });
  check(reg.status === 201, "register", reg);

  // (1) sign-in through the client: cookie transport, HttpOnly refresh cookie.
  const t1 = await openTab(context);
  const login = await t1.evaluate(
    async ([e, p]) => {
      const t = await window.client.signIn(e, p, "browser-tab-1");
      return { sessionId: t.session_id, bodyHasRefresh: "refresh_token" in t, docCookie: document.cookie };
    },
    [email, password],
  );
  const sid = login.sessionId;
  check(!login.bodyHasRefresh, "cookie transport: no refresh token in the body", login);
  const jar = await context.cookies(`${API}/api/v1/auth/refresh`);
  const rc = jar.find((c) => c.name === "refresh_token");
  const atRoot = await context.cookies(API);
  check(!atRoot.some((c) => c.name === "refresh_token"), "the refresh cookie is not sent outside /api/v1/auth", atRoot);
  check(rc !== undefined, "refresh cookie set", jar);
  check(rc.httpOnly && rc.sameSite === "Strict" && rc.path === "/api/v1/auth", "refresh cookie HttpOnly, SameSite=Strict, Path=/api/v1/auth", rc);
  check(!login.docCookie.includes("refresh_token") && login.docCookie.includes("csrf_token="), "document.cookie has csrf_token, not the refresh token", login.docCookie);
  step("(1) sign-in: refresh cookie HttpOnly (absent from document.cookie), SameSite=Strict, Path=/api/v1/auth");

  // Three more tabs join the session from their peers (no refresh).
  const tabs = [t1, await openTab(context), await openTab(context), await openTab(context)];
  for (const t of tabs.slice(1)) check(await t.evaluate(() => window.client.restore()), "a new tab joins the session");
  // A joining tab takes a peer's token unless it is about to expire (then it
  // refreshes: with a 4 s lifetime, opening tabs on a busy machine can take
  // that long), so only "all joined" is asserted here.
  const joined = await Promise.all(tabs.slice(1).map(stats));
  step(`tabs 2-4 joined (${joined.filter((s) => s.networkRefreshes === 0).length} of 3 from a peer over BroadcastChannel)`);

  // (2) four tabs hit 401 at the same moment → exactly one rotation.
  const EXPIRIES = 3;
  for (let i = 1; i <= EXPIRIES; i++) {
    await untilExpired(tabs);
    const g0 = generation(sid);
    const before = await Promise.all(tabs.map(stats));
    const results = await meAtOnce(tabs);
    check(results.every((r) => r.email === email), `expiry ${i}: every tab stays signed in`, results);
    const after = await Promise.all(tabs.map(stats));
    const g1 = generation(sid);
    const net = after.reduce((n, s, k) => n + s.networkRefreshes - before[k].networkRefreshes, 0);
    const retries = after.reduce((n, s, k) => n + s.retries - before[k].retries, 0);
    const reused = after.reduce((n, s) => n + s.reused, 0);
    figures.push({ expiry: i, rotations: g1 - g0, networkRefreshes: net, retriedRequests: retries });
    check(retries === 4, `expiry ${i}: all four requests got 401 invalid_token and were retried`, { retries });
    check(g1 - g0 === 1 && net === 1, `expiry ${i}: exactly one rotation`, { rotations: g1 - g0, networkRefreshes: net });
    check(reused === 0 && after.every((s) => s.signedIn), `expiry ${i}: no refresh_token_reused, all signed in`, after);
  }
  check(reuseEvents() === 0, "no auth.refresh_reuse_detected audit event", reuseEvents());
  step(`(2) 4 tabs × ${EXPIRIES} expiries: one rotation per expiry, zero refresh_token_reused`);

  // (3a) the lock holder hangs mid-refresh → after the lock timeout the
  //      waiting tab steals the lock; no deadlock.
  {
    const [, t2, t3, t4] = tabs;
    await t3.evaluate((name) => {
      window.hung = navigator.locks.request(name, () => new Promise(() => {})).catch((e) => e.name);
    }, await t3.evaluate(() => window.client.lockName));
    await untilExpired(tabs);
    const g0 = generation(sid);
    const s0 = await stats(t4);
    const r = await t4.evaluate(async () => {
      try {
        return { email: (await window.client.me()).email };
      } catch (e) {
        return { error: String(e) };
      }
    });
    const s1 = await stats(t4);
    check(r.email === email, "(3a) the waiting tab got through", r);
    check(s1.steals === s0.steals + 1 && generation(sid) === g0 + 1, "(3a) it stole the lock and rotated once", { s0, s1, g: generation(sid) - g0 });
    check((await t3.evaluate(() => window.hung)) === "AbortError", "(3a) the hung holder lost its lock");
    await t2.waitForFunction((exp) => window.client.expiresAt > exp, s0.exp);
    step("(3a) hung lock holder: the waiting tab steals the lock after the timeout, one rotation, others get the token");
  }
  // (3b) the lock holder's tab is killed mid-refresh → the lock is released
  //      with it; the waiting tab goes on without stealing.
  {
    const t3 = tabs[2];
    const t4 = tabs[3];
    const lockName = await t3.evaluate(() => window.client.lockName);
    await t3.evaluate((name) => {
      navigator.locks.request(name, () => new Promise(() => {}));
    }, lockName);
    await untilExpired([tabs[0], tabs[1], t4]);
    const s0 = await stats(t4);
    const pending = t4.evaluate(async () => {
      try {
        return { email: (await window.client.me()).email };
      } catch (e) {
        return { error: String(e) };
      }
    });
    await sleep(300);
    await t3.close();
    const r = await pending;
    const s1 = await stats(t4);
    check(r.email === email && s1.steals === s0.steals, "(3b) the waiting tab got the lock once the holder died, no steal", { r, s0, s1 });
    tabs.splice(2, 1);
    step("(3b) killed lock holder: the lock goes with the tab, the waiting tab refreshes");
  }

  // (5) a page on an origin not in ALLOWED_ORIGINS cannot refresh: the CORS
  //     preflight is refused, and a simple (preflight-free) request is
  //     refused by the CSRF check.
  {
    const g0 = generation(sid);
    const evil = await openTab(context, OTHER);
    const statuses = [];
    evil.on("response", (res) => {
      if (res.url().endsWith("/api/v1/auth/refresh")) statuses.push(res.status());
    });
    const r = await evil.evaluate(async (api) => {
      const out = {};
      try {
        await window.client.refresh(null);
        out.client = "refreshed";
      } catch (e) {
        out.client = `${e.name}: ${e.message}`;
      }
      try {
        await fetch(`${api}/api/v1/auth/refresh`, { method: "POST", credentials: "include", mode: "no-cors" });
        out.simple = "sent";
      } catch (e) {
        out.simple = String(e);
      }
      return out;
    }, API);
    check(r.client.startsWith("TypeError"), "(5) CORS: the browser refuses the credentialed refresh", r);
    for (let i = 0; i < 20 && statuses.length === 0; i++) await sleep(100);
    check(statuses.includes(403), "(5) CSRF: the simple request is answered 403", statuses);
    check(generation(sid) === g0, "(5) no rotation from the foreign origin", generation(sid) - g0);
    await evil.close();
    step("(5) non-allowed origin: CORS refuses the refresh, CSRF refuses the simple request, no rotation");
  }

  // (4a) the session is revoked elsewhere (another device signs the user out
  //      everywhere): the next request of one tab signs every tab out.
  {
    const other = await apiJSON("POST", "/api/v1/auth/login/json", { email, password });
    const all = await apiJSON("POST", "/api/v1/auth/logout-all", undefined, { Authorization: `Bearer ${other.body.access_token}` });
    check(all.status === 200 && all.body.revoked_count >= 2, "(4a) logout-all from another device", all);
    const r = await tabs[0].evaluate(async () => {
      try {
        await window.client.me();
        return { ok: true };
      } catch (e) {
        return { code: e.code, name: e.name };
      }
    });
    check(r.name === "SessiondError" && r.code === "signed_out", "(4a) the request fails as signed out", r);
    for (const t of tabs) {
      await t.waitForFunction(() => window.events.some((e) => e.e === "signed-out"), undefined, { timeout: 2000 });
      check(!(await t.evaluate(() => window.client.signedIn)), "(4a) every tab signed out");
    }
    const reasons = await Promise.all(tabs.map((t) => t.evaluate(() => window.events.filter((e) => e.e === "signed-out").map((e) => e.reason))));
    const terminal = ["invalid_refresh_token", "refresh_token_reused", "session_expired_idle", "session_expired_absolute"];
    check(reasons.every((rs) => rs.length === 1 && rs[0] === reasons[0][0] && terminal.includes(rs[0])), "(4a) one signed-out each, typed terminal reason", reasons);
    step(`(4a) revoked elsewhere: one request → refresh 401 ${reasons[0][0]} → signed-out in every tab`);
  }
  // (4b) logout-all in one tab signs the others out.
  {
    await tabs[0].evaluate(() => (window.events = []));
    await tabs[0].evaluate(([e, p]) => window.client.signIn(e, p, "browser-tab-1"), [email, password]);
    for (const t of tabs.slice(1)) {
      await t.evaluate(() => (window.events = []));
      check(await t.evaluate(() => window.client.restore()), "(4b) tabs rejoin");
    }
    const n = await tabs[0].evaluate(() => window.client.logoutAll());
    check(n === 1, "(4b) logout-all revoked the session", n);
    for (const t of tabs.slice(1)) {
      await t.waitForFunction(() => window.events.some((e) => e.e === "signed-out" && e.remote), undefined, { timeout: 2000 });
    }
    step("(4b) logout-all in one tab: the other tabs emit signed-out");
  }
}

console.log("browser client (Chromium):");
main().then(
  () => {
    for (const f of figures) console.log(`  expiry ${f.expiry}: ${f.rotations} rotation(s), ${f.networkRefreshes} network refresh(es), ${f.retriedRequests} requests retried`);
    console.log(`browser client: ${passed} passed, 0 failed`);
  },
  (err) => {
    console.error(`  FAIL ${err instanceof Error ? err.message : String(err)}`);
    console.log(`browser client: ${passed} passed, 1 failed`);
    process.exit(1);
  },
);
