/** Formatting helpers: money from minor units, times, enum names. */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Money } from "#gen/shop/common/v1/money_pb.js";

/**
 * formatMoney renders a Money in the browser's locale. amount_minor is an int64 (bigint): the currency's own minor
 * unit count comes from Intl, so JPY (0 decimals) and EUR (2) both come out right.
 */
export function formatMoney(money: Money | undefined): string {
  if (!money?.currencyCode) return "—";
  const format = new Intl.NumberFormat(undefined, { style: "currency", currency: money.currencyCode });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  const minor = money.amountMinor;
  const negative = minor < 0n;
  const abs = negative ? -minor : minor;
  const scale = 10n ** BigInt(digits);
  // Build the decimal string from bigints, so large amounts never lose precision through a float.
  const whole = abs / scale;
  const fraction = (abs % scale).toString().padStart(digits, "0");
  const decimal = `${negative ? "-" : ""}${whole}${digits > 0 ? `.${fraction}` : ""}`;
  return format.format(decimal as unknown as number);
}

/** formatTime renders a Timestamp (or RFC 3339 string) as a local time of day. */
export function formatTime(time: Timestamp | string | undefined): string {
  if (!time) return "";
  const date = typeof time === "string" ? new Date(time) : timestampDate(time);
  return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** enumName is the short name of an enum value (`OrderStatus.CONFIRMED` → "CONFIRMED"). */
export function enumName(values: Record<number, string>, value: number): string {
  return values[value] ?? `UNKNOWN_${value}`;
}
