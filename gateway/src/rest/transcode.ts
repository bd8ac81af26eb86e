/**
 * Transcoding between REST requests and protobuf messages, following the `google.api.http` rules: path variables,
 * the body (`*` or one field) and query parameters become the request message through the protobuf JSON mapping
 * (`fromJson` with unknown fields rejected); the response message becomes JSON through `toJson`. Bad input fails
 * with INVALID_ARGUMENT whose message names the field the way the client spelled it (`lines[1].quantity: ...`).
 */
import { fromJson, ScalarType, toJson } from "@bufbuild/protobuf";
import type { DescField, DescMessage, JsonObject, JsonValue, Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Route } from "./route-table.js";

/** RestInput is what a REST request carries besides its method and path. */
export interface RestInput {
  readonly pathParams: ReadonlyMap<string, string>;
  readonly query: URLSearchParams;
  /** body is the raw request body text; empty when there is none. */
  readonly body: string;
}

/** decodeRequest builds the route's request message, or throws INVALID_ARGUMENT naming the offending field. */
export function decodeRequest(route: Route, input: RestInput): Message {
  const schema = route.method.input;
  const json: JsonObject = {};
  if (route.body === "*") {
    Object.assign(json, parseBody(input.body, true));
  } else if (route.body !== "") {
    const value = parseBody(input.body, false);
    if (value !== undefined) setAt(schema, json, route.body.split("."), value);
  } else if (input.body.trim() !== "" && route.httpMethod !== "GET") {
    throw invalid("body: this method takes no request body");
  }
  if (route.body !== "*") addQuery(route, json, input.query);
  else for (const key of input.query.keys()) throw invalid(`${key}: unknown query parameter (this method takes a JSON body)`);
  // Path variables win over the same field in the body: the URL names the resource.
  for (const [fieldPath, value] of input.pathParams) setAt(schema, json, fieldPath.split("."), value);
  try {
    return fromJson(schema, json, { ignoreUnknownFields: false });
  } catch (error) {
    throw invalid(locateProblem(schema, json, "") ?? `request: ${problemOf(error)}`);
  }
}

/** encodeResponse renders a response message as JSON, every field present (defaults included) for stable shapes. */
export function encodeResponse(route: Route, message: Message): JsonValue {
  const json = toJson(route.method.output, message, { alwaysEmitImplicit: true });
  if (route.responseBody === "" || json === null || typeof json !== "object" || Array.isArray(json)) return json;
  const field = route.method.output.fields.find((f) => f.name === route.responseBody);
  return field ? (json[field.jsonName] ?? null) : json;
}

/** invalid is the INVALID_ARGUMENT error the error mapper turns into a 400 envelope. */
function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function parseBody(text: string, wantObject: true): JsonObject;
function parseBody(text: string, wantObject: false): JsonValue | undefined;
function parseBody(text: string, wantObject: boolean): JsonValue | undefined {
  if (text.trim() === "") return wantObject ? {} : undefined;
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (error) {
    throw invalid(`body: malformed JSON: ${(error as Error).message}`);
  }
  if (wantObject && (value === null || typeof value !== "object" || Array.isArray(value))) {
    throw invalid("body: must be a JSON object");
  }
  return value;
}

function addQuery(route: Route, json: JsonObject, query: URLSearchParams): void {
  const schema = route.method.input;
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key);
    const path = key.split(".");
    const field = resolvePath(schema, path);
    if (!field) throw invalid(`${key}: unknown query parameter`);
    if (route.body !== "" && path[0] !== undefined && fieldOf(schema, path[0])?.name === route.body.split(".")[0]) {
      throw invalid(`${key}: belongs in the request body`);
    }
    if (field.fieldKind === "map" || (field.fieldKind === "message" && !field.message.typeName.startsWith("google.protobuf."))) {
      throw invalid(`${key}: cannot be set from a query parameter`);
    }
    if (field.fieldKind === "list") {
      setAt(
        schema,
        json,
        path,
        values.map((v) => queryValue(field, v)),
      );
    } else {
      if (values.length > 1) throw invalid(`${key}: given more than once`);
      setAt(schema, json, path, queryValue(field, values[0] ?? ""));
    }
  }
}

