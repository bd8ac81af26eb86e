import { readFileSync } from "node:fs";
import type { DescService } from "@bufbuild/protobuf";
import { parse } from "yaml";
import { TRUST_DOMAIN } from "./identity.js";

/** ANY_CERTIFICATE grants a method to every holder of a certificate the mesh's CA issued. */
const ANY_CERTIFICATE = "*";

export class AccessPolicyError extends Error {
  override name = "AccessPolicyError";
}

/**
 * AccessPolicy answers one question, "may this identity call this method?", from the policy file
 * (policy/access.yaml): grants by exact `package.Service/Method` or by `package.Service/*`, to named identities, to
 * identity prefixes (`spiffe://.../operator/admin/*`), or to any certificate ("*"). Whatever is not granted is
 * denied, including every call with no identity at all.
 */
export class AccessPolicy {
  private constructor(
    /** grants maps a method (or `Service/*`) to the identity patterns allowed to call it. */
    private readonly grants: ReadonlyMap<string, readonly string[]>,
    readonly source: string,
  ) {}

  /** load reads and validates a policy file; every mistake is an AccessPolicyError naming the file and the entry. */
  static load(file: string): AccessPolicy {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      throw new AccessPolicyError(`cannot read the access policy ${file}: ${(error as Error).message}`);
    }
    return AccessPolicy.parse(text, file);
  }

  /** parse validates a policy document (see policy/access.yaml for its shape). */
  static parse(text: string, source = "policy"): AccessPolicy {
    const fail = (message: string): never => {
      throw new AccessPolicyError(`${source}: ${message}`);
    };
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (error) {
      return fail(`not valid YAML: ${(error as Error).message}`);
    }
    if (!isRecord(doc)) return fail("must be a mapping with version, identities and grants");
    if (doc["version"] !== 1) fail(`version must be 1, got ${JSON.stringify(doc["version"])}`);
    const identities = new Map<string, string>();
    const declared = doc["identities"];
    if (!isRecord(declared)) return fail("identities must map names to SPIFFE IDs");
    for (const [name, id] of Object.entries(declared)) {
      if (typeof id !== "string" || !id.startsWith(`spiffe://${TRUST_DOMAIN}/`)) {
        fail(`identity "${name}" must be a SPIFFE ID in spiffe://${TRUST_DOMAIN}/, got ${JSON.stringify(id)}`);
      }
      identities.set(name, id as string);
    }
    const rawGrants = doc["grants"];
    if (!isRecord(rawGrants)) return fail("grants must map methods to lists of identity names");
    const grants = new Map<string, string[]>();
    for (const [method, callers] of Object.entries(rawGrants)) {
      if (!/^[A-Za-z_][\w.]*\.[A-Za-z_]\w*\/(\*|[A-Za-z_]\w*)$/.test(method)) {
        fail(`grant "${method}" must name package.Service/Method or package.Service/*`);
      }
      if (!Array.isArray(callers) || callers.length === 0) return fail(`grant "${method}" must list at least one caller`);
      grants.set(
        method,
        callers.map((caller: unknown) => {
          if (caller === ANY_CERTIFICATE) return ANY_CERTIFICATE;
          const id = typeof caller === "string" ? identities.get(caller) : undefined;
          return id ?? fail(`grant "${method}" names "${String(caller)}", which is not under identities`);
        }),
      );
    }
    for (const method of grants.keys()) {
      const [service, name] = method.split("/") as [string, string];
      // One place per method: a service-wide grant and a per-method one would make a reader wonder which wins.
      if (name !== "*" && grants.has(`${service}/*`)) fail(`"${method}" is also covered by "${service}/*"; keep one`);
    }
    return new AccessPolicy(grants, source);
  }

  /** allows says whether `identity` may call `method` (`package.Service/Method`); no identity is never allowed. */
  allows(method: string, identity: string | undefined): boolean {
    if (identity === undefined) return false;
    const patterns = this.grants.get(method) ?? this.grants.get(`${method.slice(0, method.indexOf("/"))}/*`);
    return patterns?.some((pattern) => matches(pattern, identity)) ?? false;
  }

  /**
   * ungranted lists the methods of `services` that nobody may call: a served method missing from the policy is a
   * mistake to report at start-up (it would be denied to everyone), not a secret to discover in production.
   */
  ungranted(services: readonly DescService[]): string[] {
    return services
      .flatMap((service) => service.methods.map((method) => `${service.typeName}/${method.name}`))
      .filter((method) => !this.grants.has(method) && !this.grants.has(`${method.slice(0, method.indexOf("/"))}/*`));
  }
}

function matches(pattern: string, identity: string): boolean {
  if (pattern === ANY_CERTIFICATE) return true;
  if (pattern.endsWith("/*")) return identity.startsWith(pattern.slice(0, -1)) && identity.length > pattern.length - 1;
  return identity === pattern;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
