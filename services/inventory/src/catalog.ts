import { ConnectError } from "@connectrpc/connect";
import { invalidArgument, notFound } from "#shared/errors.js";
import { decodePageToken, encodePageToken, pageSizeOf } from "#shared/page-token.js";
import type { SqliteDatabase } from "#shared/store/database.js";
import { SEED_CATALOG } from "./domain/catalog-seed.js";
import { planImportLine, type ImportLine } from "./domain/stock-import.js";
import type { StockFeed } from "./stock-feed.js";
import type { ProductRecord, ProductStore } from "./store/product-store.js";

/** ImportError says why one import line was rejected. */
export interface ImportError {
  readonly lineIndex: number;
  readonly productId: string;
  readonly message: string;
}

/** ImportSummary counts what a bulk import did. */
export interface ImportSummary {
  accepted: number;
  rejected: number;
  created: number;
  readonly errors: ImportError[];
}

/** ListPage is one page of the catalog. */
export interface ListPage {
  readonly products: ProductRecord[];
  readonly nextPageToken: string;
}

/** PAGE_FILTER fingerprints ListProducts' filters: it has none yet, so tokens only carry the cursor. */
const PAGE_FILTER = "";

/**
 * Catalog is the use cases around products and their stock: seeding, listing, reading levels and bulk restocking.
 * Every change publishes the new levels to the StockFeed after its transaction committed.
 */
export class Catalog {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly products: ProductStore,
    private readonly feed: StockFeed,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** seedIfEmpty fills an empty catalog with SEED_CATALOG; returns how many products it created. */
  seedIfEmpty(): number {
    return this.db.transaction(() => {
      if (this.products.count() > 0) return 0;
      const now = this.clock();
      for (const product of SEED_CATALOG) this.products.insert(product, now);
      return SEED_CATALOG.length;
    })();
  }

  list(pageSize: number, pageToken: string): ListPage {
    const size = pageSizeOf(pageSize);
    const cursor = decodePageToken(pageToken, PAGE_FILTER);
    // One extra row tells whether another page exists, so the last page has no token.
    const rows = this.products.page(cursor?.after ?? "", size + 1);
    const products = rows.slice(0, size);
    const last = products[products.length - 1];
    const nextPageToken = rows.length > size && last ? encodePageToken({ after: last.productId, filter: PAGE_FILTER }) : "";
    return { products, nextPageToken };
  }

  get(productId: string): ProductRecord {
    if (productId.trim() === "") throw invalidArgument("product_id", "is required");
    const product = this.products.get(productId);
    if (!product) throw notFound(`product "${productId}"`);
    return product;
  }

  /** levels returns the named products (all when none are named); an unknown id is NOT_FOUND naming it. */
  levels(productIds: readonly string[]): ProductRecord[] {
    if (productIds.length === 0) return this.products.all();
    return [...new Set(productIds)].map((productId, i) => {
      const product = this.products.get(productId);
      if (!product) throw notFound(`product_ids[${i}]: product "${productId}"`);
      return product;
    });
  }

  /**
   * importLines applies a batch of import lines in one transaction, each line inside its own savepoint: a line is
   * applied whole or not at all, a bad line is recorded in `summary` and the others still apply. Batching keeps a
   * 1,000-line import to a handful of fsyncs instead of one per line.
   */
  importLines(lines: readonly { index: number; line: ImportLine }[], summary: ImportSummary): void {
    const changed = new Set<string>();
    const now = this.clock();
    this.db.transaction(() => {
      for (const { index, line } of lines) {
        try {
          // A nested better-sqlite3 transaction is a SAVEPOINT: a throw rolls back this line only.
          const outcome = this.db.transaction(() => this.importLine(line, now))();
          summary.accepted++;
          if (outcome === "created") summary.created++;
          changed.add(line.productId);
        } catch (error) {
          if (!(error instanceof ConnectError)) throw error;
          summary.rejected++;
          summary.errors.push({ lineIndex: index, productId: line.productId, message: error.rawMessage });
        }
      }
    })();
    this.publish(changed);
  }

  private importLine(line: ImportLine, now: Date): "created" | "restocked" {
    const plan = planImportLine(line, this.products.get(line.productId));
    if (plan.kind === "create") {
      this.products.insert(
        { productId: plan.productId, name: plan.name, description: "", price: plan.price, available: plan.quantity },
        now,
      );
      return "created";
    }
    this.products.adjust(plan.productId, { available: plan.quantity, reserved: 0 }, now);
    return "restocked";
  }

  /** publish sends the committed levels of the changed products to watchers. */
  publish(productIds: Iterable<string>): void {
    const levels: ProductRecord[] = [];
    for (const productId of productIds) {
      const product = this.products.get(productId);
      if (product) levels.push(product);
    }
    if (levels.length > 0) this.feed.publish(levels);
  }
}
