// WHK-09 (docs/security-checklist.md): real deliveries of a live sessiond,
// verified in TypeScript with the official `standardwebhooks` package
// through the README's receiver
// (webhooks/receiver.ts). Run by scripts/clients-matrix.sh webhooks (make
// clients-webhooks): the server runs with WEBHOOK_ALLOW_PRIVATE_TARGETS
// (the guard's development setting, as the Go delivery tests' guard) and
// trusts this receiver's certificate (WEBHOOK_CA_FILE), so its own
// delivery worker signs and posts to https://127.0.0.1:<port>; nothing
// leaves 127.0.0.0/8.
//
// Checks: every delivery of several event types verifies (signature,
// timestamp, webhook-id = evt_<event id>, type = data.action, sequences
// increasing); after a secret rotation deliveries carry both signatures
// and verify with the new secret and with the previous one; and verify
// REJECTS a tampered body, a tampered webhook-id, a wrong secret, and a
// delivery from before the rotation under the new secret alone.

import { readFileSync } from "node:fs";
import { createServer, request } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { sessiondWebhookHandler, type Delivery, type SessiondEvent } from "./receiver.js";

const base = process.env["SESSIOND_URL"] ?? "";
const certFile = process.env["WEBHOOK_RECEIVER_CERT"] ?? "";
const keyFile = process.env["WEBHOOK_RECEIVER_KEY"] ?? "";
if (!base || !certFile || !keyFile) throw new Error("SESSIOND_URL, WEBHOOK_RECEIVER_CERT and WEBHOOK_RECEIVER_KEY must be set (scripts/clients-matrix.sh webhooks)");

