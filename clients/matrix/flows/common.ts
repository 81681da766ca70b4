// Shared by the generator flows (flows/*.flow.ts): assertions and the
// report line. Hand-written; the generated clients under gen/ are not.

import { createHmac } from "node:crypto";

export const base = process.env["SESSIOND_URL"] ?? "";
if (!base) throw new Error("SESSIOND_URL is not set (scripts/clients-matrix.sh sets it)");

let passed = 0;

export function check(ok: boolean, what: string, detail?: unknown): asserts ok {
  if (!ok) throw new Error(`${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
}

export function step(name: string): void {
  passed++;
  console.log(`  ok   ${name}`);
}

/** A fresh address the server and every client-side `format: email` accept. */
export function freshEmail(generator: string): string {
  return `${generator}.${Date.now()}.${Math.floor(Math.random() * 1e6)}@example.com`;
}

export const password = "correct horse battery staple";

/** The deadlines and shape every TokenResponse must have. */
export function checkTokens(t: { access_token: string; refresh_token?: string; token_type: string; expires_in: number; idle_expires_at: string; absolute_expires_at: string }, what: string): string {
  check(t.token_type === "Bearer" && t.access_token.split(".").length === 3, `${what}: not a bearer JWT`, t);
  check(typeof t.refresh_token === "string" && t.refresh_token.length > 0, `${what}: body transport returns the refresh token`, t);
  check(t.expires_in > 0 && Date.parse(t.idle_expires_at) <= Date.parse(t.absolute_expires_at), `${what}: deadlines`, t);
  return t.refresh_token;
}

export async function run(generator: string, flow: () => Promise<void>): Promise<void> {
  console.log(`${generator}:`);
  try {
    await flow();
    console.log(`${generator}: ${passed} passed, 0 failed`);
  } catch (err) {
    console.error(`  FAIL ${err instanceof Error ? err.message : String(err)}`);
    console.log(`${generator}: ${passed} passed, 1 failed`);
    process.exit(1);
  }
}

/**
 * RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s) of a base32 secret at the
 * 30-second step `step` (default: now), as an authenticator app computes it.
 */
export function totp(secret: string, step = Math.floor(Date.now() / 30000)): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const key: number[] = [];
  for (const ch of secret.toUpperCase().replace(/=+$/, "")) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      key.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", Buffer.from(key)).update(msg).digest();
  const off = mac[mac.length - 1]! & 0x0f;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/** The claims of a JWT (not verified: the server signed it). */
export function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;
}
