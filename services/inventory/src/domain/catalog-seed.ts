import { money, type Money } from "#shared/money.js";

/** SeedProduct is one product of the starter catalog. */
export interface SeedProduct {
  readonly productId: string;
  readonly name: string;
  readonly description: string;
  readonly price: Money;
  readonly available: number;
}

const eur = (amountMinor: number): Money => money("EUR", amountMinor);

/**
 * SEED_CATALOG is what a fresh inventory starts with, so the demo has something to sell. `sku-grinder` has only 3
 * units on purpose: ordering 4 shows the out-of-stock path.
 */
export const SEED_CATALOG: readonly SeedProduct[] = [
  {
    productId: "sku-espresso",
    name: "Espresso beans",
    description: "Dark roast, 1 kg bag; chocolate and walnut.",
    price: eur(1890),
    available: 100,
  },
  {
    productId: "sku-filter",
    name: "Filter coffee beans",
    description: "Light Ethiopian roast, 500 g; jasmine and peach.",
    price: eur(1250),
    available: 100,
  },
  { productId: "sku-decaf", name: "Decaf beans", description: "Swiss-water decaffeinated, 500 g.", price: eur(1150), available: 100 },
  {
    productId: "sku-grinder",
    name: "Burr grinder",
    description: "Conical steel burrs, 40 settings. Few left.",
    price: eur(14900),
    available: 3,
  },
  { productId: "sku-kettle", name: "Gooseneck kettle", description: "0.9 l, thermometer in the lid.", price: eur(5900), available: 100 },
  { productId: "sku-mug", name: "Stoneware mug", description: "Hand-glazed, 300 ml.", price: eur(1490), available: 100 },
  { productId: "sku-filters", name: "Paper filters", description: "100 unbleached filters, size 02.", price: eur(590), available: 100 },
];
