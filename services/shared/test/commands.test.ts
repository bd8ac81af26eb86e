/**
 * Unit tests of the command bus's pieces that need no broker: COMMAND_BUS in the config loader, the two wire formats
 * (a malformed message must be told apart, with a reason, from a command), the backoff, and the SQLite ledger.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, readCommandBusSettings } from "#shared/config.js";
import { type Command, memoryCommandLedger, PermanentCommandError, retryDelayMs, sqliteCommandLedger } from "#shared/commands/index.js";
import {
  fromCommandHeaders,
  fromStructuredCommand,
  MalformedCommandError,
  toCommandHeaders,
  toStructuredCommand,
} from "#shared/commands/codec.js";
import { decodeCommand } from "#shared/commands/command-bus.js";
import { inboxSchema } from "#shared/events/inbox.js";
import { openDatabase } from "#shared/store/database.js";
import { OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";

const sample: Command = {
  id: "cmd-1",
  type: "test.v1.Note",
  source: "shopmesh/order",
  subject: "order-9",
  time: new Date("2026-12-01T10:00:00.000Z"),
  data: new Uint8Array([1, 2, 3, 250]),
  traceparent: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
};

describe("readCommandBusSettings", () => {
  it("when nothing is set, then RabbitMQ on localhost with the documented retry, prefetch and send timeout", () => {
    expect(readCommandBusSettings({})).toEqual({
      kind: "rabbitmq",
      url: "amqp://guest:guest@127.0.0.1:5672",
      retry: { attempts: 5, initialDelayMs: 1_000, maxDelayMs: 30_000 },
      prefetch: 10,
      sendTimeoutMs: 5_000,
    });
  });

  it("when COMMAND_BUS=sqs, then the SQS endpoint and region are read, RABBITMQ_URL is not", () => {
    expect(readCommandBusSettings({ COMMAND_BUS: "SQS", SQS_ENDPOINT: "http://127.0.0.1:4566", RABBITMQ_URL: "nonsense" })).toMatchObject({
      kind: "sqs",
      endpoint: "http://127.0.0.1:4566",
      region: "us-east-1",
    });
  });

  it("when COMMAND_BUS or RABBITMQ_URL is wrong, then start-up fails naming the variable", () => {
    expect(() => readCommandBusSettings({ COMMAND_BUS: "kafka" })).toThrow(
      new ConfigError('environment variable "COMMAND_BUS" must be one of rabbitmq, sqs, got "kafka"'),
    );
    expect(() => readCommandBusSettings({ RABBITMQ_URL: "http://x" })).toThrow(/"RABBITMQ_URL" must be an amqp/);
    expect(() => readCommandBusSettings({ COMMAND_RETRY_ATTEMPTS: "0" })).toThrow(/"COMMAND_RETRY_ATTEMPTS"/);
  });
});

describe("command wire formats", () => {
  it("binary mode (AMQP headers) and structured mode (JSON) both give back the command as sent", () => {
    expect(fromCommandHeaders(toCommandHeaders(sample), sample.data)).toEqual(sample);
    expect(fromStructuredCommand(toStructuredCommand(sample))).toEqual(sample);
  });

  it("a message that is not a command is MalformedCommandError saying what is wrong", () => {
    const headers = toCommandHeaders(sample);
    const { ce_subject: _subject, ...noSubject } = headers;
    expect(() => fromCommandHeaders({}, sample.data)).toThrow(new MalformedCommandError("missing header ce_specversion"));
    expect(() => fromCommandHeaders(noSubject, sample.data)).toThrow(MalformedCommandError);
    expect(() => fromCommandHeaders({ ...headers, ce_time: "yesterday" }, sample.data)).toThrow(/ce_time "yesterday"/);
    expect(() => fromStructuredCommand("hello")).toThrow(/not a CloudEvents JSON document/);
    expect(() => fromStructuredCommand(JSON.stringify({ specversion: "1.0", id: "x" }))).toThrow(
      new MalformedCommandError("missing attribute type"),
    );
  });

  it("decodeCommand of another type or of bytes that are not the message is permanent: no retry can help", () => {
    expect(() => decodeCommand(OrderCreatedSchema, sample)).toThrow(PermanentCommandError);
    expect(() => decodeCommand(OrderCreatedSchema, { type: OrderCreatedSchema.typeName, data: new Uint8Array([255, 255, 255]) })).toThrow(
      PermanentCommandError,
    );
  });
});

describe("retryDelayMs", () => {
  it("doubles from the initial delay and stops at the cap", () => {
    const policy = { attempts: 6, initialDelayMs: 1_000, maxDelayMs: 5_000 };
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelayMs(policy, attempt))).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
  });
});

describe("command ledgers", () => {
  it("the SQLite ledger (the inbox table) remembers a handled command per consumer, across connections", () => {
    const db = openDatabase(":memory:", inboxSchema);
    const ledger = sqliteCommandLedger(db);
    expect(ledger.handled("notification.email", "cmd-1")).toBe(false);
    ledger.record("notification.email", sample);
    ledger.record("notification.email", sample); // a second record is no error
    expect(ledger.handled("notification.email", "cmd-1")).toBe(true);
    expect(ledger.handled("notification.sms", "cmd-1")).toBe(false);
    expect(db.prepare("SELECT consumer, event_id, event_type FROM inbox").all()).toEqual([
      { consumer: "notification.email", event_id: "cmd-1", event_type: "test.v1.Note" },
    ]);
    db.close();
  });

  it("the memory ledger keeps consumers apart", () => {
    const ledger = memoryCommandLedger();
    ledger.record("a", sample);
    expect([ledger.handled("a", "cmd-1"), ledger.handled("b", "cmd-1")]).toEqual([true, false]);
  });
});
