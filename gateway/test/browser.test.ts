/**
 * The web UI end to end in a real Chromium: the built UI served by the gateway in front of a real mesh. A shopper
 * sees the catalog with live stock, places an order, watches it reach CONFIRMED live, sees its confirmation email, the
 * stock drop and the OrderCreated event in the events panel; a declined order's card links to its timeline page, which says why.
 * Leaves screenshots in test-results/ (order-confirmed.png, order-why.png).
 */
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { buildWebUi, launchChromium } from "./support/chromium.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const RESULTS = path.join(ROOT, "test-results");
const PRODUCT = "sku-espresso"; // from the seed catalog: every mesh starts with 100 units
/** LIVE_MS bounds each wait for something pushed live (generous: two cores also run the mesh and a broker). */
const LIVE_MS = 45_000;
const TEST_MS = 120_000;

let webDir: string;
let gm: GatewayMesh;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  // Find the browser first: a missing one should fail in a second with the install hint, not after a mesh start.
  browser = await launchChromium();
  webDir = buildWebUi();
  // ZIPKIN_URL: a port nothing listens on, so the timeline page is shown without spans (never a Zipkin on 9411).
  gm = await startGatewayMesh({ env: { AUTH_DEV_TOKENS: "true", WEB_DIR: webDir, ZIPKIN_URL: "http://127.0.0.1:9" } });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(message.text());
  });
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await gm?.stop();
  if (webDir) rmSync(webDir, { recursive: true, force: true });
});

/** text reads an element's text by data-testid. */
async function text(testId: string): Promise<string> {
  return (await page.locator(`[data-testid="${testId}"]`).first().textContent())?.trim() ?? "";
}

/** waitForText waits (bounded) until an element's text satisfies `accept`, and says what it saw otherwise. */
async function waitForText(testId: string, accept: (value: string) => boolean, what: string): Promise<string> {
  let seen = "";
  return waitUntil(
    async () => {
      seen = await text(testId).catch(() => "");
      return accept(seen) && seen;
    },
    {
      timeoutMs: LIVE_MS,
      intervalMs: 100,
      message: what,
      describe: () =>
        `[data-testid="${testId}"] shows "${seen}"; page errors: ${pageErrors.join(" | ") || "none"}\n${gm.mesh?.describe(15) ?? ""}`,
    },
  );
}

