/**
 * How a command travels: its CloudEvents attributes in the transport's own header slots (binary content mode, as the
 * events do on Kafka: `ce_id`, `ce_type`, ... and W3C `traceparent`, the data as is) where the transport has room for
 * them (AMQP headers), or the whole CloudEvent as one JSON document (structured content mode, the data base64) where
 * it has not (SQS allows 10 message attributes, and SNS → SQS carries the body best). Both parse back to the same
 * Command, and both fail with MalformedCommandError, which parks the message with the reason.
 */
import { MalformedEventError, parseCloudEventHeaders, toCloudEventHeaders } from "../events/cloudevents.js";
import type { Command } from "./command-bus.js";

/** MalformedCommandError says why a message is not a command this project can read: it is parked, never retried. */
export class MalformedCommandError extends Error {
  override readonly name = "MalformedCommandError";
}

/** toCommandHeaders: the CloudEvents binary-mode headers of a command (the events' own mapping, events/cloudevents.ts). */
export function toCommandHeaders(command: Command): Record<string, string> {
  return toCloudEventHeaders(command);
}

/** fromCommandHeaders reads a command back from its headers and data; a missing or bad attribute is MalformedCommandError. */
export function fromCommandHeaders(headers: Readonly<Record<string, string>>, data: Uint8Array): Command {
  try {
    // No fallbacks: a command must name its subject and time itself (ordering and the ledger depend on them).
    const attributes = parseCloudEventHeaders({ ...headers }, { key: undefined, timestamp: new Date(Number.NaN) });
    if (headers["ce_time"] === undefined) throw new MalformedCommandError("missing header ce_time");
    return { ...attributes, data };
  } catch (error) {
    if (error instanceof MalformedEventError) throw new MalformedCommandError(error.message);
    throw error;
  }
}

/** toStructuredCommand: the command as one CloudEvents JSON document (structured mode), data in `data_base64`. */
export function toStructuredCommand(command: Command): string {
  return JSON.stringify({
    specversion: "1.0",
    id: command.id,
    type: command.type,
    source: command.source,
    subject: command.subject,
    time: command.time.toISOString(),
    datacontenttype: "application/protobuf",
    data_base64: Buffer.from(command.data).toString("base64"),
    ...(command.traceparent ? { traceparent: command.traceparent } : {}),
  });
}

/** fromStructuredCommand parses {@link toStructuredCommand}'s document; anything else is MalformedCommandError. */
export function fromStructuredCommand(body: string): Command {
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    throw new MalformedCommandError(`body is not a CloudEvents JSON document: ${JSON.stringify(body.slice(0, 80))}`);
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new MalformedCommandError("body is not a CloudEvents JSON object");
  }
  const fields = document as Record<string, unknown>;
  const text = (name: string): string => {
    const value = fields[name];
    if (typeof value !== "string" || value === "") throw new MalformedCommandError(`missing attribute ${name}`);
    return value;
  };
  const specversion = text("specversion");
  if (specversion !== "1.0") throw new MalformedCommandError(`unsupported specversion "${specversion}"`);
  // In the spec's order, so the first attribute missing is the one named.
  const id = text("id");
  const type = text("type");
  const source = text("source");
  const subject = text("subject");
  const time = new Date(text("time"));
  if (Number.isNaN(time.getTime())) throw new MalformedCommandError(`time "${String(fields["time"])}" is not an RFC 3339 time`);
  const data = fields["data_base64"];
  if (typeof data !== "string") throw new MalformedCommandError("missing attribute data_base64");
  const traceparent = fields["traceparent"];
  return {
    id,
    type,
    source,
    subject,
    time,
    data: new Uint8Array(Buffer.from(data, "base64")),
    traceparent: typeof traceparent === "string" ? traceparent : undefined,
  };
}

/** errorReason is the text a parked command keeps as its reason: the error's message, bounded. */
export function errorReason(error: unknown): string {
  const text = error instanceof Error ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}` : String(error);
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}
