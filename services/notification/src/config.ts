import path from "node:path";
import {
  type CommandBusSettings,
  ConfigError,
  deepFreeze,
  type Env,
  readCommandBusSettings,
  readInt,
  readServiceSettings,
  readString,
  type ServiceSettings,
} from "#shared/config.js";

/** DEFAULT_SMTP_URL is Mailpit's SMTP port (`npm run mailpit:start`, scripts/mailpit.sh) on its default port. */
export const DEFAULT_SMTP_URL = "smtp://127.0.0.1:1025";

/**
 * NotificationConfig is the notification service's whole configuration, read from the environment once: the keys
 * every service shares (services/shared/src/config.ts, `readServiceSettings`), the command bus's
 * (`readCommandBusSettings`: COMMAND_BUS, RABBITMQ_URL, COMMAND_RETRY_*, ...) plus:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `SMTP_URL` | `smtp://127.0.0.1:1025` | the SMTP server the emails go to (Mailpit in development); `smtps://` for TLS |
 * | `MAIL_FROM` | `shopmesh <orders@shopmesh.local>` | the From of every email |
 * | `CUSTOMER_MAIL_DOMAIN` | `customers.shopmesh.local` | a customer's address is `<customer id>@<this>`: the shop has no address book yet |
 * | `SMTP_TIMEOUT_MS` | `10000` | how long one SMTP conversation may take before the send fails (and the command is retried) |
 */
export interface NotificationConfig extends ServiceSettings {
  readonly commandBus: CommandBusSettings;
  readonly smtpUrl: string;
  readonly mailFrom: string;
  readonly customerMailDomain: string;
  readonly smtpTimeoutMs: number;
}

/** loadConfig parses the environment, failing fast with the variable's name. */
export function loadConfig(env: Env = process.env): Readonly<NotificationConfig> {
  const settings = readServiceSettings(env, "notification", 50054, 9454);
  const smtpUrl = readString(env, "SMTP_URL", DEFAULT_SMTP_URL);
  if (!/^smtps?:\/\/[^/]+/.test(smtpUrl)) {
    throw new ConfigError(`environment variable "SMTP_URL" must be an smtp:// or smtps:// URL, got "${smtpUrl}"`);
  }
  const domain = readString(env, "CUSTOMER_MAIL_DOMAIN", "customers.shopmesh.local");
  if (!/^[a-z0-9.-]+\.[a-z]{2,}$/i.test(domain)) {
    throw new ConfigError(`environment variable "CUSTOMER_MAIL_DOMAIN" must be a domain name, got "${domain}"`);
  }
  return deepFreeze({
    ...settings,
    dataDir: path.resolve(settings.dataDir),
    commandBus: readCommandBusSettings(env),
    smtpUrl,
    mailFrom: readString(env, "MAIL_FROM", "shopmesh <orders@shopmesh.local>"),
    customerMailDomain: domain,
    smtpTimeoutMs: readInt(env, "SMTP_TIMEOUT_MS", 10_000, { min: 100, max: 300_000 }),
  });
}
