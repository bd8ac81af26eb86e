/** The web UI's entry point: mounts the three panels, and shows an order's timeline page instead at `#/orders/<id>/why`. */
import "../styles.css";
import { byTestId } from "./dom.js";
import { mountEvents } from "./events.js";
import { mountOrder } from "./order.js";
import { mountProducts } from "./products.js";
import { showWhy, whyOrderOf } from "./why.js";

const products = mountProducts(byTestId(document, "products-panel"));
mountOrder(byTestId(document, "order-panel"), products);
mountEvents(byTestId(document, "events-panel"));

// The shop's panels stay mounted (their streams and polls keep running) while the timeline page is shown.
const layout = document.querySelector<HTMLElement>("main.layout");
const whyPanel = byTestId(document, "why-panel");
const route = (): void => {
  const orderId = whyOrderOf(location.hash);
  if (layout) layout.hidden = orderId !== undefined;
  whyPanel.hidden = orderId === undefined;
  if (orderId !== undefined) showWhy(whyPanel, orderId);
};
window.addEventListener("hashchange", route);
route();
