/**
 * Path templates of `google.api.http` rules (google/api/http.proto):
 *
 *   Template = "/" Segments [ Verb ] ;   Segments = Segment { "/" Segment } ;
 *   Segment  = "*" | "**" | LITERAL | Variable ;   Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *   Verb     = ":" LITERAL ;
 *
 * A template is parsed once at start-up into segment matchers; matching a request path binds the variables to
 * field paths (`order_id`, or `a.b` for nested fields).
 */

/** Segment is one matcher of a parsed template. */
type Segment = { readonly kind: "literal"; readonly value: string } | { readonly kind: "any" } | { readonly kind: "rest" };

/** TemplateVariable binds the segments [start, end) of a match to a request field path. */
export interface TemplateVariable {
  readonly fieldPath: string;
  readonly start: number;
  /** end is exclusive; undefined when the variable ends with `**` (it takes every remaining segment). */
  readonly end: number | undefined;
}

/** PathTemplate is a parsed `google.api.http` path template. */
export interface PathTemplate {
  readonly source: string;
  readonly segments: readonly Segment[];
  readonly variables: readonly TemplateVariable[];
  readonly verb: string | undefined;
  /** literalCount ranks templates: more literal segments win when two templates match one path. */
  readonly literalCount: number;
}

/** parsePathTemplate parses a template or throws naming what is wrong with it (a contract bug, found at start-up). */
export function parsePathTemplate(source: string): PathTemplate {
  if (!source.startsWith("/")) throw new Error(`path template ${source}: must start with "/"`);
  let body = source.slice(1);
  let verb: string | undefined;
  // The verb is the text after the last ":" outside braces.
  const lastBrace = body.lastIndexOf("}");
  const colon = body.indexOf(":", lastBrace + 1);
  if (colon >= 0) {
    verb = body.slice(colon + 1);
    body = body.slice(0, colon);
    if (!/^[A-Za-z0-9_.~-]+$/.test(verb)) throw new Error(`path template ${source}: bad verb "${verb}"`);
  }
  const segments: Segment[] = [];
  const variables: TemplateVariable[] = [];
  for (const part of splitOutsideBraces(body, source)) {
    const variable = /^\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?:=(.+))?\}$/.exec(part);
    if (variable) {
      const start = segments.length;
      for (const inner of (variable[2] ?? "*").split("/")) segments.push(segmentOf(inner, source));
      const last = segments[segments.length - 1];
      variables.push({ fieldPath: variable[1] ?? "", start, end: last?.kind === "rest" ? undefined : segments.length });
    } else {
      if (part.includes("{") || part.includes("}")) throw new Error(`path template ${source}: bad segment "${part}"`);
      segments.push(segmentOf(part, source));
    }
  }
  const restAt = segments.findIndex((s) => s.kind === "rest");
  if (restAt >= 0 && restAt !== segments.length - 1) throw new Error(`path template ${source}: "**" must be last`);
  const literalCount = segments.filter((s) => s.kind === "literal").length;
  return { source, segments, variables, verb, literalCount };
}

/** matchPathTemplate matches a request path (no query) and returns the decoded variable values, or undefined. */
export function matchPathTemplate(template: PathTemplate, path: string): Map<string, string> | undefined {
  const split = splitVerb(path);
  if (split.verb !== template.verb) return undefined;
  const parts = split.path.slice(1).split("/");
  const { segments } = template;
  const hasRest = segments[segments.length - 1]?.kind === "rest";
  if (hasRest ? parts.length < segments.length - 1 : parts.length !== segments.length) return undefined;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    const part = parts[i];
    if (segment?.kind === "rest") break;
    if (part === undefined || part === "") return undefined;
    if (segment?.kind === "literal" && segment.value !== part) return undefined;
  }
  const values = new Map<string, string>();
  for (const variable of template.variables) {
    const raw = parts.slice(variable.start, variable.end);
    let decoded: string[];
    try {
      decoded = raw.map((p) => decodeURIComponent(p));
    } catch {
      return undefined;
    }
    values.set(variable.fieldPath, decoded.join("/"));
  }
  return values;
}

/** expandPathTemplate fills a template's variables (e.g. for a Location header); undefined when one is missing. */
export function expandPathTemplate(template: PathTemplate, values: ReadonlyMap<string, string>): string | undefined {
  const parts: string[] = [];
  let i = 0;
  for (const variable of template.variables) {
    for (; i < variable.start; i++) parts.push(literalOf(template.segments[i]));
    const value = values.get(variable.fieldPath);
    if (value === undefined || value === "") return undefined;
    parts.push(value.split("/").map(encodeURIComponent).join("/"));
    i = variable.end ?? template.segments.length;
  }
  for (; i < template.segments.length; i++) parts.push(literalOf(template.segments[i]));
  return `/${parts.join("/")}${template.verb === undefined ? "" : `:${template.verb}`}`;
}

/** splitVerb splits `/a/b:verb` into path and verb; a colon in an earlier segment is not a verb. */
function splitVerb(path: string): { path: string; verb: string | undefined } {
  const lastSlash = path.lastIndexOf("/");
  const colon = path.indexOf(":", lastSlash + 1);
  if (colon < 0) return { path, verb: undefined };
  return { path: path.slice(0, colon), verb: path.slice(colon + 1) };
}

function segmentOf(text: string, source: string): Segment {
  if (text === "*") return { kind: "any" };
  if (text === "**") return { kind: "rest" };
  if (!/^[A-Za-z0-9_.~-]+$/.test(text)) throw new Error(`path template ${source}: bad segment "${text}"`);
  return { kind: "literal", value: text };
}

function literalOf(segment: Segment | undefined): string {
  if (segment?.kind !== "literal") throw new Error("a wildcard outside a variable cannot be expanded");
  return segment.value;
}

function splitOutsideBraces(body: string, source: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of body) {
    if (ch === "{") depth++;
    if (ch === "}") depth--;
    if (depth < 0 || depth > 1) throw new Error(`path template ${source}: unbalanced braces`);
    if (ch === "/" && depth === 0) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  if (depth !== 0) throw new Error(`path template ${source}: unbalanced braces`);
  parts.push(current);
  return parts;
}
