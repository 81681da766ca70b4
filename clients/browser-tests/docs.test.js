// /docs in a real browser: Swagger UI renders the served contract, its
// "Authorize" dialog signs in with the OAuth2 password flow, "Try it out"
// on GET /auth/me then answers 200 with the signed-in user, and the page
// never talks to any origin but the server's.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, offOrigin, openPage, registerUser, serverURL } from "./lib/browser.js";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test("docs: Authorize signs in, Try it out calls /auth/me, nothing leaves the origin", async () => {
  const origin = serverURL();
  const { email, password } = await registerUser("docs");
  const { context, page, requests, errors, violations } = await openPage(browser);
  page.setDefaultTimeout(20_000);
  const start = Date.now();
  const step = (what) => console.log(`docs: ${what} after ${Date.now() - start} ms`);

  // 1. The page and its headers.
  const res = await page.goto(`${origin}/docs`);
  assert.equal(res.status(), 200);
  const csp = res.headers()["content-security-policy"];
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  assert.equal(res.headers()["referrer-policy"], "no-referrer");

  // 2. The operations render (one block per operation in openapi.yaml).
  await page.locator("#operations-auth-getMe").waitFor();
  const spec = await (await fetch(`${origin}/openapi.yaml`)).text();
  const operations = (spec.match(/^\s+operationId: /gm) ?? []).length;
  const blocks = await page.locator(".opblock").count();
  assert.ok(operations > 10, `openapi.yaml lists ${operations} operations`);
  assert.equal(blocks, operations, "every operation renders");
  step(`${blocks} operations rendered`);

  // 3. Authorize with the OAuth2 password form.
  await page.locator(".auth-wrapper button.authorize").click();
  const oauth = page.locator(".auth-container").filter({ hasText: "oauth2Password (OAuth2, password)" });
  await oauth.locator("#oauth_username").fill(email);
  await oauth.locator("#oauth_password").fill(password);
  const login = page.waitForResponse((r) => r.url() === `${origin}/api/v1/auth/login` && r.request().method() === "POST");
  await oauth.locator("button.authorize").click();
  assert.equal((await login).status(), 200, "the token request succeeds");
  await oauth.locator("button", { hasText: "Logout" }).waitFor(); // authorized
  await page.locator(".dialog-ux button.close-modal").click();
  await page.locator(".dialog-ux").waitFor({ state: "detached" });
  step("authorized");

  // 4. Try it out on GET /auth/me.
  const op = page.locator("#operations-auth-getMe");
  await op.locator(".opblock-summary-control").click();
  await op.locator("button.try-out__btn").click();
  const me = page.waitForResponse((r) => r.url() === `${origin}/api/v1/auth/me`);
  await op.locator("button.execute").click();
  const meRes = await me;
  assert.equal(meRes.status(), 200);
  assert.match(meRes.request().headers()["authorization"] ?? "", /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  const live = op.locator(".live-responses-table .response");
  await live.waitFor();
  assert.equal((await live.locator(".response-col_status").innerText()).trim(), "200");
  assert.ok((await live.locator(".response-col_description").innerText()).includes(`"email": "${email}"`),
    "the response body shows the signed-in user's email");
  step("GET /auth/me shown");

  // 5. Only this origin, no CSP violations, no errors, no token cookies.
  const off = offOrigin(requests, origin);
  const dataURLs = requests.filter((r) => r.url.startsWith("data:")).length;
  console.log(`docs: ${requests.length} requests (${requests.length - dataURLs} to ${origin}, ${dataURLs} data: URLs, ${off.length} elsewhere)`);
  for (const r of requests) console.log(`  ${r.method} ${r.url.startsWith("data:") ? r.url.slice(0, 40) + "…" : r.url}`);
  assert.deepEqual(off.map((r) => r.url), [], "requests to another origin");
  assert.ok(requests.some((r) => r.url === `${origin}/openapi.yaml`), "the spec came from this origin");
  assert.deepEqual(await violations(), [], "CSP violations");
  assert.deepEqual(errors, [], "page errors");
  // The CSP is enforced, and the check above would see a breach: an
  // injected inline script does not run and is reported.
  const ran = await page.evaluate(() => {
    window.__inlineRan = false;
    const s = document.createElement("script");
    s.textContent = "window.__inlineRan = true";
    document.body.append(s);
    return new Promise((resolve) => setTimeout(() => resolve(window.__inlineRan), 100));
  });
  assert.equal(ran, false, "an inline script ran");
  assert.match((await violations()).join("\n"), /script-src/);
  // No token in a cookie: the only cookie is the sign-in's HttpOnly device
  // cookie (LGN-09), scoped to the sign-in paths, which opens nothing.
  const cookies = await context.cookies();
  assert.deepEqual(cookies.map((c) => [c.name, c.path, c.httpOnly, c.sameSite]),
    [["login_device", "/api/v1/auth/login", true, "Strict"]], "cookies");
  await context.close();
});