/** queryValue converts a query string to the JSON the field's mapping expects; a bad value stays a string so fromJson names the problem. */
function queryValue(field: DescField, raw: string): JsonValue {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  if (kind === "enum" && field.enum) {
    // Accept the short name too (`status=CONFIRMED` for ORDER_STATUS_CONFIRMED): it reads better in URLs.
    const exact = field.enum.values.find((v) => v.name === raw);
    if (exact) return exact.name;
    const short = field.enum.values.find((v) => v.name === `${field.enum?.sharedPrefix ?? ""}${raw}` || v.localName === raw);
    if (short) return short.name;
    return /^-?\d+$/.test(raw) ? Number(raw) : raw;
  }
  if (kind === "scalar" && field.scalar === ScalarType.BOOL) {
    if (raw === "true" || raw === "1") return true;
    if (raw === "false" || raw === "0") return false;
  }
  return raw;
}

function fieldOf(message: DescMessage, name: string): DescField | undefined {
  return message.fields.find((f) => f.name === name || f.jsonName === name);
}

function resolvePath(message: DescMessage, path: readonly string[]): DescField | undefined {
  let current: DescMessage | undefined = message;
  let field: DescField | undefined;
  for (const name of path) {
    field = current ? fieldOf(current, name) : undefined;
    if (!field) return undefined;
    current = field.fieldKind === "message" ? field.message : undefined;
  }
  return field;
}

/** setAt writes a value at a field path, replacing the field under either of its JSON names. */
function setAt(message: DescMessage, json: JsonObject, path: readonly string[], value: JsonValue): void {
  let target = json;
  let current: DescMessage | undefined = message;
  for (const [i, name] of path.entries()) {
    const field: DescField | undefined = current ? fieldOf(current, name) : undefined;
    const key = field ? (field.jsonName in target ? field.jsonName : field.name in target ? field.name : name) : name;
    if (i === path.length - 1) {
      if (field && key !== field.jsonName) delete target[field.jsonName];
      target[key] = value;
      return;
    }
    const next = target[key];
    if (next === null || typeof next !== "object" || Array.isArray(next)) target[key] = {};
    target = target[key] as JsonObject;
    current = field?.fieldKind === "message" ? field.message : undefined;
  }
}

/**
 * locateProblem finds the first bad field of a JSON request by decoding one field at a time, descending into
 * messages and lists, so the error names `lines[1].quantity` rather than only the failing message type.
 */
function locateProblem(schema: DescMessage, json: JsonValue, path: string): string | undefined {
  const where = (key: string) => (path === "" ? key : `${path}.${key}`);
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    return `${path === "" ? "body" : path}: must be a JSON object`;
  }
  for (const [key, value] of Object.entries(json)) {
    const field = fieldOf(schema, key);
    if (!field) return `${where(key)}: unknown field`;
    const problem = tryDecode(schema, key, value);
    if (problem === undefined) continue;
    if (field.fieldKind === "message" && descend(field.message, value)) {
      return locateProblem(field.message, value, where(key)) ?? `${where(key)}: ${problem}`;
    }
    if (field.fieldKind === "list" && Array.isArray(value)) {
      for (const [i, element] of value.entries()) {
        const elementProblem = tryDecode(schema, key, [element]);
        if (elementProblem === undefined) continue;
        if (field.listKind === "message" && descend(field.message, element)) {
          return locateProblem(field.message, element, `${where(key)}[${i}]`) ?? `${where(key)}[${i}]: ${elementProblem}`;
        }
        return `${where(key)}[${i}]: ${elementProblem}`;
      }
    }
    if (field.fieldKind === "map" && value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [mapKey, element] of Object.entries(value)) {
        const elementProblem = tryDecode(schema, key, { [mapKey]: element });
        if (elementProblem === undefined) continue;
        if (field.mapKind === "message" && descend(field.message, element)) {
          return locateProblem(field.message, element, `${where(key)}["${mapKey}"]`) ?? `${where(key)}: ${elementProblem}`;
        }
        return `${where(key)}["${mapKey}"]: ${elementProblem}`;
      }
    }
    return `${where(key)}: ${problem}`;
  }
  return undefined;
}

/** descend: only plain messages are walked; well-known types have their own JSON forms (a Timestamp is a string). */
function descend(message: DescMessage, value: JsonValue | undefined): value is JsonObject {
  return !message.typeName.startsWith("google.protobuf.") && value !== null && typeof value === "object" && !Array.isArray(value);
}

function tryDecode(schema: DescMessage, key: string, value: JsonValue | undefined): string | undefined {
  try {
    fromJson(schema, { [key]: value ?? null }, { ignoreUnknownFields: false });
    return undefined;
  } catch (error) {
    return problemOf(error);
  }
}

/** problemOf keeps the useful tail of protobuf-es's message ("expected number (int32), got \"x\""). */
function problemOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const at = message.indexOf("from JSON: ");
  return at >= 0 ? message.slice(at + "from JSON: ".length) : message;
}
