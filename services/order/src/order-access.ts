import { notFound, permissionDenied } from "#shared/errors.js";
import type { Logger } from "#shared/logger.js";
import type { Actor } from "#shared/security/actor.js";
import { isAdmin } from "#shared/security/principal.js";
import type { Order } from "./domain/order.js";

/**
 * OrderAccess is the rule "who may see an order" (docs/architecture.md): a principal with the admin scope, or a call
 * with no principal, acts on every order; any other principal is a customer, who places, reads, watches, lists and
 * cancels only their own. Each refusal is PERMISSION_DENIED, logged once with the method, the subject and the order.
 */
export class OrderAccess {
  constructor(private readonly logger: Logger) {}

  /**
   * checkCreate refuses a customer placing an order for someone else (`customer_id` names another customer). The
   * field stays required for everyone (the contract says REQUIRED): the token does not fill a blank one in.
   */
  checkCreate(actor: Actor, customerId: string): void {
    const own = customerOf(actor);
    if (own === undefined || customerId === own) return;
    throw this.denied(actor, { customerId }, `customer_id: customer "${own}" may place orders only for themselves`);
  }

  /**
   * readable returns the order if the actor may act on it, else throws. For a customer, permission is checked before
   * existence (AIP-211): an order that does not exist is refused like another customer's, so ids cannot be probed.
   * Everyone else learns NOT_FOUND.
   */
  readable(actor: Actor, orderId: string, order: Order | undefined): Order {
    const own = customerOf(actor);
    if (own !== undefined && order?.customerId !== own) {
      throw this.denied(actor, { orderId }, `order "${orderId}": customer "${own}" may act only on their own orders`);
    }
    if (!order) throw notFound(`order "${orderId}"`);
    return order;
  }

  /**
   * listFilter is the customer filter a ListOrders runs with: a customer's own id when they name none (or
   * themselves); naming another customer is refused. Without a restriction the requested filter stands.
   */
  listFilter(actor: Actor, customerId: string): string {
    const own = customerOf(actor);
    if (own === undefined || customerId === "" || customerId === own) return own ?? customerId;
    throw this.denied(actor, { customerId }, `customer_id: customer "${own}" may list only their own orders`);
  }

  private denied(actor: Actor, about: { orderId?: string; customerId?: string }, message: string) {
    this.logger.warn({ method: actor.method, subject: actor.principal?.subject, ...about }, "permission denied");
    return permissionDenied(message);
  }
}

/** customerOf is the customer an actor is restricted to; undefined when it may act on every order. */
function customerOf(actor: Actor): string | undefined {
  const { principal } = actor;
  return principal === undefined || isAdmin(principal) ? undefined : principal.subject;
}
