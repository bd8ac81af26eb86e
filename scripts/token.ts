/**
 * token prints a development JWT the gateway accepts for writes (`npm run token`), signed with the same settings
 * the gateway reads (JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE, JWT_ALGORITHMS; dev defaults when unset).
 *
 *   npm run token                                  # every write scope, subject "dev", valid 1 h
 *   npm run token -- --scope orders:write --sub alice --ttl 600
 *   curl -H "Authorization: Bearer $(npm run -s token)" ...
 */
import { parseArgs } from "node:util";
import { ALL_WRITE_SCOPES, signToken } from "../gateway/src/auth.js";
import { loadConfig } from "../gateway/src/config.js";

const { values } = parseArgs({
  options: {
    sub: { type: "string", default: "dev" },
    scope: { type: "string", multiple: true },
    ttl: { type: "string", default: "3600" },
  },
});
const ttlSeconds = Number(values.ttl);
if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
  console.error(`--ttl must be a positive number of seconds, got "${values.ttl}"`);
  process.exit(2);
}
const scopes = values.scope?.flatMap((s) => s.split(/[ ,]+/)).filter(Boolean) ?? [...ALL_WRITE_SCOPES];
const token = await signToken(loadConfig().jwt, { subject: values.sub, scopes, ttlSeconds });
process.stdout.write(`${token}\n`);
