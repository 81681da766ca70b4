// A receiver of sessiond's security events (README "Webhooks"): a Node
// request handler that verifies every delivery with the official Standard
// Webhooks package (`standardwebhooks`, Webhook.verify: the v1 HMAC-SHA256
// signature over "<webhook-id>.<webhook-timestamp>.<body>" and a timestamp
// within ±5 minutes) and answers 401 to anything that does not verify.
//
// This is the file the README's TypeScript snippet is taken from, and the
// one `make clients-webhooks` runs (webhooks/deliveries.test.ts) against
// real deliveries of a live server: real signing, real TLS, no hand-signed
// payloads.
//
// Mount it on any Node HTTP(S) server:
//
//   import { createServer } from "node:https";
//   createServer({ cert, key }, sessiondWebhookHandler(process.env.SESSIOND_WEBHOOK_SECRET!, (event) => {
//     // drop event.data.id / the webhook-id if already seen; order by event.data.sequence
//   })).listen(8443);

import type { IncomingMessage, ServerResponse } from "node:http";
import { Webhook } from "standardwebhooks";

/** The body of a delivery: the audit event as GET /accounts/me/audit-events shows it, plus `sequence`. */
export interface SessiondEvent {
  type: string;
  timestamp: string;
  data: {
    id: string;
    account_id: string;
    action: string;
    actor_user_id: string | null;
    resource_type: string;
    resource_id: string | null;
    details: Record<string, unknown>;
    created_at: string;
    sequence: number;
  };
}

/** One delivery as received: its id header, raw body and headers. */
export interface Delivery {
  id: string;
  body: string;
  headers: Record<string, string>;
}

const maxBody = 1 << 20;

/**
 * A request handler for deliveries signed with `secret` (`whsec_…`, shown
 * once when the endpoint is created or its secret rotated). `onEvent` runs
 * for each verified delivery (answered 204 once it resolves, 500 if it
 * throws); `onRejected` for each refused one (answered 401).
 */
export function sessiondWebhookHandler(
  secret: string,
  onEvent: (event: SessiondEvent, delivery: Delivery) => void | Promise<void>,
  onRejected?: (err: unknown, delivery: Delivery) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  const wh = new Webhook(secret);
  return (req, res) => {
    if (req.method !== "POST") {
      res.writeHead(405).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > maxBody) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === "string") headers[k] = v;
      }
      const delivery: Delivery = { id: headers["webhook-id"] ?? "", body: Buffer.concat(chunks).toString("utf8"), headers };
      let event: SessiondEvent;
      try {
        // The raw body, byte for byte as received: re-serialised JSON would not verify.
        event = wh.verify(delivery.body, headers) as SessiondEvent;
      } catch (err) {
        onRejected?.(err, delivery);
        res.writeHead(401).end();
        return;
      }
      Promise.resolve()
        .then(() => onEvent(event, delivery))
        .then(
          () => res.writeHead(204).end(),
          () => res.writeHead(500).end(),
        );
    });
  };
}
