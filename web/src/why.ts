/**
 * The order timeline page (`#/orders/<id>/why`): "why is my order stuck?" for one order, from the gateway's
 * `GET /api/v1/orders/{id}/timeline` (the same JSON `npm run why` prints): every step the order left a trace of, in
 * time order, and the diagnosis. The order card and every dead letter in the events panel link here.
 *
 * The route needs a token that may read the order: its customer's (the order panel remembers which customer placed
 * which order in this tab, and the demo login gives that customer's token) or an operator's with the admin scope,
 * pasted once (`npm run -s token -- --admin`) and kept for the tab's session.
 */
import type { Timeline } from "../../gateway/src/why/model.js";
import { devToken } from "./api.js";
import { h, replace } from "./dom.js";
import { formatTime } from "./format.js";

/** WHY_ROUTE matches the page's hash. */
const WHY_ROUTE = /^#\/orders\/([^/]+)\/why$/;
const OPERATOR_TOKEN_KEY = "shopmesh.operatorToken";
const CUSTOMER_KEY = (orderId: string) => `shopmesh.customerOf.${orderId}`;

/** whyHref is the page's link for an order. */
export function whyHref(orderId: string): string {
  return `#/orders/${encodeURIComponent(orderId)}/why`;
}

/** rememberCustomer notes who placed an order in this tab, so its timeline can use that customer's token. */
export function rememberCustomer(orderId: string, customerId: string): void {
  sessionStorage.setItem(CUSTOMER_KEY(orderId), customerId);
}

/** whyOrderOf is the order id of the current hash when it is the timeline page. */
export function whyOrderOf(hash: string): string | undefined {
  const match = WHY_ROUTE.exec(hash);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

/** showWhy renders the timeline page for `orderId` into `root`. */
export function showWhy(root: HTMLElement, orderId: string): void {
  const status = h("p", { class: "muted small", role: "status", "data-testid": "why-status" }, "loading…");
  const body = h("div", { class: "why-body" });
  const refresh = h("button", { type: "button", "data-testid": "why-refresh", onclick: () => void load() }, "Refresh");
  replace(
    root,
    h(
      "header",
      { class: "panel-head" },
      h("h2", {}, "Why is this order where it is?"),
      h("span", {}, h("a", { href: "#/", "data-testid": "why-back" }, "← shop"), " ", refresh),
    ),
    h("div", {}, h("div", { class: "muted small" }, "Order"), h("code", { "data-testid": "why-order-id" }, orderId)),
    status,
    body,
  );

  async function load(): Promise<void> {
    status.textContent = "loading…";
    try {
      const response = await fetch(`/api/v1/orders/${encodeURIComponent(orderId)}/timeline`, {
        headers: { accept: "application/json", authorization: `Bearer ${await tokenFor(orderId)}` },
        cache: "no-store",
      });
      const answer = (await response.json().catch(() => ({}))) as Partial<Timeline> & { code?: string; message?: string };
      if (response.status === 401 || response.status === 403) {
        status.textContent = `${answer.code ?? response.status}: ${answer.message ?? ""}`;
        return replace(
          body,
          tokenForm(() => void load()),
        );
      }
      if (!response.ok) {
        status.textContent =
          response.status === 404 ? `No order ${orderId}.` : `${answer.code ?? response.status}: ${answer.message ?? ""}`;
        return replace(body);
      }
      const timeline = answer as Timeline;
      status.textContent = `as of ${formatTime(timeline.generatedAt)}`;
      render(body, timeline);
    } catch (error) {
      status.textContent = `offline: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  void load();
}

/** tokenFor picks the token: an operator's pasted one, else the demo token of the customer who placed the order here. */
async function tokenFor(orderId: string): Promise<string> {
  const operator = sessionStorage.getItem(OPERATOR_TOKEN_KEY);
  if (operator) return operator;
  const customer = sessionStorage.getItem(CUSTOMER_KEY(orderId));
  return customer ? devToken(customer) : "";
}

function tokenForm(retry: () => void): HTMLElement {
  const input = h("input", { id: "operator-token", name: "operator-token", autocomplete: "off", "data-testid": "why-token" });
  const form = h(
    "form",
    { class: "order-form", "data-testid": "why-token-form" },
    h("label", { for: "operator-token" }, "Operator token (npm run -s token -- --admin), or place the order from this tab", input),
    h("button", { type: "submit", class: "primary" }, "Show the timeline"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(OPERATOR_TOKEN_KEY, input.value.trim());
    retry();
  });
  return form;
}

function render(body: HTMLElement, timeline: Timeline): void {
  const status = timeline.order.status;
  replace(
    body,
    h(
      "div",
      { class: "order-summary" },
      h("span", { class: "muted small" }, `customer ${timeline.order.customerId}`),
      h("span", { class: `badge status-${status.toLowerCase()}`, "data-testid": "why-order-status" }, status),
    ),
    h(
      "p",
      {
        class: `why-diagnosis diagnosis-${timeline.diagnosis.state}`,
        "data-testid": "why-diagnosis",
        "data-state": timeline.diagnosis.state,
      },
      h("strong", {}, "Diagnosis: "),
      timeline.diagnosis.text,
    ),
    h(
      "ol",
      { class: "timeline why-timeline", "data-testid": "why-timeline" },
      ...timeline.entries.map((entry) =>
        h(
          "li",
          { class: `level-${entry.level}`, "data-testid": "why-entry", "data-source": entry.source },
          h("time", { title: entry.time }, clock(entry.time)),
          h("span", { class: "muted small" }, `${entry.source} · ${entry.service}`),
          h("span", { class: "why-text" }, entry.text),
        ),
      ),
    ),
  );
}

/** clock shows a time of day to the millisecond: a saga's steps are milliseconds apart, so seconds would tie them. */
function clock(time: string): string {
  const date = new Date(time);
  const seconds = date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  return `${seconds}.${String(date.getMilliseconds()).padStart(3, "0")}`;
}
