/**
 * The order panel: a form that places an order for the quantities picked in the products table (with a dev bearer
 * token for the customer id typed in the form, and a fresh Idempotency-Key), then the order's status timeline,
 * following WatchOrder live (with the same customer's token: orders are private) until it is CONFIRMED or CANCELLED,
 * and the emails sent for it (emails.ts).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { OrderStatus, type Order } from "#gen/shop/order/v1/order_service_pb.js";
import { devToken, newIdempotencyKey, orders } from "./api.js";
import { h, replace } from "./dom.js";
import { followEmails, type EmailsView } from "./emails.js";
import { enumName, formatMoney, formatTime } from "./format.js";
import type { ProductsPanel } from "./products.js";
import { rememberCustomer, whyHref } from "./why.js";

/** CARD_TOKENS are the simulated processor's tokens (docs/architecture.md): one authorizes, two decline. */
const CARD_TOKENS = [
  { value: "tok_visa", label: "tok_visa — authorized" },
  { value: "tok_decline", label: "tok_decline — card declined" },
  { value: "tok_insufficient_funds", label: "tok_insufficient_funds — insufficient funds" },
] as const;

const statusName = (status: OrderStatus): string => enumName(OrderStatus, status);

/** mountOrder renders the order form and the order view into `root`. */
export function mountOrder(root: HTMLElement, products: ProductsPanel): void {
  const customer = h("input", {
    id: "customer",
    name: "customer",
    required: true,
    // What the demo login accepts as a subject (gateway/src/dev-token.ts); the browser says so before asking.
    pattern: "[A-Za-z0-9._\\-]{1,64}",
    maxlength: "64",
    value: `cust-${Math.random().toString(36).slice(2, 8)}`,
    autocomplete: "off",
    "data-testid": "customer-id",
  });
  const card = h(
    "select",
    { id: "card", name: "card", "data-testid": "card-token" },
    ...CARD_TOKENS.map((token) => h("option", { value: token.value }, token.label)),
  );
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "place-order" }, "Place order");
  const message = h("p", { class: "form-message", role: "status", "data-testid": "order-message" });
  const view = h(
    "section",
    { class: "order-view", "data-testid": "order-view", "aria-live": "polite" },
    h("p", { class: "muted" }, "Pick quantities in the table, then place an order to follow it here."),
  );
  let watching: AbortController | undefined;
  let emails: EmailsView | undefined;

  const form = h(
    "form",
    { class: "order-form", "data-testid": "order-form" },
    h("label", { for: "customer" }, "Customer id", customer),
    h("label", { for: "card" }, "Card token", card),
    submit,
    message,
  );

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void place();
  });

  replace(root, h("header", { class: "panel-head" }, h("h2", {}, "Place an order")), form, view);

  const showError = (text: string): void => {
    message.textContent = text;
    message.dataset["kind"] = "error";
  };

  async function place(): Promise<void> {
    const lines = products.selectedLines();
    const customerId = customer.value.trim();
    if (lines.length === 0) return showError("Set a quantity on at least one product.");
    if (!customerId) return showError("Enter a customer id.");
    submit.disabled = true;
    message.textContent = "Placing the order…";
    message.dataset["kind"] = "info";
    try {
      const token = await devToken(customerId);
      const idempotencyKey = newIdempotencyKey();
      const { order } = await orders.createOrder(
        { customerId, cardToken: card.value, lines },
        { headers: { authorization: `Bearer ${token}`, "idempotency-key": idempotencyKey } },
      );
      if (!order) throw new Error("the gateway answered without an order");
      message.textContent = `Order placed (Idempotency-Key ${idempotencyKey.slice(0, 8)}…).`;
      products.clearQuantities();
      rememberCustomer(order.orderId, customerId);
      emails?.stop();
      emails = followEmails(order.orderId, customerId);
      render(order);
      void watch(order.orderId, customerId);
    } catch (error) {
      const connectError = ConnectError.from(error);
      showError(connectError.code === Code.Unknown ? connectError.rawMessage : `${Code[connectError.code]}: ${connectError.rawMessage}`);
    } finally {
      submit.disabled = false;
    }
  }

  // WatchOrder sends the current state, then every change, and ends at a terminal state. A broken stream is
  // resumed (the first message is the current state again, so nothing is missed); a new order stops the old watch.
  async function watch(orderId: string, customerId: string): Promise<void> {
    watching?.abort();
    const controller = new AbortController();
    watching = controller;
    let terminal = false;
    for (let attempt = 0; !terminal && !controller.signal.aborted && attempt < 20; attempt++) {
      try {
        // Asked for on every attempt: a watch that outlives its token resumes with a fresh one.
        const headers = { authorization: `Bearer ${await devToken(customerId)}` };
        for await (const { order } of orders.watchOrder({ orderId }, { signal: controller.signal, headers })) {
          if (!order) continue;
          render(order);
          terminal = order.status === OrderStatus.CONFIRMED || order.status === OrderStatus.CANCELLED;
        }
        return;
      } catch (error) {
        if (controller.signal.aborted) return;
        setLive(`reconnecting: ${ConnectError.from(error).rawMessage}`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 5000)));
      }
    }
  }

  function setLive(text: string): void {
    const live = view.querySelector("[data-testid=order-live]");
    if (live) live.textContent = text;
  }

  function render(order: Order): void {
    const status = statusName(order.status);
    const terminal = order.status === OrderStatus.CONFIRMED || order.status === OrderStatus.CANCELLED;
    replace(
      view,
      h(
        "div",
        { class: "order-summary" },
        h("div", {}, h("div", { class: "muted small" }, "Order"), h("code", { "data-testid": "order-id" }, order.orderId)),
        h("span", { class: `badge status-${status.toLowerCase()}`, "data-testid": "order-status" }, status),
      ),
      h(
        "p",
        { class: "muted small" },
        h("span", { "data-testid": "order-live" }, terminal ? "final state" : "following live…"),
        " · ",
        h("a", { href: whyHref(order.orderId), "data-testid": "why-link" }, terminal ? "timeline" : "why is it not done yet?"),
      ),
      h(
        "ul",
        { class: "lines" },
        ...order.lines.map((line) =>
          h(
            "li",
            {},
            h("span", {}, `${line.quantity} × ${products.productName(line.productId)}`),
            h("span", { class: "num" }, formatMoney(line.lineTotal)),
          ),
        ),
        h(
          "li",
          { class: "total" },
          h("span", {}, "Total"),
          h("span", { class: "num", "data-testid": "order-total" }, formatMoney(order.total)),
        ),
      ),
      order.cancelReason
        ? h("p", { class: "form-message", "data-kind": "error", "data-testid": "cancel-reason" }, order.cancelReason)
        : null,
      h(
        "ol",
        { class: "timeline", "data-testid": "order-timeline" },
        ...order.history.map((change) =>
          h(
            "li",
            { class: `status-${statusName(change.status).toLowerCase()}`, "data-testid": "timeline-entry" },
            h("strong", {}, statusName(change.status)),
            h("time", {}, formatTime(change.changeTime)),
            change.reason ? h("span", { class: "muted small" }, change.reason) : null,
          ),
        ),
      ),
      // The same element each time: re-rendering the order keeps the emails already shown and their stream.
      emails?.element,
    );
  }
}
