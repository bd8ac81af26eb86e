/**
 * The order card's emails: what the notification service sent for the order, followed live through the gateway
 * with WatchNotifications (a Connect server stream, as WatchOrder), so "confirmed" and later "cancelled" appear
 * without a reload. The stream has no last message (an order may be cancelled after it was confirmed), so it runs
 * until the next order replaces this one.
 */
import { ConnectError } from "@connectrpc/connect";
import { OrderEmailKind } from "#gen/shop/notification/v1/notification_commands_pb.js";
import type { Notification } from "#gen/shop/notification/v1/notification_service_pb.js";
import { devToken, notifications } from "./api.js";
import { h, replace } from "./dom.js";
import { enumName, formatTime } from "./format.js";

/** EmailsView is the element to show on the order card, and how to stop following. */
export interface EmailsView {
  readonly element: HTMLElement;
  stop(): void;
}

/** followEmails shows the order's emails in a section of its own, live, with the customer's token. */
export function followEmails(orderId: string, customerId: string): EmailsView {
  const list = h("ol", { class: "timeline emails", "data-testid": "order-emails" });
  const state = h("span", { class: "muted small", "data-testid": "emails-live" }, "none sent yet");
  const element = h("section", { class: "emails-view" }, h("h3", { class: "small" }, "Emails ", state), list);
  const seen = new Map<string, Notification>();
  const controller = new AbortController();

  const render = (): void => {
    const sorted = [...seen.values()].sort((a, b) => Number((a.sendTime?.seconds ?? 0n) - (b.sendTime?.seconds ?? 0n)));
    state.textContent = sorted.length === 0 ? "none sent yet" : "";
    replace(
      list,
      ...sorted.map((n) => {
        const kind = enumName(OrderEmailKind, n.kind).toLowerCase();
        return h(
          "li",
          { class: `status-${kind}`, "data-testid": "email-entry", "data-kind": kind },
          h("strong", {}, n.subject),
          h("time", {}, formatTime(n.sendTime)),
          h("span", { class: "muted small" }, `to ${n.recipient}${n.attempts > 1 ? ` · sent on try ${n.attempts}` : ""}`),
        );
      }),
    );
  };

  // A broken stream is resumed: it sends the emails already sent first, and the map drops the repeats.
  void (async () => {
    for (let attempt = 0; !controller.signal.aborted && attempt < 20; attempt++) {
      try {
        const headers = { authorization: `Bearer ${await devToken(customerId)}` };
        for await (const { notification } of notifications.watchNotifications({ orderId }, { signal: controller.signal, headers })) {
          if (!notification) continue;
          seen.set(notification.notificationId, notification);
          attempt = 0;
          render();
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        state.textContent = `reconnecting: ${ConnectError.from(error).rawMessage}`;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 5000)));
    }
  })();

  return { element, stop: () => controller.abort() };
}