let passed = 0;
function check(ok: boolean, what: string, detail?: unknown): asserts ok {
  if (!ok) throw new Error(`${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
}
function step(name: string): void {
  passed++;
  console.log(`  ok   ${name}`);
}

interface Received {
  event: SessiondEvent;
  delivery: Delivery;
  epoch: number; // 0 before the rotation, 1 after
}
const received: Received[] = [];
const rejected: { err: string; delivery: Delivery }[] = [];
let epoch = 0;
let handler = (_req: IncomingMessage, res: ServerResponse): void => {
  res.writeHead(503).end(); // no endpoint yet
};
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => handler(req, res));
function receiveWith(secret: string): void {
  const e = epoch;
  handler = sessiondWebhookHandler(
    secret,
    (event, delivery) => {
      received.push({ event, delivery, epoch: e });
    },
    (err, delivery) => {
      rejected.push({ err: String(err), delivery });
    },
  );
}

async function api(method: string, path: string, body?: unknown, bearer?: string): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (bearer) headers["Authorization"] = `Bearer ${bearer}`;
  const res = await fetch(`${base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function waitFor(what: string, ok: () => boolean, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    // A delivery the receiver refused fails the test at once.
    const bad = rejected[0];
    check(bad === undefined, `waiting for ${what}: the receiver refused a real delivery (${bad?.err}; webhook-id ${bad?.delivery.id}, webhook-signature ${bad?.delivery.headers["webhook-signature"]})`);
    check(Date.now() < end, `timed out waiting for ${what}`, { received: types(), rejected: rejected.length });
    await new Promise((r) => setTimeout(r, 25));
  }
}

function types(): string[] {
  return received.map((r) => r.event.type);
}

function rejects(wh: Webhook, body: string, headers: Record<string, string>): boolean {
  try {
    wh.verify(body, headers);
    return false;
  } catch {
    return true;
  }
}

async function flow(): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  const email = `hooks.${Date.now()}.${Math.floor(Math.random() * 1e6)}@example.com`;
  const password = "correct horse battery staple";
  let r = await api("POST", "/auth/register", { email, password, name: "Hooks", account_name: "Hooks Co" });
  check(r.status === 201, "register", r);
  r = await api("POST", "/auth/login/json", { email, password });
  check(r.status === 200, "login", r);
  const owner = r.json.access_token as string;
  const subscribed = ["auth.login_failed", "auth.login_succeeded", "session.revoked", "auth.logout", "webhook.secret_rotated"];
  r = await api("POST", "/accounts/me/webhooks", { url: `https://127.0.0.1:${port}/hooks/sessiond`, description: "TypeScript receiver", event_types: subscribed }, owner);
  check(r.status === 201 && typeof r.json.secret === "string" && r.json.secret.startsWith("whsec_"), "create endpoint", r);
  const endpoint = r.json.id as string;
  const first = r.json.secret as string;
  receiveWith(first);
  step("endpoint on the TypeScript receiver, https://127.0.0.1:" + port);

  // Events of four types, committed by real requests.
  r = await api("POST", "/auth/login/json", { email, password: "not the password!" });
  check(r.status === 401, "failed sign-in", r);
  r = await api("POST", "/auth/login/json", { email, password });
  check(r.status === 200, "second sign-in", r);
  const second = r.json as { session_id: string; refresh_token: string };
  r = await api("POST", "/auth/login/json", { email, password });
  check(r.status === 200, "third sign-in", r);
  const third = r.json as { access_token: string; refresh_token: string };
  r = await api("DELETE", `/sessions/${second.session_id}`, undefined, owner);
  check(r.status === 204, "revoke the second session", r);
  r = await api("POST", "/auth/logout", { refresh_token: third.refresh_token }, third.access_token);
  check(r.status === 204, "logout", r);
  const want = ["auth.login_failed", "auth.login_succeeded", "auth.login_succeeded", "session.revoked", "auth.logout"];
  await waitFor("five deliveries", () => received.length >= want.length);
  check(JSON.stringify(types()) === JSON.stringify(want), "delivered types, in order", types());
  step(`delivered and verified: ${want.join(", ")}`);

  // The test event: delivered now, through the same signing.
  r = await api("POST", `/accounts/me/webhooks/${endpoint}/test`, undefined, owner);
  check(r.status === 200 && r.json.outcome === "delivered" && r.json.status_code === 204, "test event attempt", r.json);
  check(received.at(-1)?.event.type === "webhook.test", "webhook.test received", types());
  step("webhook.test delivered and verified (answer: delivered, 204)");

  // Rotation: the receiver switches to the new secret; for 24 h the
  // previous one signs too.
  r = await api("POST", `/accounts/me/webhooks/${endpoint}/rotate-secret`, undefined, owner);
  check(r.status === 200 && r.json.secret.startsWith("whsec_") && r.json.secret !== first, "rotate secret", r);
  const rotated = r.json.secret as string;
  epoch = 1;
  receiveWith(rotated);
  const before = received.length;
  r = await api("POST", "/auth/login/json", { email, password: "still not it" });
  check(r.status === 401, "failed sign-in after the rotation", r);
  await waitFor("the rotation's deliveries", () => received.length >= before + 2);
  const after = received.slice(before).map((x) => x.event.type);
  check(JSON.stringify(after) === JSON.stringify(["webhook.secret_rotated", "auth.login_failed"]), "types after the rotation", after);
  const oldWh = new Webhook(first);
  const newWh = new Webhook(rotated);
  for (const x of received.slice(before)) {
    check(x.delivery.headers["webhook-signature"]?.split(" ").length === 2, "two v1 signatures during the rotation", x.delivery.headers);
    check(!rejects(oldWh, x.delivery.body, x.delivery.headers), "the previous secret still verifies during the rotation", x.event.type);
  }
  step("after rotate-secret: webhook.secret_rotated, auth.login_failed verified with the new secret (and the previous one)");

  // Every delivery: headers and body agree, sequences increase.
  let seq = 0;
  for (const x of received) {
    const { event, delivery } = x;
    if (event.type === "webhook.test") continue; // not from the audit trail: no sequence
    check(delivery.id === `evt_${event.data.id}`, "webhook-id is evt_<event id>", delivery.id);
    check(event.type === event.data.action, "type is data.action", event);
    check(event.data.sequence > seq, "sequences increase", event.data.sequence);
    seq = event.data.sequence;
    check(/^\d+$/.test(delivery.headers["webhook-timestamp"] ?? ""), "webhook-timestamp in unix seconds", delivery.headers);
  }
  step(`${received.length} deliveries: webhook-id, type, sequence and timestamp consistent`);

  // The negative side: Webhook.verify refuses what it must.
  const stranger = new Webhook("whsec_" + randomBytes(32).toString("base64"));
  for (const x of received) {
    const wh = x.epoch === 0 ? oldWh : newWh;
    const { body, headers } = x.delivery;
    check(!rejects(wh, body, headers), "a received delivery verifies again", x.event.type);
    const tampered = body.replace(`"${x.event.type}"`, `"${x.event.type}x"`);
    check(tampered !== body && rejects(wh, tampered, headers), "a tampered body is rejected", x.event.type);
    check(rejects(wh, body + " ", headers), "a body with one more byte is rejected", x.event.type);
    check(rejects(wh, body, { ...headers, "webhook-id": headers["webhook-id"] + "0" }), "a tampered webhook-id is rejected", x.event.type);
    check(rejects(stranger, body, headers), "a wrong secret is rejected", x.event.type);
    if (x.epoch === 0) check(rejects(newWh, body, headers), "a delivery from before the rotation does not verify with the new secret", x.event.type);
  }
  step("Webhook.verify rejects a tampered body, a tampered webhook-id, a wrong secret, and pre-rotation deliveries under the new secret");

  // And the receiver itself answers 401 to a forged delivery.
  const forged = received[0]!.delivery;
  const res = await new Promise<number>((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/hooks/sessiond", method: "POST", ca: readFileSync(certFile), headers: { ...forged.headers, "content-length": Buffer.byteLength(forged.body + "x") } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end(forged.body + "x");
  });
  check(res === 401 && rejected.length === 1, "the receiver answers 401 to a forged delivery", { res, rejected: rejected.length });
  step("the receiver answers 401 to a forged delivery, and refused nothing the server sent");
}

console.log("webhooks (TypeScript, standardwebhooks):");
flow()
  .then(() => {
    console.log(`webhooks: ${passed} passed, 0 failed`);
    server.close();
    process.exit(0);
  })
  .catch((err: unknown) => {
    console.error(`  FAIL ${err instanceof Error ? err.message : String(err)}`);
    console.log(`webhooks: ${passed} passed, 1 failed`);
    process.exit(1);
  });
