/**
 * Kafka over TLS with the mesh's CA, against a real broker: scripts/kafka.sh started with a TLS listener
 * (KAFKA_TLS_PORT) on a PKI of this test's own. A service's client presents its certificate and produces and
 * consumes; a client with no certificate, and one whose certificate another CA issued, are refused by the broker,
 * which logs each refusal. The other tests keep the plaintext listener (the global setup's broker).
 */
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { createServer, type ConnectionOptions } from "node:tls";
import type { Kafka } from "kafkajs";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderService, OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { createClient } from "#shared/grpc/client.js";
import { createKafkaClient } from "#shared/events/kafka-client.js";
import { kafkaSslOf } from "#shared/events/kafka-tls.js";
import { openMeshTransport } from "#shared/security/mesh-transport.js";
import { KAFKA_BROKER_ID } from "#shared/security/identity.js";
import { brokerFiles, serviceFiles } from "#shared/security/pki-layout.js";
import { ensureMeshPki } from "#shared/security/pki.js";
import { checkServerId } from "#shared/security/tls.js";
import { kafkaScript } from "../../scripts/mesh/broker.js";
import { ROOT } from "../../scripts/mesh/child.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { ProcessMesh, START_ORDER } from "../../scripts/mesh/mesh.js";
import { waitUntil } from "../../scripts/mesh/wait.js";

/** KAFKA_SCRIPT_MS bounds a kafka.sh start or stop (the script bounds its own waits below this). */
const KAFKA_SCRIPT_MS = 150_000;
const quiet = { error: () => undefined, warn: () => undefined };
const silentLogger = pino({ level: "silent" });

let pki: string;
let otherPki: string;
let port: number;
let tlsPort: number;
let started = false;
const closers: (() => unknown)[] = [];

beforeAll(async () => {
  pki = await mkdtemp(path.join(tmpdir(), "shopmesh-kafka-tls-"));
  otherPki = await mkdtemp(path.join(tmpdir(), "shopmesh-kafka-tls-other-"));
  await ensureMeshPki(pki);
  await ensureMeshPki(otherPki);
  port = await freePort();
  tlsPort = await freePort();
  const start = await kafkaScript("start", {
    port,
    env: { KAFKA_TLS_PORT: String(tlsPort), PKI_DIR: pki },
    timeoutMs: KAFKA_SCRIPT_MS,
  });
  started = start.code === 0;
  if (!started) throw new Error(`kafka.sh start with a TLS listener failed (exit ${start.code}):\n${start.output}`);
}, KAFKA_SCRIPT_MS + 30_000);

afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  if (port !== undefined) await kafkaScript("stop", { port, timeoutMs: KAFKA_SCRIPT_MS });
  // The broker's run folder (config, data, log) was this test's alone.
  if (started) await rm(runDir(), { recursive: true, force: true });
  for (const dir of [pki, otherPki]) if (dir) await rm(dir, { recursive: true, force: true });
}, KAFKA_SCRIPT_MS + 30_000);

function runDir(): string {
  return path.join(ROOT, ".cache", "kafka", `run-${port}`);
}

/** refusals counts the broker's log lines for TLS handshakes it refused. */
async function refusals(): Promise<number> {
  const log = await readFile(path.join(runDir(), "kafka.log"), "utf8");
  return log.split("\n").filter((line) => line.includes("Failed authentication") && line.includes(`:${tlsPort}-`)).length;
}

function tlsClient(clientId: string, ssl: ConnectionOptions, retries = 8): Kafka {
  return createKafkaClient({ brokers: [`127.0.0.1:${tlsPort}`], clientId, ssl, logger: quiet, retry: { initialRetryTime: 100, retries } });
}

/** expectRefused connects an admin client once and expects the broker to end the handshake, and to log it. */
async function expectRefused(kafka: Kafka): Promise<void> {
  const before = await refusals();
  const admin = kafka.admin();
  closers.push(() => admin.disconnect());
  await expect(admin.connect().then(() => admin.listTopics())).rejects.toThrow(/certificate|SSL|ECONNRESET|closed/i);
  await waitUntil(async () => (await refusals()) > before, { timeoutMs: 10_000, message: "the broker to log the refused handshake" });
}

/** openFor is order's Kafka TLS from the PKI in `dir`, as its kit builds it: from its one mesh transport. */
async function openFor(dir: string): Promise<{ ssl: ConnectionOptions }> {
  const transport = await openMeshTransport(
    "order",
    { mode: "mtls", pkiDir: dir, refreshMs: 60_000, policyFile: path.join(ROOT, "policy", "access.yaml") },
    silentLogger,
  );
  closers.push(() => transport.close());
  const ssl = kafkaSslOf(transport, true);
  if (!ssl) throw new Error("an mTLS transport gave no Kafka TLS options");
  return { ssl };
}

