/**
 * The REST route table, derived at start-up from the `google.api.http` annotations of the API services' methods
 * (there is no hand-kept route list): one Route per rule (and per additional binding). The REST handler and the
 * OpenAPI document both read this table, so the two cannot drift apart.
 */
import { getOption, hasOption } from "@bufbuild/protobuf";
import type { DescField, DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import { http } from "#gen/google/api/annotations_pb.js";
import type { HttpRule } from "#gen/google/api/http_pb.js";
import { expandPathTemplate, matchPathTemplate, parsePathTemplate, type PathTemplate } from "./path-template.js";

/** HttpMethod is a method a rule can bind. */
export type HttpMethod = "GET" | "PUT" | "POST" | "DELETE" | "PATCH";

/** Route is one REST binding of one RPC. */
export interface Route {
  readonly httpMethod: HttpMethod;
  readonly template: PathTemplate;
  /** version is the API version in the path (`v1` for `/api/v1/...`). */
  readonly version: string;
  readonly service: DescService;
  readonly method: DescMethod;
  /** body is the rule's body: "*" (the whole request), a field name, or "" (no body: the rest comes from the query). */
  readonly body: string;
  /** responseBody is the rule's response_body: a response field to answer with instead of the whole message. */
  readonly responseBody: string;
  readonly streaming: boolean;
  /** create: a POST on a collection that has an item route; it answers 201 with a Location of the new item. */
  readonly create: { readonly itemTemplate: PathTemplate; readonly idField: string } | undefined;
  /** empty: the response message has no fields, so a success answers 204 without a body. */
  readonly empty: boolean;
  /** deprecated: a newer version of this route's service exists (shop.order.v1 → shop.order.v2). */
  deprecated: boolean;
  /** successor is the same RPC in the next version of the API when this service's package has one. */
  successor: Route | undefined;
}

/** RouteMatch is a request resolved to a route and its path variables. */
export interface RouteMatch {
  readonly route: Route;
  readonly pathParams: Map<string, string>;
}

/** RouteLookup is a match, a path that exists under other methods (405), or no such path (404). */
export type RouteLookup =
  | { readonly kind: "match"; readonly match: RouteMatch }
  | { readonly kind: "method-not-allowed"; readonly allow: readonly HttpMethod[] }
  | { readonly kind: "not-found" };

/** RouteTable is every REST route plus lookups. */
export interface RouteTable {
  readonly routes: readonly Route[];
  /** versions lists the API versions that have routes, oldest first (`["v1", "v2"]`). */
  readonly versions: readonly string[];
  lookup(httpMethod: string, path: string): RouteLookup;
}

/** buildRouteTable derives the routes of the given services from their `google.api.http` rules. */
export function buildRouteTable(services: readonly DescService[]): RouteTable {
  const routes: Route[] = [];
  for (const service of services) {
    for (const method of service.methods) {
      if (!hasOption(method, http)) continue;
      const rule = getOption(method, http);
      for (const binding of [rule, ...rule.additionalBindings]) routes.push(routeOf(service, method, binding));
    }
  }
  linkCreates(routes);
  linkSuccessors(routes);
  // More literal segments first, so `/api/v1/stock:watch`-like routes beat a `/api/v1/{x}` one.
  routes.sort((a, b) => b.template.literalCount - a.template.literalCount);
  const versions = [...new Set(routes.map((r) => r.version))].sort(compareVersions);
  return {
    routes,
    versions,
    lookup(httpMethod, path) {
      const allow = new Set<HttpMethod>();
      for (const route of routes) {
        const pathParams = matchPathTemplate(route.template, path);
        if (!pathParams) continue;
        if (route.httpMethod === httpMethod) return { kind: "match", match: { route, pathParams } };
        allow.add(route.httpMethod);
      }
      return allow.size > 0 ? { kind: "method-not-allowed", allow: [...allow].sort() } : { kind: "not-found" };
    },
  };
}

/** versionOfPath returns `v1` for `/api/v1/...`, or undefined for an unversioned path. */
export function versionOfPath(path: string): string | undefined {
  return /^\/api\/(v\d+)(?:[/:]|$)/.exec(path)?.[1];
}

/** compareVersions orders `v2` before `v10`. */
function compareVersions(a: string, b: string): number {
  return Number(a.slice(1)) - Number(b.slice(1));
}

/** successorPath is the successor route's path for the same variables, for a `Link: rel="successor-version"`. */
export function successorPath(match: RouteMatch): string | undefined {
  const successor = match.route.successor;
  return successor ? expandPathTemplate(successor.template, match.pathParams) : undefined;
}

function routeOf(service: DescService, method: DescMethod, rule: HttpRule): Route {
  const { pattern } = rule;
  let httpMethod: HttpMethod;
  let path: string;
  switch (pattern.case) {
    case "get":
    case "put":
    case "post":
    case "delete":
    case "patch":
      httpMethod = pattern.case.toUpperCase() as HttpMethod;
      path = pattern.value;
      break;
    default:
      throw new Error(`${method.parent.typeName}.${method.name}: unsupported google.api.http pattern ${String(pattern.case)}`);
  }
  const where = `${service.typeName}.${method.name}`;
  const template = parsePathTemplate(path);
  const version = /^\/api\/(v\d+)\//.exec(path)?.[1];
  if (!version) throw new Error(`${where}: REST path ${path} must start with /api/v<N>/`);
  for (const variable of template.variables) fieldAt(method.input, variable.fieldPath, where);
  if (rule.body !== "" && rule.body !== "*") fieldAt(method.input, rule.body, where);
  if (method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming") {
    throw new Error(`${where}: client and bidi streams cannot be bound to REST`);
  }
  return {
    httpMethod,
    template,
    version,
    service,
    method,
    body: rule.body,
    responseBody: rule.responseBody,
    streaming: method.methodKind === "server_streaming",
    create: undefined,
    empty: method.output.fields.length === 0,
    deprecated: false,
    successor: undefined,
  };
}

/** fieldAt resolves a dotted field path in a message, failing start-up when an annotation names a missing field. */
export function fieldAt(message: DescMessage, fieldPath: string, where: string) {
  let current: DescMessage | undefined = message;
  let field: DescField | undefined;
  for (const name of fieldPath.split(".")) {
    field = current?.fields.find((f) => f.name === name);
    if (!field) throw new Error(`${where}: no field "${fieldPath}" in ${message.typeName}`);
    current = field.fieldKind === "message" ? field.message : undefined;
  }
  if (!field) throw new Error(`${where}: empty field path`);
  return field;
}

function linkCreates(routes: Route[]): void {
  for (const [i, route] of routes.entries()) {
    const { template } = route;
    if (route.httpMethod !== "POST" || template.verb !== undefined || template.variables.length > 0) continue;
    // The item route is a GET on `<collection>/{id}` of the same service: the created resource's id is its field.
    const item = routes.find(
      (r) =>
        r.service === route.service &&
        r.httpMethod === "GET" &&
        r.template.verb === undefined &&
        r.template.variables.length === 1 &&
        r.template.source.startsWith(`${template.source}/{`) &&
        r.template.segments.length === template.segments.length + 1,
    );
    const idField = item?.template.variables[0]?.fieldPath;
    if (item && idField) routes[i] = { ...route, create: { itemTemplate: item.template, idField } };
  }
}

function linkSuccessors(routes: Route[]): void {
  for (const route of routes) {
    const newer = routes.filter((r) => successorService(route.service, r.service));
    route.deprecated = newer.length > 0;
    // The successor is the same method in the lowest newer version of the service.
    route.successor = newer
      .filter((r) => r.method.name === route.method.name && r.httpMethod === route.httpMethod)
      .sort((a, b) => compareVersions(a.version, b.version))[0];
  }
}

function successorService(older: DescService, newer: DescService): boolean {
  const a = /^(.*)\.v(\d+)$/.exec(older.file.proto.package);
  const b = /^(.*)\.v(\d+)$/.exec(newer.file.proto.package);
  return !!a && !!b && a[1] === b[1] && older.name === newer.name && Number(b[2]) > Number(a[2]);
}
