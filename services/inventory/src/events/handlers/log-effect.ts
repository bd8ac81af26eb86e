import type { Logger } from "#shared/logger.js";
import type { OrderEffect } from "../../reservations.js";

/** logEffect writes one log line saying what an order event did to its reservation. */
export function logEffect(logger: Logger, effect: OrderEffect, fields: { eventId: string; eventType: string; orderId: string }): void {
  if (effect === "unknown") {
    // Another deployment sharing the broker, or an order whose reservation never existed here.
    logger.warn(fields, "event about an unknown reservation; skipped");
  } else if (effect === "duplicate") {
    logger.debug(fields, "event already handled; skipped");
  } else {
    logger.info({ ...fields, effect }, "reservation updated from event");
  }
}
