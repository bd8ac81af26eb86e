import path from "node:path";
import { ConfigError, deepFreeze, readList, readServiceSettings, type Env, type ServiceSettings } from "#shared/config.js";

/**
 * PaymentConfig is the payment service's whole configuration, read from the environment once: the keys every service
 * shares (services/shared/src/config.ts, `readServiceSettings`) plus:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `PAYMENT_CURRENCIES` | `EUR` | ISO 4217 codes the merchant account accepts; others are an operational fault |
 */
export interface PaymentConfig extends ServiceSettings {
  readonly paymentCurrencies: readonly string[];
}

/** loadConfig parses the environment, failing fast with the variable's name. */
export function loadConfig(env: Env = process.env): Readonly<PaymentConfig> {
  const settings = readServiceSettings(env, "payment", 50052, 9452);
  return deepFreeze({
    ...settings,
    dataDir: path.resolve(settings.dataDir),
    paymentCurrencies: readCurrencies(env, "PAYMENT_CURRENCIES"),
  });
}

function readCurrencies(env: Env, name: string): string[] {
  const codes = readList(env, name, ["EUR"]).map((code) => code.toUpperCase());
  const bad = codes.find((code) => !/^[A-Z]{3}$/.test(code));
  if (bad !== undefined) throw new ConfigError(`environment variable "${name}" must list ISO 4217 codes, got "${bad}"`);
  return codes;
}
