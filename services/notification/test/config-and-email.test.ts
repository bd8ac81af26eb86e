import { describe, expect, it } from "vitest";
import { ConfigError } from "#shared/config.js";
import { loadConfig } from "../src/config.js";
import { composeOrderEmail, displayMoney } from "../src/notifications.js";

describe("notification config", () => {
  it("when nothing is set, then it listens on :50054 with metrics on :9454, sends to Mailpit's SMTP port and takes commands from RabbitMQ", () => {
    const config = loadConfig({});

    expect(config).toMatchObject({ port: 50054, metricsPort: 9454, smtpUrl: "smtp://127.0.0.1:1025", commandBus: { kind: "rabbitmq" } });
  });

  it.each([
    { name: "SMTP_URL", value: "http://127.0.0.1:1025" },
    { name: "CUSTOMER_MAIL_DOMAIN", value: "not a domain" },
    { name: "SMTP_TIMEOUT_MS", value: "fast" },
  ])("when $name is $value, then start-up fails naming the variable", ({ name, value }) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(`"${name}"`);
  });
});

describe("order emails", () => {
  it("when an amount is shown to a customer, then it has the currency's own minor digits", () => {
    expect(displayMoney({ currencyCode: "EUR", amountMinor: 2_550n })).toBe("25.50 EUR");
    expect(displayMoney({ currencyCode: "EUR", amountMinor: 5n })).toBe("0.05 EUR");
    expect(displayMoney({ currencyCode: "JPY", amountMinor: 1_200n })).toBe("1200 JPY");
  });

  it("when an order is cancelled, then the email says why; without a reason, that none was given", () => {
    const total = { currencyCode: "EUR", amountMinor: 100n };

    expect(composeOrderEmail("CANCELLED", "o-1", total, "payment declined").text).toContain("Reason: payment declined");
    expect(composeOrderEmail("CANCELLED", "o-1", total, "").text).toContain("Reason: not given");
    expect(composeOrderEmail("CONFIRMED", "o-1", total, "")).toMatchObject({ subject: "Your order o-1 is confirmed" });
  });
});
