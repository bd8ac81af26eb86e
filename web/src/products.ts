/**
 * The products panel: the catalog (ListProducts, for names and prices) with live stock (the WatchStock server
 * stream: current levels first, then one message per change). Each row also holds the quantity to order, read by
 * the order form through `selectedLines()`.
 */
import { ConnectError } from "@connectrpc/connect";
import type { Product, StockLevel } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { inventory } from "./api.js";
import { h, replace } from "./dom.js";
import { formatMoney } from "./format.js";

/** OrderLineChoice is a product and quantity picked in the table. */
export interface OrderLineChoice {
  readonly productId: string;
  readonly quantity: number;
}

/** ProductsPanel is the mounted products panel. */
export interface ProductsPanel {
  selectedLines(): OrderLineChoice[];
  clearQuantities(): void;
  productName(productId: string): string;
}

/** mountProducts renders the panel into `root`, loads the catalog and keeps the stock live until the page closes. */
export function mountProducts(root: HTMLElement): ProductsPanel {
  const products = new Map<string, Product>();
  const stockCells = new Map<string, HTMLElement>();
  const quantityInputs = new Map<string, HTMLInputElement>();
  const status = h("span", { class: "live", "data-testid": "stock-live", "data-state": "connecting" }, "connecting…");
  const body = h("tbody", {}, h("tr", {}, h("td", { colspan: 5, class: "muted" }, "Loading the catalog…")));
  replace(
    root,
    h("header", { class: "panel-head" }, h("h2", {}, "Products"), status),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "products", "data-testid": "products" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", {}, "Product"),
            h("th", { class: "num" }, "Price"),
            h("th", { class: "num" }, "In stock"),
            h("th", { class: "num" }, "Reserved"),
            h("th", { class: "num" }, "Order"),
          ),
        ),
        body,
      ),
    ),
  );

  const setStatus = (state: "connecting" | "live" | "down", text: string): void => {
    status.dataset["state"] = state;
    status.textContent = text;
  };

  const applyStock = (level: StockLevel): void => {
    const product = products.get(level.productId);
    if (product) product.stock = level;
    const cell = stockCells.get(level.productId);
    if (!cell) return;
    const available = String(level.availableQuantity);
    const reserved = cell.nextElementSibling;
    if (reserved) reserved.textContent = String(level.reservedQuantity);
    if (cell.textContent === available) return;
    cell.textContent = available;
    cell.classList.toggle("low", level.availableQuantity < 5);
    // Restart the highlight animation so every change is visible, not only the first.
    cell.classList.remove("changed");
    void cell.offsetWidth;
    cell.classList.add("changed");
  };

  const renderRows = (): void => {
    stockCells.clear();
    quantityInputs.clear();
    const rows = [...products.values()].map((product) => {
      const stock = h(
        "td",
        { class: "num stock", "data-testid": `stock-${product.productId}` },
        String(product.stock?.availableQuantity ?? "—"),
      );
      stock.classList.toggle("low", (product.stock?.availableQuantity ?? 0) < 5);
      stockCells.set(product.productId, stock);
      const quantity = h("input", {
        type: "number",
        min: 0,
        max: 1000,
        step: 1,
        value: 0,
        inputmode: "numeric",
        "aria-label": `Quantity of ${product.name}`,
        "data-testid": `qty-${product.productId}`,
      });
      quantityInputs.set(product.productId, quantity);
      return h(
        "tr",
        { "data-testid": `product-${product.productId}` },
        h("td", {}, h("div", { class: "product-name" }, product.name), h("div", { class: "muted small" }, product.description)),
        h("td", { class: "num" }, formatMoney(product.price)),
        stock,
        h("td", { class: "num muted" }, String(product.stock?.reservedQuantity ?? 0)),
        h("td", { class: "num" }, quantity),
      );
    });
    replace(body, ...(rows.length > 0 ? rows : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, "The catalog is empty."))]));
  };

  const loadCatalog = async (): Promise<void> => {
    let pageToken = "";
    const loaded: Product[] = [];
    do {
      const page = await inventory.listProducts({ pageSize: 200, pageToken });
      loaded.push(...page.products);
      pageToken = page.nextPageToken;
    } while (pageToken);
    products.clear();
    for (const product of loaded) products.set(product.productId, product);
    renderRows();
  };

  // One loop for the life of the page: (re)load the catalog, then follow the stock stream; when the stream breaks
  // (gateway restart, network), wait with a growing delay and start over, so the numbers never silently go stale.
  const follow = async (): Promise<void> => {
    let delayMs = 500;
    for (;;) {
      try {
        setStatus("connecting", "connecting…");
        await loadCatalog();
        const stream = inventory.watchStock({ productIds: [] });
        setStatus("live", "live");
        delayMs = 500;
        for await (const message of stream) {
          if (!message.stock) continue;
          if (!products.has(message.stock.productId)) await loadCatalog(); // a product created by an import
          applyStock(message.stock);
        }
        setStatus("down", "stream ended, reconnecting…");
      } catch (error) {
        setStatus("down", `offline: ${ConnectError.from(error).rawMessage}`);
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 10_000);
    }
  };
  void follow();

  return {
    selectedLines: () =>
      [...quantityInputs]
        .map(([productId, input]) => ({ productId, quantity: Number(input.value) }))
        .filter((line) => Number.isInteger(line.quantity) && line.quantity > 0),
    clearQuantities: () => {
      for (const input of quantityInputs.values()) input.value = "0";
    },
    productName: (productId) => products.get(productId)?.name ?? productId,
  };
}
