import { invalidArgument } from "./errors.js";

/**
 * Page tokens are opaque to clients (base64url JSON) so the cursor's shape can
 * change without breaking them. A token carries the filter it was issued for; a
 * token reused with another filter is rejected rather than silently skipping rows.
 */
export interface PageCursor {
  /** after is the sort key of the last row returned. */
  readonly after: string;
  /** filter fingerprints the request's filters. */
  readonly filter: string;
}

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 200;

/** pageSizeOf applies the default (0 → 50) and the cap (200); negative is INVALID_ARGUMENT. */
export function pageSizeOf(requested: number): number {
  if (requested < 0) throw invalidArgument("page_size", "must not be negative");
  return requested === 0 ? DEFAULT_PAGE_SIZE : Math.min(requested, MAX_PAGE_SIZE);
}

export function encodePageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

/** decodePageToken returns undefined for the first page and rejects foreign or tampered tokens. */
export function decodePageToken(token: string, filter: string): PageCursor | undefined {
  if (token === "") return undefined;
  let cursor: unknown;
  try {
    cursor = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalidArgument("page_token", "is not a token this server issued");
  }
  if (!isCursor(cursor)) throw invalidArgument("page_token", "is not a token this server issued");
  if (cursor.filter !== filter) throw invalidArgument("page_token", "was issued for different filters");
  return cursor;
}

function isCursor(value: unknown): value is PageCursor {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as PageCursor).after === "string" &&
    typeof (value as PageCursor).filter === "string"
  );
}
