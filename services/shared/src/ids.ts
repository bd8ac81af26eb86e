import { invalidArgument } from "./errors.js";

/** UUID is the shape of the mesh's ids (orders, payments, commands): 8-4-4-4-12 hex digits, any case. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** isUuid tells whether `value` is a UUID. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** requireUuid validates a required id field, naming it: `payment_id: required`, `payment_id: must be a UUID`. */
export function requireUuid(field: string, value: string): string {
  if (value === "") throw invalidArgument(field, "required");
  return optionalUuid(field, value);
}

/** optionalUuid validates an optional id field (e.g. a filter): empty is fine, anything else must be a UUID. */
export function optionalUuid(field: string, value: string): string {
  if (value !== "" && !isUuid(value)) throw invalidArgument(field, "must be a UUID");
  return value.toLowerCase();
}
