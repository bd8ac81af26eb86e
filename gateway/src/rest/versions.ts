/**
 * API versions on the REST surface: `/api/v1/...` and `/api/v2/...` side by side; an unversioned `/api/...` picks
 * its version from `Accept: application/vnd.shop.v2+json` (default: the newest), and a deprecated version's
 * answers carry `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and a `successor-version` Link (RFC 5829).
 * The policy behind the dates is docs/versioning.md.
 */
import { Code } from "@connectrpc/connect";
import type { GatewayConfig } from "../config.js";
import { httpError, type HttpStatusError } from "../errors.js";

/** VENDOR_TYPE matches `application/vnd.shop.v2+json` and captures the version. */
const VENDOR_TYPE = /^application\/vnd\.shop\.(v\d+)\+json$/;

/** DeprecationDates are when a version was deprecated and when it stops being served. */
export interface DeprecationDates {
  readonly deprecatedAt: Date;
  readonly sunsetAt: Date;
}

/** VersionPolicy maps a deprecated version (`v1`) to its dates. */
export type VersionPolicy = ReadonlyMap<string, DeprecationDates>;

/**
 * versionPolicyOf reads the v1 dates from the gateway config (V1_DEPRECATED_AT / V1_SUNSET, YYYY-MM-DD); the
 * sunset is the end of that day in UTC.
 */
export function versionPolicyOf(config: Pick<GatewayConfig, "v1DeprecatedAt" | "v1Sunset">): VersionPolicy {
  return new Map([["v1", datesOf(config.v1DeprecatedAt, config.v1Sunset)]]);
}

/** datesOf parses YYYY-MM-DD dates (deprecation at the start of the day, sunset at its end, UTC). */
export function datesOf(deprecatedAt: string, sunset: string): DeprecationDates {
  const day = (text: string, name: string) => {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || Number.isNaN(Date.parse(`${text}T00:00:00Z`))) {
      throw new Error(`${name} must be a YYYY-MM-DD date, got "${text}"`);
    }
    return new Date(`${text}T00:00:00Z`);
  };
  const deprecated = day(deprecatedAt, "V1_DEPRECATED_AT");
  const sunsetAt = new Date(day(sunset, "V1_SUNSET").getTime() + 86_399_000);
  if (sunsetAt <= deprecated) throw new Error("V1_SUNSET must be after V1_DEPRECATED_AT");
  return { deprecatedAt: deprecated, sunsetAt };
}

// The dates are fixed per policy: format them once, not on every v1 answer.
const formattedDates = new WeakMap<DeprecationDates, { deprecation: string; sunset: string }>();

/** deprecationHeaders are the headers of an answer from a deprecated route. */
export function deprecationHeaders(dates: DeprecationDates, successorPath: string | undefined): Record<string, string> {
  let formatted = formattedDates.get(dates);
  if (!formatted) {
    // RFC 9745: a Structured Field Date, `@` + seconds since the epoch. RFC 8594: an HTTP-date.
    formatted = { deprecation: `@${Math.floor(dates.deprecatedAt.getTime() / 1000)}`, sunset: dates.sunsetAt.toUTCString() };
    formattedDates.set(dates, formatted);
  }
  const headers: Record<string, string> = {};
  headers["deprecation"] = formatted.deprecation;
  headers["sunset"] = formatted.sunset;
  const links = [`<${VERSIONING_DOC_PATH}>; rel="deprecation"; type="text/markdown"`];
  if (successorPath) links.unshift(`<${successorPath}>; rel="successor-version"`);
  headers["link"] = links.join(", ");
  return headers;
}

/** VERSIONING_DOC_PATH serves docs/versioning.md (the openapi handler), the `rel="deprecation"` link target. */
export const VERSIONING_DOC_PATH = "/docs/versioning.md";

/** MediaRange is one entry of an Accept header. */
interface MediaRange {
  readonly type: string;
  readonly q: number;
}

/**
 * parseAccept splits an Accept header into the media ranges it accepts, with their q-values (RFC 9110 §12.5.1);
 * a range with q=0 is "not acceptable" and left out.
 */
function parseAccept(accept: string): MediaRange[] {
  return accept
    .split(",")
    .map((part) => {
      const [type = "", ...params] = part.split(";").map((p) => p.trim());
      const q = params.find((p) => /^q=/i.test(p));
      const value = q ? Number(q.slice(2)) : 1;
      return { type: type.toLowerCase(), q: Number.isFinite(value) ? value : 0 };
    })
    .filter((range) => range.type !== "" && range.q > 0);
}

/**
 * ANSWERABLE are the media ranges, other than a shop version, that the API's answers satisfy: JSON, and the event
 * stream of a server-streaming route (which answers errors as JSON). Anything else (text/html, application/xml)
 * the API cannot answer with: 406, rather than a body the client said it does not take.
 */
const ANSWERABLE = new Set(["*/*", "application/*", "application/json", "text/event-stream"]);

/** noAccept is true for a request without an Accept preference (absent or empty): anything goes. */
function noAccept(accept: string | undefined): accept is undefined {
  return accept === undefined || accept.trim() === "";
}

/** Negotiated is the version an unversioned request is served with, and the content type to answer with. */
export interface Negotiated {
  readonly version: string;
  readonly contentType: string;
}

/**
 * negotiateVersion picks the version for an unversioned `/api/...` request: the acceptable `vnd.shop.vN+json` with
 * the highest q (newest on ties) among the served versions, else — when the client takes JSON, an event stream
 * or anything — the newest. A client that accepts only unknown shop versions or other media types gets 406.
 */
export function negotiateVersion(accept: string | undefined, served: readonly string[]): Negotiated | HttpStatusError {
  const newest = served[served.length - 1];
  if (!newest) return httpError(404, Code.NotFound, "no API versions are served");
  if (noAccept(accept)) return { version: newest, contentType: "application/json" };
  const ranges = parseAccept(accept);
  const vendor = ranges
    .map((r) => ({ q: r.q, version: VENDOR_TYPE.exec(r.type)?.[1] }))
    .filter((r): r is { q: number; version: string } => r.version !== undefined && served.includes(r.version))
    .sort((a, b) => b.q - a.q || served.indexOf(b.version) - served.indexOf(a.version));
  const best = vendor[0];
  if (best) return { version: best.version, contentType: `application/vnd.shop.${best.version}+json` };
  if (ranges.some((r) => ANSWERABLE.has(r.type))) return { version: newest, contentType: "application/json" };
  return httpError(
    406,
    Code.InvalidArgument,
    `Accept: none of ${accept.trim()} is served; use application/json or application/vnd.shop.{${served.join(",")}}+json`,
  );
}

/** checkAcceptForVersion rejects (406) a versioned request whose Accept takes neither JSON nor this version's type. */
export function checkAcceptForVersion(accept: string | undefined, version: string): HttpStatusError | undefined {
  if (noAccept(accept)) return undefined;
  const own = `application/vnd.shop.${version}+json`;
  if (parseAccept(accept).some((r) => ANSWERABLE.has(r.type) || r.type === own)) return undefined;
  return httpError(406, Code.InvalidArgument, `Accept: ${accept.trim()} is not served by /api/${version}; use application/json or ${own}`);
}
