import type { SqliteDatabase } from "#shared/store/database.js";
import type { Money } from "#shared/money.js";

/** ProductRecord is a product row with its stock. */
export interface ProductRecord {
  readonly productId: string;
  readonly name: string;
  readonly description: string;
  readonly price: Money;
  readonly available: number;
  readonly reserved: number;
  readonly updatedAt: Date;
}

interface ProductRow {
  product_id: string;
  name: string;
  description: string;
  currency_code: string;
  amount_minor: number;
  available: number;
  reserved: number;
  updated_ms: number;
}

const COLUMNS = `product_id, name, description, currency_code, amount_minor, available, reserved, updated_ms`;

/** ProductStore reads and changes products and their stock levels; callers own the transactions. */
export class ProductStore {
  private readonly selectOne;
  private readonly selectPage;
  private readonly selectAll;
  private readonly countAll;
  private readonly insertOne;
  private readonly adjustOne;

  constructor(db: SqliteDatabase) {
    this.selectOne = db.prepare<[string], ProductRow>(`SELECT ${COLUMNS} FROM products WHERE product_id = ?`);
    this.selectPage = db.prepare<[string, number], ProductRow>(
      `SELECT ${COLUMNS} FROM products WHERE product_id > ? ORDER BY product_id LIMIT ?`,
    );
    this.selectAll = db.prepare<[], ProductRow>(`SELECT ${COLUMNS} FROM products ORDER BY product_id`);
    this.countAll = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM products`);
    this.insertOne = db.prepare(
      `INSERT INTO products (${COLUMNS})
       VALUES (@productId, @name, @description, @currencyCode, @amountMinor, @available, 0, @updatedMs)`,
    );
    // The CHECK constraints reject a change that would make either level negative.
    this.adjustOne = db.prepare(
      `UPDATE products SET available = available + @available, reserved = reserved + @reserved, updated_ms = @now
        WHERE product_id = @productId`,
    );
  }

  get(productId: string): ProductRecord | undefined {
    const row = this.selectOne.get(productId);
    return row && toRecord(row);
  }

  /** page returns up to `limit` products with ids after `after`, ordered by id. */
  page(after: string, limit: number): ProductRecord[] {
    return this.selectPage.all(after, limit).map(toRecord);
  }

  all(): ProductRecord[] {
    return this.selectAll.all().map(toRecord);
  }

  count(): number {
    return this.countAll.get()?.n ?? 0;
  }

  insert(product: { productId: string; name: string; description: string; price: Money; available: number }, now: Date): void {
    this.insertOne.run({
      productId: product.productId,
      name: product.name,
      description: product.description,
      currencyCode: product.price.currencyCode,
      amountMinor: Number(product.price.amountMinor),
      available: product.available,
      updatedMs: now.getTime(),
    });
  }

  /** adjust adds the deltas to a product's available and reserved levels. */
  adjust(productId: string, delta: { available: number; reserved: number }, now: Date): void {
    const result = this.adjustOne.run({ productId, available: delta.available, reserved: delta.reserved, now: now.getTime() });
    if (result.changes !== 1) throw new Error(`product "${productId}" vanished during a stock change`);
  }
}

function toRecord(row: ProductRow): ProductRecord {
  return {
    productId: row.product_id,
    name: row.name,
    description: row.description,
    price: { currencyCode: row.currency_code, amountMinor: BigInt(row.amount_minor) },
    available: row.available,
    reserved: row.reserved,
    updatedAt: new Date(row.updated_ms),
  };
}
