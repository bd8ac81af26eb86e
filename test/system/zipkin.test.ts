/**
 * scripts/zipkin.sh against the real Zipkin server (Maven Central's exec jar on Java 17): start on a free port, take one
 * span in through the collector API, read it back through the query API, see it listen on loopback only, stop.
 * Without Java or Maven this fails and says which is missing: the script is the project's trace viewer, not optional.
 * In between, the kit's own spans (TRACING=zipkin) reach it with the ids and parent links they were made with.
 */
import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { readTracingSettings } from "#shared/config.js";
import { bindServer, createClient, createGrpcServer, implement } from "#shared/grpc/index.js";
import { currentTrace, type TraceContext } from "#shared/trace-context.js";
import { createTracing } from "#shared/tracing/index.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { listeningAddresses, script } from "./daemons.js";
import { waitUntil } from "../../scripts/mesh/wait.js";

/** zipkin runs scripts/zipkin.sh on `port`; the first start downloads about 130 MB, so it may take minutes. */
function zipkin(command: "start" | "stop" | "status", port: number): Promise<{ code: number; output: string }> {
  return script("zipkin.sh", command, { ZIPKIN_PORT: String(port) }, 300_000);
}

function hasCommand(command: string): boolean {
  return spawnSync("bash", ["-c", `command -v ${command}`]).status === 0;
}

let startedPort: number | undefined;
afterAll(async () => {
  // A failed assertion must not leave a JVM behind.
  if (startedPort !== undefined) await zipkin("stop", startedPort);
});

describe("scripts/zipkin.sh", () => {
  it("starts Zipkin on loopback, collects a span and serves it back as a trace", { timeout: 400_000 }, async () => {
    expect(hasCommand("java"), "java not found: scripts/zipkin.sh needs a JDK 17+ (apt-get install openjdk-17-jre-headless)").toBe(true);
    expect(hasCommand("mvn"), "mvn not found: scripts/zipkin.sh fetches Zipkin with Maven 3.8+ (apt-get install maven)").toBe(true);

    const port = await freePort();
    startedPort = port;
    const started = await zipkin("start", port);
    expect(started.code, started.output).toBe(0);
    expect((await zipkin("status", port)).output).toContain("started by zipkin.sh");

    // Loopback only: every listening socket on the port is 127.0.0.1 (or its IPv4-mapped IPv6 form), none 0.0.0.0 or ::.
    const addresses = listeningAddresses(port);
    expect(addresses.length).toBeGreaterThan(0);
    for (const address of addresses) expect(address.endsWith("0100007F"), `listening on ${address}`).toBe(true);

    const base = `http://127.0.0.1:${port}`;
    const traceId = crypto.randomUUID().replaceAll("-", "");
    const span = {
      traceId,
      id: traceId.slice(0, 16),
      name: "get /zipkin-script-test",
      kind: "SERVER",
      timestamp: Date.now() * 1000,
      duration: 1500,
      localEndpoint: { serviceName: "zipkin-script-test" },
      tags: { "test.run": traceId },
    };
    const posted = await fetch(`${base}/api/v2/spans`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([span]),
    });
    expect(posted.status).toBe(202);

    // The collector stores asynchronously: poll the query API until the trace is there.
    const traces = await waitUntil(
      async () => {
        const res = await fetch(`${base}/api/v2/traces?serviceName=zipkin-script-test&lookback=3600000&limit=10`);
        const body = (await res.json()) as { traceId: string; id: string; name: string; tags?: Record<string, string> }[][];
        return body.some((trace) => trace.some((s) => s.traceId === traceId)) ? body : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, message: `trace ${traceId} in /api/v2/traces` },
    );
    const stored = traces.flat().find((s) => s.traceId === traceId);
    expect(stored).toMatchObject({ id: span.id, name: span.name, tags: { "test.run": traceId } });
  });

  it("receives the kit's spans (TRACING=zipkin): a SERVER span parented on the caller's CLIENT span, in the trace the handler ran in", async () => {
    expect(startedPort, "the previous test started Zipkin").toBeDefined();
    const base = `http://127.0.0.1:${startedPort}`;
    const settings = readTracingSettings({ TRACING: "zipkin", ZIPKIN_ENDPOINT: `${base}/api/v2/spans` });
    const serverTracing = createTracing(settings, { serviceName: "zipkin-test-server" })!;
    const clientTracing = createTracing(settings, { serviceName: "zipkin-test-client" })!;
    let handled: TraceContext | undefined;
    const grpc = createGrpcServer({
      services: [
        implement(InventoryService, {
          getProduct: () => {
            handled = currentTrace();
            return {};
          },
        }),
      ],
      spans: serverTracing.spans,
    });
    const address = `127.0.0.1:${await bindServer(grpc.server, "127.0.0.1:0")}`;
    const client = createClient(InventoryService, address, { spans: clientTracing.spans });
    try {
      await client.getProduct({ productId: "sku-zipkin" });
    } finally {
      client.close();
      grpc.server.forceShutdown();
      // What a service's stop does last: flush the batch to Zipkin.
      await Promise.all([serverTracing.shutdown(), clientTracing.shutdown()]);
    }
    const traceId = handled?.traceId;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    type ZipkinSpan = { id: string; parentId?: string; kind: string; name: string; localEndpoint: { serviceName: string } };
    const spans = await waitUntil(
      async () => {
        const res = await fetch(`${base}/api/v2/trace/${traceId}`);
        const body = res.ok ? ((await res.json()) as ZipkinSpan[]) : [];
        return body.length >= 2 ? body : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, message: `trace ${traceId} with two spans in Zipkin` },
    );
    const server = spans.find((span) => span.kind === "SERVER");
    const clientSpan = spans.find((span) => span.kind === "CLIENT");
    expect(server).toMatchObject({ id: handled?.spanId, name: "shop.inventory.v1.inventoryservice/getproduct" });
    expect(server?.localEndpoint.serviceName).toBe("zipkin-test-server");
    expect(clientSpan?.localEndpoint.serviceName).toBe("zipkin-test-client");
    expect(server?.parentId).toBe(clientSpan?.id);
  });

  it("stops the server it started, by its pid file", async () => {
    const port = startedPort;
    expect(port, "the first test started Zipkin").toBeDefined();
    const stopped = await zipkin("stop", port!);
    expect(stopped.code, stopped.output).toBe(0);
    startedPort = undefined;
    expect((await zipkin("status", port!)).code).toBe(3);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});