describe("the web UI in a browser", () => {
  it(
    "when a shopper places an order, then it is confirmed live, the stock drops and the events panel shows it",
    async () => {
      // Arrange: the page shows the catalog with live stock.
      await page.goto(gm.baseUrl, { waitUntil: "domcontentloaded" });
      await expect(page.title()).resolves.toBe("shopmesh");
      const before = Number(await waitForText(`stock-${PRODUCT}`, (value) => /^\d+$/.test(value), "the product's stock"));
      await waitForText("stock-live", (value) => value === "live", "the stock stream to be live");
      expect(before).toBeGreaterThanOrEqual(2);
      expect(await page.locator('[data-testid^="product-"]').count()).toBeGreaterThan(1);

      // Act: order two units with the authorizing card.
      await page.locator(`[data-testid="qty-${PRODUCT}"]`).fill("2");
      await page.locator('[data-testid="card-token"]').selectOption("tok_visa");
      await page.locator('[data-testid="place-order"]').click();

      // Assert: the status follows the order to CONFIRMED, with its timeline, without a reload.
      const orderId = await waitForText("order-id", (value) => /^[0-9a-f-]{36}$/i.test(value), "the created order's id");
      await waitForText("order-status", (value) => value === "CONFIRMED", "the order to reach CONFIRMED");
      const timeline = await page.locator('[data-testid="timeline-entry"] strong').allTextContents();
      expect(timeline).toEqual(["AWAITING_PAYMENT", "CONFIRMED"]);
      expect(await text("order-total")).toMatch(/37[.,]80/); // 2 × 18.90 EUR, formatted from minor units

      // …the stock cell dropped by the two units, pushed by WatchStock.
      await waitForText(`stock-${PRODUCT}`, (value) => Number(value) === before - 2, `stock of ${PRODUCT} to drop to ${before - 2}`);

      // …the order card shows the confirmation email, pushed by WatchNotifications once the notification service sent it.
      const email = page.locator('[data-testid="email-entry"][data-kind="confirmed"]');
      await email.first().waitFor({ state: "visible", timeout: LIVE_MS });
      expect(await email.locator("strong").first().textContent()).toContain(orderId.slice(0, 8));

      // …and the events panel (polling /ops/events) lists this order's OrderCreated.
      const created = page.locator(`[data-testid="event-row"][data-type="shop.order.v1.OrderCreated"][data-subject="${orderId}"]`);
      await created.first().waitFor({ state: "visible", timeout: LIVE_MS });
      // …with the command queue the email went through, as its consumer reports it (nothing waiting any more).
      const queue = page.locator('[data-testid="command-queue"][data-queue="notification.email"]');
      await queue.first().waitFor({ state: "visible", timeout: LIVE_MS });
      const queueRow = page.locator("tr", { has: queue });
      await waitUntil(async () => (await queueRow.locator('[data-testid="queue-ready"]').textContent()) === "0", {
        timeoutMs: LIVE_MS,
        message: "the email queue to show 0 ready",
      });

      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: path.join(RESULTS, "order-confirmed.png"), fullPage: true });
      await page.setViewportSize({ width: 400, height: 860 }); // and the stacked layout of a phone, for a human to look at
      await page.screenshot({ path: path.join(RESULTS, "order-confirmed-narrow.png"), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 900 });
      expect(pageErrors).toEqual([]);
    },
    TEST_MS,
  );

  it(
    "when the card is declined, then the order shows CANCELLED with the reason and the stock comes back",
    async () => {
      await page.goto(gm.baseUrl, { waitUntil: "domcontentloaded" });
      await waitForText("stock-live", (value) => value === "live", "the stock stream to be live");
      const before = Number(await waitForText(`stock-${PRODUCT}`, (value) => /^\d+$/.test(value), "the product's stock"));
      // Record every value the stock cell shows, so the test can tell "dropped, then came back" from "never moved".
      // (Page-side code as a string: this file is type-checked for Node, without the DOM library.)
      await page.evaluate(`(() => {
      const cell = document.querySelector('[data-testid="stock-${PRODUCT}"]');
      window.stockSeen = [];
      new MutationObserver(() => window.stockSeen.push(cell.textContent)).observe(cell, { childList: true, characterData: true, subtree: true });
    })()`);

      await page.locator(`[data-testid="qty-${PRODUCT}"]`).fill("1");
      await page.locator('[data-testid="card-token"]').selectOption("tok_decline");
      await page.locator('[data-testid="place-order"]').click();

      await waitForText("order-status", (value) => value === "CANCELLED", "the order to reach CANCELLED");
      expect(await text("cancel-reason")).toContain("declined");
      await waitForText(`stock-${PRODUCT}`, (value) => Number(value) === before, `stock of ${PRODUCT} to be back at ${before}`);
      const seen = (await page.evaluate("window.stockSeen")) as string[];
      expect(seen).toContain(String(before - 1));
      expect(seen.at(-1)).toBe(String(before));

      // The order card links to the order's timeline page, which explains the cancellation with the customer's token.
      const orderId = await text("order-id");
      await page.locator('[data-testid="why-link"]').click();
      await waitForText("why-diagnosis", (value) => value.includes("cancelled: payment declined"), "the timeline's diagnosis");
      expect(page.url()).toContain(`#/orders/${orderId}/why`);
      expect(await text("why-order-id")).toBe(orderId);
      expect(await page.locator('[data-testid="order-panel"]').isVisible()).toBe(false);
      const sources = await page
        .locator('[data-testid="why-entry"]')
        .evaluateAll((items) => items.map((item) => item.getAttribute("data-source")));
      expect(sources).toEqual(expect.arrayContaining(["order", "payment", "outbox"]));
      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: path.join(RESULTS, "order-why.png"), fullPage: true });

      // Back to the shop: the panels are there again.
      await page.locator('[data-testid="why-back"]').click();
      await page.locator('[data-testid="order-panel"]').waitFor({ state: "visible", timeout: LIVE_MS });
      expect(pageErrors).toEqual([]);
    },
    TEST_MS,
  );
});
