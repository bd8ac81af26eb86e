/**
 * The UI's connection to the gateway: Connect clients over fetch to the page's own origin (the gateway serves both
 * the UI and the API on one port; the Vite dev server proxies), using the same generated stubs as the services.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { NotificationService } from "#gen/shop/notification/v1/notification_service_pb.js";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";

const transport = createConnectTransport({ baseUrl: location.origin });

/** inventory is the InventoryService client (ListProducts, WatchStock). */
export const inventory: Client<typeof InventoryService> = createClient(InventoryService, transport);
/** orders is the OrderService v1 client (CreateOrder, WatchOrder). */
export const orders: Client<typeof OrderService> = createClient(OrderService, transport);

/** notifications is the NotificationService client (WatchNotifications: the order's emails). */
export const notifications: Client<typeof NotificationService> = createClient(NotificationService, transport);

/** DevToken is a bearer token from the gateway's demo login. */
export interface DevToken {
  readonly token: string;
  /** expiresAt is when to fetch a new one (ms since the epoch). */
  readonly expiresAt: number;
}

const tokens = new Map<string, DevToken>();

/**
 * devToken gets (and caches per customer id typed in the form) a bearer token for that customer from
 * `POST /auth/dev-token`, which the gateway enables only with AUTH_DEV_TOKENS=true (`npm start` does). The token's
 * subject is the customer id: the gateway and the order service let it place, read and watch that customer's orders
 * only. A real deployment would sign in with an identity provider instead.
 */
export async function devToken(subject: string): Promise<string> {
  const cached = tokens.get(subject);
  if (cached && cached.expiresAt > Date.now() + 30_000) return cached.token;
  const response = await fetch("/auth/dev-token", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ subject }),
  });
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    const message = typeof body["message"] === "string" ? body["message"] : response.statusText;
    throw new Error(`dev token refused (${response.status}): ${message}`);
  }
  // Accept the usual spellings of an OAuth-style token answer.
  const token = [body["token"], body["accessToken"], body["access_token"]].find((value) => typeof value === "string");
  if (typeof token !== "string") throw new Error("dev token answer carried no token");
  // The gateway answers `expiresAt` (RFC 3339); OAuth-style `expires_in` seconds also work. Default: one hour.
  const expiresAt =
    typeof body["expiresAt"] === "string"
      ? Date.parse(body["expiresAt"])
      : typeof body["expires_in"] === "number"
        ? Date.now() + body["expires_in"] * 1000
        : Date.now() + 3_600_000;
  tokens.set(subject, { token, expiresAt: Number.isNaN(expiresAt) ? Date.now() + 3_600_000 : expiresAt });
  return token;
}

/** newIdempotencyKey makes a fresh key per submitted order (randomUUID needs a secure context; fall back otherwise). */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
