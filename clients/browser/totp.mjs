// RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s steps) as an authenticator app
// computes it, from the base32 secret sessiond returns at enrolment. For the
// browser matrix (node:crypto); clients/matrix/flows/common.ts has the same for the
// generator flows.
import { createHmac } from "node:crypto";

function base32(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of s.toUpperCase().replace(/=+$/, "")) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The code of the 30-second step `step` (Math.floor(unix seconds / 30)). */
export function totpAt(secret, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32(secret)).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}

/** The current 30-second step. */
export const totpStep = (ms = Date.now()) => Math.floor(ms / 1000 / 30);
