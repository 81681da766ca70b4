// Shared helpers for the browser tests: Debian's Chromium driven by
// playwright-core (never a downloaded browser), a page that records every
// request it makes, and small HTTP helpers against the server under test.
//
// Environment (set by scripts/browser-tests.sh):
//   SESSIOND_URL  origin of the live server, e.g. http://127.0.0.1:41234
//   CHROMIUM      the browser binary (scripts/ensure-chromium.sh)
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { chromium } from "playwright-core";

export const serverURL = () => {
  const u = process.env.SESSIOND_URL;
  assert.ok(u, "SESSIOND_URL is not set: run via make browser-test");
  return new URL(u).origin;
};

// Flags for a quiet, reproducible, offline-friendly headless Chromium.
// playwright-core adds a fresh temporary --user-data-dir of its own to every
// launch() and removes it on close, so no profile state leaks between runs.
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

// openPage gives a page in a fresh context that records:
//   requests    every request the page made: { method, url, headers }
//   violations  Content-Security-Policy violations reported in the page
//   errors      uncaught page errors and console errors
export async function openPage(browser) {
  const context = await browser.newContext({ serviceWorkers: "block" });
  const page = await context.newPage();
  const requests = [];
  const errors = [];
  page.on("request", (r) => requests.push({ method: r.method(), url: r.url(), headers: r.headers() }));
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  // Runs before any page script, outside the page's CSP.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  const violations = () => page.evaluate(() => window.__cspViolations ?? []);
  return { context, page, requests, errors, violations };
}

// offOrigin returns the recorded requests that left the server's origin
// (data: URLs carry no host and are counted apart by the caller).
export function offOrigin(requests, origin = serverURL()) {
  return requests.filter((r) => !r.url.startsWith("data:") && new URL(r.url).origin !== origin);
}

// registerUser creates a user (and account) over HTTP and returns its
// credentials.
export async function registerUser(prefix = "browser") {
  const email = `${prefix}-${randomUUID().slice(0, 8)}@example.com`;
  const password = `correct horse ${randomUUID()}`;
  const res = await fetch(`${serverURL()}/api/v1/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password, name: "Browser Test", account_name: `Acme ${email}` }),
  });
  const body = await res.text();
  assert.equal(res.status, 201, `register: ${res.status} ${body}`);
  return { email, password, user: JSON.parse(body) };
}
