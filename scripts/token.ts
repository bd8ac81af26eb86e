/**
 * token prints a development JWT the gateway accepts, signed with the same settings the gateway reads (JWT_SECRET,
 * JWT_ISSUER, JWT_AUDIENCE, JWT_ALGORITHMS; dev defaults when unset). The subject is the customer the token acts
 * for: through the gateway it reads and changes only that customer's orders, unless `--admin` adds the admin scope
 * (every order, and payments).
 *
 *   npm run token                                  # every write scope, subject "dev", valid 1 h
 *   npm run token -- --subject c-42                # c-42's orders only
 *   npm run token -- --admin                       # + admin: every customer's orders, payments, refunds
 *   npm run token -- --scope orders:write --subject alice --ttl 600
 *   curl -H "Authorization: Bearer $(npm run -s token)" ...
 */
import { parseArgs } from "node:util";
import { ADMIN_SCOPE } from "#shared/security/principal.js";
import { ALL_WRITE_SCOPES, signToken } from "../gateway/src/auth.js";
import { loadConfig } from "../gateway/src/config.js";

const { values } = parseArgs({
  options: {
    subject: { type: "string" },
    // --sub is the earlier spelling of --subject, kept for scripts that use it.
    sub: { type: "string" },
    admin: { type: "boolean", default: false },
    scope: { type: "string", multiple: true },
    ttl: { type: "string", default: "3600" },
  },
});
const ttlSeconds = Number(values.ttl);
if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
  console.error(`--ttl must be a positive number of seconds, got "${values.ttl}"`);
  process.exit(2);
}
const subject = values.subject ?? values.sub ?? "dev";
if (!/^[\x21-\x7e]{1,256}$/.test(subject)) {
  console.error(`--subject must be printable ASCII without spaces, got "${subject}"`);
  process.exit(2);
}
const scopes = values.scope?.flatMap((s) => s.split(/[ ,]+/)).filter(Boolean) ?? [...ALL_WRITE_SCOPES];
if (values.admin && !scopes.includes(ADMIN_SCOPE)) scopes.push(ADMIN_SCOPE);
const token = await signToken(loadConfig().jwt, { subject, scopes, ttlSeconds });
process.stdout.write(`${token}\n`);
