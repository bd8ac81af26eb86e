/**
 * CommandQueues names the command queues, as Topics (events/topics.ts) names the Kafka topics: the sender and the one
 * consumer of a queue must agree on its name, and neither imports the other's code.
 */
export const CommandQueues = {
  /** orderEmails carries shop.notification.v1.SendOrderEmail from order's outbox to the notification service. */
  orderEmails: "notification.email",
} as const;
