import { describe, expect, it } from "vitest";
import { ConfigError } from "#shared/config.js";
import { loadConfig } from "../src/config.js";

describe("order config: where its commands go", () => {
  it("when COMMAND_BUS is unset, then its commands go to RabbitMQ at RABBITMQ_URL", () => {
    expect(loadConfig({ RABBITMQ_URL: "amqp://guest:guest@127.0.0.1:29999" }).commandBus).toMatchObject({
      kind: "rabbitmq",
      url: "amqp://guest:guest@127.0.0.1:29999",
    });
  });

  it("when COMMAND_BUS is off, then order has no command bus (its commands stay in the outbox)", () => {
    expect(loadConfig({ COMMAND_BUS: "off" }).commandBus).toBeUndefined();
  });

  it("when COMMAND_BUS names no bus, then start-up fails naming the variable", () => {
    expect(() => loadConfig({ COMMAND_BUS: "kafka" })).toThrow(ConfigError);
    expect(() => loadConfig({ COMMAND_BUS: "kafka" })).toThrow('"COMMAND_BUS"');
  });
});