describe("Kafka over TLS with the mesh's CA (scripts/kafka.sh KAFKA_TLS_PORT, KAFKA_TLS=1)", () => {
  it("when a service presents its own certificate on the TLS listener, then it produces and consumes", async () => {
    const tls = await openFor(pki);
    const kafka = tlsClient("kafka-tls-test-order", tls.ssl);
    const topic = `test.kafka-tls.${crypto.randomUUID()}`;
    const admin = kafka.admin();
    closers.push(() => admin.disconnect());
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });

    const producer = kafka.producer({ allowAutoTopicCreation: false });
    closers.push(() => producer.disconnect());
    await producer.connect();
    const value = `over TLS ${crypto.randomUUID()}`;
    await producer.send({ topic, acks: -1, messages: [{ key: "k", value }] });

    const consumer = kafka.consumer({ groupId: `kafka-tls-test-${crypto.randomUUID()}`, maxWaitTimeInMs: 500 });
    closers.push(() => consumer.disconnect());
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const received: string[] = [];
    await consumer.run({ eachMessage: async ({ message }) => void received.push(message.value?.toString() ?? "") });
    await waitUntil(() => received.includes(value), { timeoutMs: 30_000, message: "the message back over TLS" });
  });

  it("when a client presents no certificate, then the broker refuses the handshake and logs it", async () => {
    const ca = readFileSync(brokerFiles(pki).ca);
    await expectRefused(
      tlsClient("kafka-tls-test-anonymous", { ca, checkServerIdentity: (_h, c) => checkServerId(c, KAFKA_BROKER_ID) }, 0),
    );
  });

  it("when a client's certificate comes from another CA, then the broker refuses the handshake and logs it", async () => {
    const foreign = await openFor(otherPki);
    // It trusts the mesh's CA (so the broker is fine by it) but presents a pair the other CA signed.
    const ssl = { ...foreign.ssl, ca: readFileSync(brokerFiles(pki).ca) };
    await expectRefused(tlsClient("kafka-tls-test-foreign", ssl, 0));
  });

  it("when a TLS server presents a mesh certificate other than the broker's, then the client refuses it", async () => {
    // A stand-in "broker" holding the order service's certificate: signed by the same CA, the wrong identity.
    const order = serviceFiles(pki, "order");
    const impostor = createServer({ ca: readFileSync(order.ca), cert: readFileSync(order.cert), key: readFileSync(order.key) });
    closers.push(() => new Promise((resolve) => impostor.close(resolve)));
    await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
    const { port: impostorPort } = impostor.address() as AddressInfo;
    const tls = await openFor(pki);
    const kafka = createKafkaClient({
      brokers: [`127.0.0.1:${impostorPort}`],
      clientId: "kafka-tls-test",
      ssl: tls.ssl,
      logger: quiet,
      retry: { retries: 0 },
    });
    const admin = kafka.admin();
    closers.push(() => admin.disconnect());
    await expect(admin.connect()).rejects.toThrow(
      /expected spiffe:\/\/shopmesh\.local\/service\/kafka, the server presented spiffe:\/\/shopmesh\.local\/service\/order/,
    );
  });

  it("when the TLS listener is on, then the plaintext listener still serves the tools", async () => {
    const admin = createKafkaClient({ brokers: [`127.0.0.1:${port}`], clientId: "kafka-tls-test-plain", logger: quiet }).admin();
    closers.push(() => admin.disconnect());
    await admin.connect();
    expect(await admin.listTopics()).toContain("shop.order.v1.events");
  });
});

describe("the mesh with KAFKA_TLS=1 (as npm start runs it)", () => {
  it("when every process talks to Kafka over TLS, then an order is paid and confirmed through the events, and the ops panel reads Kafka", async () => {
    const mesh = await ProcessMesh.plan({
      brokers: `127.0.0.1:${tlsPort}`,
      run: "source",
      gateway: true,
      pkiDir: pki,
      groupPrefix: `kafka-tls-${crypto.randomUUID()}`,
      env: { KAFKA_TLS: "1", LOG_FORMAT: "json" },
    });
    closers.push(() => mesh.stop());
    await mesh.start();
    for (const name of START_ORDER) expect(mesh.logs(name, 200)).toMatch(/"kafka":"TLS"[^\n]*serving/);

    const inventory = createClient(InventoryService, mesh.address("inventory"), { credentials: mesh.credentials("inventory") });
    const order = createClient(OrderService, mesh.address("order"), { credentials: mesh.credentials("order") });
    closers.push(
      () => inventory.close(),
      () => order.close(),
    );
    const productId = `sku-tls-${crypto.randomUUID().slice(0, 8)}`;
    await inventory.importStock([{ productId, quantity: 5, name: "TLS test", price: { currencyCode: "EUR", amountMinor: 100n } }]);
    const created = await order.createOrder(
      { customerId: "c-tls", cardToken: "tok_visa", lines: [{ productId, quantity: 1 }] },
      { metadata: { "idempotency-key": crypto.randomUUID() } },
    );
    const orderId = created.order?.orderId ?? "";
    // CONFIRMED needs OrderCreated → payment → PaymentAuthorized → order: two hops through the TLS listener.
    await waitUntil(async () => (await order.getOrder({ orderId })).order?.status === OrderStatus.CONFIRMED, {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: `order ${orderId} to be CONFIRMED`,
      describe: () => mesh.describe(15),
    });

    const report = await waitUntil(
      async () => {
        const body = (await (await fetch(`http://${mesh.address("gateway")}/ops/events`)).json()) as { kafka: { available: boolean } };
        return body.kafka.available ? body : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, message: "the gateway's ops panel to reach Kafka over TLS" },
    );
    expect(report.kafka.available).toBe(true);
  });
});
