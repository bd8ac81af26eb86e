/**
 * CloudEvents over Kafka, binary content mode (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md):
 * the Kafka value is the event data as is (protobuf binary here), the context attributes travel as `ce_`-prefixed
 * headers, `content-type` says how to read the value, and the key is the subject (the aggregate id).
 */
import type { IHeaders } from "kafkajs";

const CE_SPECVERSION = "1.0";
const PROTOBUF_CONTENT_TYPE = "application/protobuf";

/** CloudEventAttributes are the context attributes the project sets on every event. */
export interface CloudEventAttributes {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly subject: string;
  readonly time: Date;
  readonly traceparent?: string | undefined;
}

/** toCloudEventHeaders maps event attributes to Kafka headers in binary mode, plus W3C `traceparent` when given. */
export function toCloudEventHeaders(attributes: CloudEventAttributes): Record<string, string> {
  const headers: Record<string, string> = {
    ce_specversion: CE_SPECVERSION,
    ce_id: attributes.id,
    ce_type: attributes.type,
    ce_source: attributes.source,
    ce_subject: attributes.subject,
    ce_time: attributes.time.toISOString(), // RFC 3339, UTC
    "content-type": PROTOBUF_CONTENT_TYPE,
  };
  if (attributes.traceparent) headers["traceparent"] = attributes.traceparent;
  return headers;
}

/** headersToStrings decodes Kafka header values as UTF-8; a repeated header keeps its last value. */
export function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers ?? {})) {
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (value !== undefined) result[name] = value.toString();
  }
  return result;
}

/** MalformedEventError says why a Kafka message is not a CloudEvent this project can read. */
export class MalformedEventError extends Error {
  override readonly name = "MalformedEventError";
}

/**
 * parseCloudEventHeaders reads the context attributes back. `ce_specversion`, `ce_id`, `ce_type` and `ce_source` are
 * required (as in the spec); `ce_subject` falls back to the key and `ce_time` to the Kafka timestamp, so events from
 * other producers that omit them still parse. Throws MalformedEventError otherwise.
 */
export function parseCloudEventHeaders(
  headers: Record<string, string>,
  fallback: { key: string | undefined; timestamp: Date },
): CloudEventAttributes {
  const specversion = headers["ce_specversion"];
  if (specversion !== CE_SPECVERSION) {
    throw new MalformedEventError(
      specversion === undefined ? "missing header ce_specversion" : `unsupported ce_specversion "${specversion}"`,
    );
  }
  const required = (name: string): string => {
    const value = headers[name];
    if (!value) throw new MalformedEventError(`missing header ${name}`);
    return value;
  };
  const id = required("ce_id");
  const type = required("ce_type");
  const source = required("ce_source");
  const subject = headers["ce_subject"] ?? fallback.key;
  if (subject === undefined) throw new MalformedEventError("missing header ce_subject and no key");
  let time = fallback.timestamp;
  const ceTime = headers["ce_time"];
  if (ceTime !== undefined) {
    time = new Date(ceTime);
    if (Number.isNaN(time.getTime())) throw new MalformedEventError(`ce_time "${ceTime}" is not an RFC 3339 time`);
  }
  return { id, type, source, subject, time, traceparent: headers["traceparent"] };
}
