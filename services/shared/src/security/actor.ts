import type { HandlerContext } from "@connectrpc/connect";
import { principalKey, type Principal } from "./principal.js";

/**
 * Actor is who a use case acts for, as the call says: the end user (principal) and the RPC that asked, so a refusal
 * can be logged with both. Use cases take it instead of a handler context, so they stay free of the transport.
 */
export interface Actor {
  /**
   * principal is the end user the gateway verified; undefined for a call the access policy alone judged (the mesh's
   * own calls, an operator's certificate).
   */
  readonly principal?: Principal | undefined;
  /** method names the RPC for logs: `shop.order.v2.OrderService/GetOrder`. */
  readonly method?: string | undefined;
}

/** actorOf reads the Actor of a call: the principal the kit put in the context values, and the method. */
export function actorOf(ctx: HandlerContext): Actor {
  return { principal: ctx.values.get(principalKey), method: `${ctx.service.typeName}/${ctx.method.name}` };
}
