import { invalidArgument } from "#shared/errors.js";
import { validateMoney, type Money } from "#shared/money.js";

/** ImportLine is one restock line as received. */
export interface ImportLine {
  readonly productId: string;
  readonly quantity: number;
  readonly name: string;
  readonly price: Money | undefined;
}

/** ImportPlan says what one valid line does: add stock to a known product, or create the product with it. */
export type ImportPlan =
  | { readonly kind: "restock"; readonly productId: string; readonly quantity: number }
  | { readonly kind: "create"; readonly productId: string; readonly quantity: number; readonly name: string; readonly price: Money };

/** MAX_STOCK is the largest level a StockLevel (int32) can report. */
export const MAX_STOCK = 2_147_483_647;

/** PRODUCT_ID_PATTERN keeps created ids URL-safe, since they appear in REST paths. */
const PRODUCT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * planImportLine validates one import line against the product it names (undefined when unknown) and throws
 * INVALID_ARGUMENT naming the field: `quantity: must be positive`, `name: is required to create product "x"`.
 */
export function planImportLine(
  line: ImportLine,
  current: { readonly available: number; readonly reserved: number } | undefined,
): ImportPlan {
  if (line.productId.trim() === "") throw invalidArgument("product_id", "is required");
  if (!Number.isInteger(line.quantity) || line.quantity < 1) throw invalidArgument("quantity", "must be positive");
  if (current !== undefined) {
    if (current.available + line.quantity > MAX_STOCK) {
      throw invalidArgument("quantity", `would raise the stock of "${line.productId}" above ${MAX_STOCK}`);
    }
    return { kind: "restock", productId: line.productId, quantity: line.quantity };
  }
  if (!PRODUCT_ID_PATTERN.test(line.productId)) {
    throw invalidArgument("product_id", "must be 1-64 letters, digits, '.', '_' or '-' to create a product");
  }
  if (line.name.trim() === "") {
    throw invalidArgument("name", `is required to create unknown product "${line.productId}"`);
  }
  if (line.price === undefined) {
    throw invalidArgument("price", `is required to create unknown product "${line.productId}"`);
  }
  const price = validateMoney("price", line.price);
  return { kind: "create", productId: line.productId, quantity: line.quantity, name: line.name.trim(), price };
}
