import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

// These tests run the real gate (scripts/breaking.sh → buf breaking) on a copy of
// the contracts with one edit applied, against the committed released image.
const root = join(import.meta.dirname, "..", "..");
const orderProto = "proto/shop/order/v1/order_service.proto";
const workspaces: string[] = [];

function workspaceWith(edit: (source: string) => string, file = orderProto): string {
  const dir = mkdtempSync(join(tmpdir(), "shopmesh-breaking-"));
  workspaces.push(dir);
  cpSync(join(root, "proto"), join(dir, "proto"), { recursive: true });
  cpSync(join(root, "buf.yaml"), join(dir, "buf.yaml"));
  const path = join(dir, file);
  const before = readFileSync(path, "utf8");
  const after = edit(before);
  expect(after, "the edit must change the file").not.toBe(before);
  writeFileSync(path, after);
  return dir;
}

function runGate(workspace: string) {
  const result = spawnSync("bash", [join(root, "scripts/breaking.sh"), workspace], { encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

afterEach(() => {
  for (const dir of workspaces.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("the breaking-change gate", () => {
  it("when the contracts are unchanged, then it passes", () => {
    const gate = runGate(root);
    expect(gate.output).toContain("no breaking changes");
    expect(gate.status).toBe(0);
  });

  it.each([
    {
      change: "a field is deleted",
      edit: (s: string) => s.replace("  string card_token = 3 [(google.api.field_behavior) = REQUIRED];\n", ""),
      expected: /deleted/i,
    },
    {
      change: "a field's type changes",
      edit: (s: string) =>
        s.replace(
          "int32 quantity = 2 [(google.api.field_behavior) = REQUIRED];",
          "int64 quantity = 2 [(google.api.field_behavior) = REQUIRED];",
        ),
      expected: /changed type/i,
    },
    {
      change: "a field is renumbered",
      edit: (s: string) => s.replace("string customer_id = 3;", "string customer_id = 13;"),
      expected: /deleted|changed/i,
    },
    {
      change: "the service is renamed",
      edit: (s: string) => s.replace("service OrderService {", "service OrderingService {"),
      expected: /OrderService/,
    },
  ])("when $change, then it fails and names the change", ({ edit, expected }) => {
    const gate = runGate(workspaceWith(edit));
    expect(gate.status).not.toBe(0);
    expect(gate.output).toMatch(expected);
  });

  it.each([
    {
      change: "an optional field is added",
      edit: (s: string) =>
        s.replace(
          "  string card_token = 3 [(google.api.field_behavior) = REQUIRED];\n",
          "  string card_token = 3 [(google.api.field_behavior) = REQUIRED];\n  // note is a free-text note for the shop.\n  optional string note = 4;\n",
        ),
    },
    {
      change: "an RPC is added",
      edit: (s: string) =>
        s.replace(
          "service OrderService {\n",
          "service OrderService {\n  // CountOrders is a unary RPC. It counts orders.\n  rpc CountOrders(CountOrdersRequest) returns (CountOrdersResponse);\n\n",
        ) +
        "\n// CountOrdersRequest asks for a count.\nmessage CountOrdersRequest {}\n\n// CountOrdersResponse is a count.\nmessage CountOrdersResponse {\n  // count is the number of orders.\n  int64 count = 1;\n}\n",
    },
  ])("when $change, then it passes", ({ edit }) => {
    const gate = runGate(workspaceWith(edit));
    expect(gate.output).toContain("no breaking changes");
    expect(gate.status).toBe(0);
  });
});
