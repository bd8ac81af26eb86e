/**
 * JSON Schemas (OpenAPI 3.1 dialect) for protobuf messages as the protobuf JSON mapping renders them: JSON
 * (lowerCamel) field names, enums as their value names, 64-bit integers as strings, Timestamps as RFC 3339
 * strings. Messages and enums become components named by their full proto name (`shop.order.v2.Order`).
 */
import { getOption, hasOption, ScalarType } from "@bufbuild/protobuf";
import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";
import { FieldBehavior, field_behavior } from "#gen/google/api/field_behavior_pb.js";
import { withLimits } from "./limits.js";

/** JsonSchema is a schema object; kept loose because it is only ever serialized. */
export type JsonSchema = { [key: string]: unknown };

/**
 * TYPE_DOCS describes shared types whose meaning a client must know to use the API. Proto comments are not in the
 * runtime descriptors (protoc-gen-es strips source info), so the few that matter are repeated here.
 */
const TYPE_DOCS: Record<string, string> = {
  "shop.common.v1.Money":
    'Money is an amount in one currency, kept in the currency\'s minor units so that no floating point touches a price: 12.34 EUR is {"currencyCode": "EUR", "amountMinor": "1234"}. amountMinor is an int64, so it is a string in JSON.',
};

/** WELL_KNOWN maps well-known types to their special JSON forms (https://protobuf.dev/programming-guides/json/). */
const WELL_KNOWN: Record<string, JsonSchema> = {
  "google.protobuf.Timestamp": {
    type: "string",
    format: "date-time",
    description: "An RFC 3339 timestamp in UTC, e.g. 2026-11-27T10:00:00Z.",
  },
  "google.protobuf.Duration": {
    type: "string",
    pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$",
    description: 'A duration in seconds with an "s" suffix, e.g. "1.5s".',
  },
  "google.protobuf.FieldMask": { type: "string", description: "Comma-separated lowerCamel field paths." },
  "google.protobuf.Struct": { type: "object", additionalProperties: true },
  "google.protobuf.Value": {},
  "google.protobuf.ListValue": { type: "array", items: {} },
  "google.protobuf.Empty": { type: "object", additionalProperties: false },
  "google.protobuf.StringValue": { type: ["string", "null"] },
  "google.protobuf.BoolValue": { type: ["boolean", "null"] },
  "google.protobuf.Int32Value": { type: ["integer", "null"], format: "int32" },
  "google.protobuf.Int64Value": { type: ["string", "null"], format: "int64" },
  "google.protobuf.DoubleValue": { type: ["number", "null"], format: "double" },
};

/** wellKnownSchema is the JSON form of a well-known type, or undefined for any other message. */
export function wellKnownSchema(typeName: string): JsonSchema | undefined {
  const schema = WELL_KNOWN[typeName];
  return schema ? { ...schema } : undefined;
}

/** SchemaRegistry collects the components referenced while describing messages. */
export class SchemaRegistry {
  readonly schemas: Record<string, JsonSchema> = {};

  /** ref returns a `$ref` to a message or enum component, registering it (and what it uses) on first sight. */
  ref(desc: DescMessage | DescEnum): JsonSchema {
    const wellKnown = desc.kind === "message" ? wellKnownSchema(desc.typeName) : undefined;
    if (wellKnown) return wellKnown;
    if (!(desc.typeName in this.schemas)) {
      this.schemas[desc.typeName] = {}; // placeholder first: messages may be recursive
      this.schemas[desc.typeName] = desc.kind === "enum" ? enumSchema(desc) : this.messageSchema(desc);
    }
    return { $ref: `#/components/schemas/${desc.typeName}` };
  }

  /** messageSchema describes a message, leaving out `omit` (fields bound to the path, for a request body). */
  messageSchema(message: DescMessage, omit: ReadonlySet<string> = new Set()): JsonSchema {
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const field of message.fields) {
      if (omit.has(field.name)) continue;
      const behaviors = hasOption(field, field_behavior) ? getOption(field, field_behavior) : [];
      const schema = withLimits(message.typeName, field.name, this.fieldSchema(field));
      if (behaviors.includes(FieldBehavior.OUTPUT_ONLY)) schema["readOnly"] = true;
      if (behaviors.includes(FieldBehavior.IMMUTABLE)) schema["description"] = "Immutable once set.";
      // The proto name is accepted on input too; saying so spares clients a guess.
      if (field.name !== field.jsonName) schema["x-proto-name"] = field.name;
      properties[field.jsonName] = schema;
      if (behaviors.includes(FieldBehavior.REQUIRED)) required.push(field.jsonName);
    }
    const schema: JsonSchema = { type: "object", properties, additionalProperties: false };
    if (required.length > 0) schema["required"] = required;
    const doc = TYPE_DOCS[message.typeName];
    if (doc) schema["description"] = doc;
    return schema;
  }

  private fieldSchema(field: DescField): JsonSchema {
    switch (field.fieldKind) {
      case "scalar":
        return scalarSchema(field.scalar);
      case "enum":
        return this.ref(field.enum);
      case "message":
        return this.ref(field.message);
      case "list":
        return {
          type: "array",
          items:
            field.listKind === "scalar"
              ? scalarSchema(field.scalar)
              : field.listKind === "enum"
                ? this.ref(field.enum)
                : this.ref(field.message),
        };
      case "map": {
        const value =
          field.mapKind === "scalar"
            ? scalarSchema(field.scalar)
            : field.mapKind === "enum"
              ? this.ref(field.enum)
              : this.ref(field.message);
        return { type: "object", additionalProperties: value };
      }
    }
  }
}

/** scalarSchema is a scalar's JSON form; 64-bit integers are strings in the protobuf JSON mapping. */
export function scalarSchema(scalar: ScalarType): JsonSchema {
  switch (scalar) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { type: "string", format: "int64", pattern: "^-?[0-9]+$" };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: "string", format: "uint64", pattern: "^[0-9]+$" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "uint32", minimum: 0 };
    default:
      return { type: "integer", format: "int32" };
  }
}

function enumSchema(desc: DescEnum): JsonSchema {
  return { type: "string", enum: desc.values.map((v) => v.name) };
}
