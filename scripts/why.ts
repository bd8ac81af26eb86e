/**
 * why prints one order's timeline and the diagnosis of why it is where it is ("waiting for payment: its consumer is
 * 1,203 events behind", "OrderCreated is in shop.order.v1.events.dlq: …", "confirmed").
 *
 *   npm run why -- <orderId>                 ask the gateway at GATEWAY_URL (default http://127.0.0.1:8080)
 *   npm run why -- <orderId> --json          the timeline as the gateway answers it
 *
 * It asks the gateway (`GET /api/v1/orders/{id}/timeline`) rather than building the timeline itself: the gateway
 * holds the mesh identity that OpsService and the Kafka TLS listener accept, and one piece then serves the CLI and
 * the web page alike. It signs its own admin token as `npm run token -- --admin` does (JWT_SECRET and the other JWT_*
 * settings of the gateway; the dev defaults when unset), unless SHOP_TOKEN gives one.
 *
 * Exit codes: 0 the timeline was printed; 1 the order is unknown or the gateway refused; 2 bad arguments; 3 the gateway
 * did not answer.
 */
import { parseArgs } from "node:util";
import { ADMIN_SCOPE } from "#shared/security/principal.js";
import { ALL_WRITE_SCOPES, signToken } from "../gateway/src/auth.js";
import { loadConfig } from "../gateway/src/config.js";
import type { Timeline } from "../gateway/src/why/model.js";
import { renderTimeline } from "../gateway/src/why/render.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { json: { type: "boolean", default: false }, gateway: { type: "string" } },
});
const orderId = positionals[0];
if (orderId === undefined || positionals.length > 1) {
  console.error("usage: npm run why -- <orderId> [--json] [--gateway http://127.0.0.1:8080]");
  process.exit(2);
}
const gateway = (values.gateway ?? process.env["GATEWAY_URL"] ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
const token =
  process.env["SHOP_TOKEN"] ??
  (await signToken(loadConfig().jwt, { subject: "why", scopes: [...ALL_WRITE_SCOPES, ADMIN_SCOPE], ttlSeconds: 300 }));

let response: Response;
try {
  response = await fetch(`${gateway}/api/v1/orders/${encodeURIComponent(orderId)}/timeline`, {
    headers: { authorization: `Bearer ${token}`, accept: "application/json" },
    signal: AbortSignal.timeout(Number(process.env["WHY_TIMEOUT_MS"] ?? 20_000)),
  });
} catch (error) {
  const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
  console.error(`why: the gateway at ${gateway} did not answer (${cause}); is it running? (npm start, or GATEWAY_URL)`);
  process.exit(3);
}
const body = (await response.json().catch(() => undefined)) as (Timeline & { code?: string; message?: string }) | undefined;
if (!response.ok || body === undefined) {
  if (response.status === 404) console.error(`why: no order ${orderId}`);
  else
    console.error(
      `why: the gateway answered ${response.status}${body?.code ? ` ${body.code}` : ""}: ${body?.message ?? response.statusText}`,
    );
  process.exit(1);
}
console.log(values.json ? JSON.stringify(body, null, 2) : renderTimeline(body));
