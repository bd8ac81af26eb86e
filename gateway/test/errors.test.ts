/**
 * The error envelope's HTTP framing for load shedding: a backend's RESOURCE_EXHAUSTED is 429 with Retry-After (the
 * backend's `retry-after` hint when it sent one), so REST callers back off instead of retrying at once. Over a real
 * HTTP server in-process; the envelope itself is covered by rest.test.ts against the real mesh.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, expect, it } from "vitest";
import { resourceExhausted } from "#shared/errors.js";
import { payloadTooLarge, writeErrorEnvelope } from "../src/errors.js";

let server: http.Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** answerWith serves one error through writeErrorEnvelope and returns the HTTP answer. */
async function answerWith(err: unknown): Promise<Response> {
  server = http.createServer((_req, res) => writeErrorEnvelope(res, err, "0af7651916cd43dd8448eb211c80319c"));
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
}

it("when a backend sheds load with a retry-after hint, then 429 RESOURCE_EXHAUSTED with that Retry-After", async () => {
  const answer = await answerWith(resourceExhausted("CreateOrder: 128 already in progress, retry later", 3));

  expect(answer.status).toBe(429);
  expect(answer.headers.get("retry-after")).toBe("3");
  expect(await answer.json()).toMatchObject({ code: "RESOURCE_EXHAUSTED", message: "CreateOrder: 128 already in progress, retry later" });
});

it("when RESOURCE_EXHAUSTED comes without a usable hint, then 429 with Retry-After: 1", async () => {
  const answer = await answerWith(new ConnectError("busy", Code.ResourceExhausted, { "retry-after": "soon" }));

  expect(answer.status).toBe(429);
  expect(answer.headers.get("retry-after")).toBe("1");
});

it("when the body is too large (413), then no Retry-After: retrying the same body cannot help", async () => {
  const answer = await answerWith(payloadTooLarge(1024));

  expect(answer.status).toBe(413);
  expect(answer.headers.get("retry-after")).toBeNull();
});

it("when a call was cancelled, then the envelope spells the code as gRPC does (CANCELLED), like the services' logs and the OpenAPI schema", async () => {
  const answer = await answerWith(new ConnectError("the client went away", Code.Canceled));

  expect(await answer.json()).toMatchObject({ code: "CANCELLED", message: "the client went away" });
  const document = JSON.parse(readFileSync(new URL("../../openapi/openapi.json", import.meta.url), "utf8")) as {
    components: { schemas: { ErrorEnvelope: { properties: { code: { enum: string[] } } } } };
  };
  expect(document.components.schemas.ErrorEnvelope.properties.code.enum).toContain("CANCELLED");
});
