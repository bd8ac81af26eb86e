/** The web UI's entry point: mounts the three panels. */
import "../styles.css";
import { byTestId } from "./dom.js";
import { mountEvents } from "./events.js";
import { mountOrder } from "./order.js";
import { mountProducts } from "./products.js";

const products = mountProducts(byTestId(document, "products-panel"));
mountOrder(byTestId(document, "order-panel"), products);
mountEvents(byTestId(document, "events-panel"));
