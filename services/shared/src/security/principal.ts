import { createContextKey } from "@connectrpc/connect";

/**
 * Principal is the end user a call acts for: the subject and scopes of the JWT the gateway verified. Only the
 * gateway may assert one (its workload identity is checked by the service kit); calls made by the services
 * themselves, or by operators with their own certificates, carry none.
 */
export interface Principal {
  readonly subject: string;
  readonly scopes: readonly string[];
}

/** ADMIN_SCOPE lets a principal act on every customer's orders; without it a customer sees only their own. */
export const ADMIN_SCOPE = "admin";

/**
 * PRINCIPAL_HEADERS are the metadata keys the gateway asserts the principal with: the subject, and the scopes
 * space-separated (the JWT `scope` claim's own format).
 */
export const PRINCIPAL_HEADERS = { subject: "x-shop-subject", scopes: "x-shop-scopes" } as const;

/** principalKey holds the call's principal in a handler's context values, set by the kit; undefined when none. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "the end user the call acts for" });

/**
 * Caller is who made the call, as the transport proved it: the peer's SPIFFE ID from its client certificate, or
 * undefined over plaintext (MESH_INSECURE=1).
 */
export interface Caller {
  readonly identity: string | undefined;
}

/** callerKey holds the call's Caller in a handler's context values, set by the kit. */
export const callerKey = createContextKey<Caller>({ identity: undefined }, { description: "the peer that made the call" });

/** isAdmin says whether a principal may act on any customer's orders. */
export function isAdmin(principal: Principal): boolean {
  return principal.scopes.includes(ADMIN_SCOPE);
}
