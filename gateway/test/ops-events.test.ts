/**
 * `GET /ops/events` against the suite's real broker: recent events per topic, a consumer group's lag, DLQ counts and
 * each backend's outbox status — with one backend down and, separately, with no broker at all.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Kafka } from "kafkajs";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetCommandQueuesResponseSchema, GetEventStatusResponseSchema } from "#gen/shop/ops/v1/ops_service_pb.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { toCloudEventHeaders } from "#shared/events/cloudevents.js";
import { createKafkaClient, parseBrokers } from "#shared/events/kafka-client.js";
import { dlqTopicOf, Topics } from "#shared/events/topics.js";
import { commitOffsets, endOffsets, quietLogger } from "../../test/system/event-log.js";
import { kafkaBrokers } from "../../test/system/mesh.js";
import {
  type CommandBackend,
  createOpsEventsHandler,
  type OpsBackend,
  type OpsEventsHandler,
  type OpsEventsReport,
} from "../src/ops-events.js";

const logger = pino({ level: "silent" });

const orderBackend: OpsBackend = {
  service: "order",
  client: {
    getEventStatus: async () =>
      create(GetEventStatusResponseSchema, {
        service: "order",
        outboxPending: 2n,
        outboxFailed: 1n,
        outboxPublished: 40n,
        inboxProcessed: 7n,
        oldestPendingTime: { seconds: 1_700_000_000n, nanos: 0 },
      }),
  },
};
const paymentDown: OpsBackend = {
  service: "payment",
  client: {
    getEventStatus: async () => {
      throw new ConnectError("connect ECONNREFUSED 127.0.0.1:1", Code.Unavailable);
    },
  },
};

async function serve(handler: OpsEventsHandler): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    void handler(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ops/events` };
}

async function report(url: string): Promise<OpsEventsReport> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return (await response.json()) as OpsEventsReport;
}

describe("the ops events report, with the broker up", () => {
  const groupId = `test-ops-${crypto.randomUUID()}-order`;
  let kafka: Kafka;
  let handler: OpsEventsHandler;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    const brokers = parseBrokers(kafkaBrokers());
    kafka = createKafkaClient({ brokers, clientId: "ops-events-test", logger: quietLogger() });
    handler = createOpsEventsHandler({ kafkaBrokers: brokers, groupIds: [groupId], backends: [orderBackend, paymentDown], logger });
    ({ server, url } = await serve(handler));
    await handler.ready();
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await handler?.close();
  });

  it("when an event is produced and a group is behind, then the report shows the event, the lag, DLQs and outboxes", async () => {
    // Arrange: a service group that has read everything so far, then one new event it has not read.
    const admin = kafka.admin();
    await admin.connect();
    const start = await endOffsets(admin, [Topics.orderEvents]);
    await admin.disconnect();
    await commitOffsets(kafka, groupId, start, [Topics.orderEvents]);
    const subject = crypto.randomUUID();
    const id = crypto.randomUUID();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: Topics.orderEvents,
      messages: [
        {
          key: subject,
          value: Buffer.alloc(0),
          headers: toCloudEventHeaders({ id, type: "shop.order.v1.OrderCreated", source: "/test", subject, time: new Date() }),
        },
      ],
    });
    await producer.disconnect();

    // Act
    const seen = await waitUntil(
      async () => {
        const body = await report(url);
        return body.topics.find((topic) => topic.topic === Topics.orderEvents)?.recent.some((event) => event.id === id) ? body : undefined;
      },
      { message: `event ${id} in the report`, timeoutMs: 20_000 },
    );

    // Assert
    expect(seen.kafka).toMatchObject({ available: true, consumerReady: true });
    const event = seen.topics.find((topic) => topic.topic === Topics.orderEvents)?.recent.find((summary) => summary.id === id);
    expect(event).toMatchObject({ type: "shop.order.v1.OrderCreated", subject, source: "/test" });
    const group = seen.consumerGroups.find((entry) => entry.groupId === groupId);
    expect(group).toMatchObject({ service: "order" });
    expect(group?.topics.find((entry) => entry.topic === Topics.orderEvents)?.lag).toBeGreaterThanOrEqual(1);
    expect(seen.deadLetters.map((dlq) => dlq.topic).sort()).toEqual(Object.values(Topics).map(dlqTopicOf).sort());
    for (const dlq of seen.deadLetters) expect(dlq.count).toBeGreaterThanOrEqual(0);
    expect(seen.outbox).toEqual([
      {
        service: "order",
        available: true,
        pending: 2,
        failed: 1,
        published: 40,
        inboxProcessed: 7,
        oldestPendingTime: "2023-11-14T22:13:20.000Z",
      },
      expect.objectContaining({ service: "payment", available: false, error: expect.stringContaining("Unavailable") }),
    ]);
  });

  it("when a dead letter is on a DLQ, then the report lists it with its dlq_* headers and deadLettersOf finds it by subject", async () => {
    // Arrange: a dead letter as the event bus writes one (kafka-event-bus.ts deadLetter)
    const subject = crypto.randomUUID();
    const id = crypto.randomUUID();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: dlqTopicOf(Topics.orderEvents),
      messages: [
        {
          key: subject,
          value: Buffer.alloc(0),
          headers: {
            ...toCloudEventHeaders({ id, type: "shop.order.v1.OrderCreated", source: "/test", subject, time: new Date() }),
            dlq_consumer: "shopmesh-payment",
            dlq_error: "currency USD is not enabled",
            dlq_attempts: "5",
            dlq_original_topic: Topics.orderEvents,
            dlq_original_partition: "1",
            dlq_original_offset: "42",
          },
        },
      ],
    });
    await producer.disconnect();

    // Act
    const letters = await handler.deadLettersOf(subject);
    const seen = await waitUntil(
      async () => {
        const body = await report(url);
        const dlq = body.deadLetters.find((entry) => entry.topic === dlqTopicOf(Topics.orderEvents));
        return dlq?.recent.some((event) => event.id === id) ? dlq : undefined;
      },
      { message: `dead letter ${id} in the report`, timeoutMs: 20_000 },
    );

    // Assert
    const expected = {
      id,
      subject,
      type: "shop.order.v1.OrderCreated",
      deadLetter: expect.objectContaining({
        consumer: "shopmesh-payment",
        error: "currency USD is not enabled",
        attempts: 5,
        originalTopic: Topics.orderEvents,
        originalPartition: "1",
        originalOffset: "42",
      }),
    };
    expect(letters).toEqual([expect.objectContaining(expected)]);
    expect(seen.recent.find((event) => event.id === id)).toMatchObject(expected);
    expect(await handler.deadLettersOf(crypto.randomUUID())).toEqual([]);
  });

  it("when something other than GET arrives, then it is a 405 envelope with Allow", async () => {
    const response = await fetch(url, { method: "POST" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD");
    expect(await response.json()).toMatchObject({ code: "UNIMPLEMENTED" });
  });
});

describe("the ops events report, with no broker", () => {
  it("when Kafka cannot be reached, then the report still answers 200 and says Kafka is unavailable", async () => {
    const handler = createOpsEventsHandler({
      kafkaBrokers: [`127.0.0.1:${await freePort()}`],
      groupIds: ["shopmesh-order"],
      backends: [orderBackend],
      logger,
      timeoutMs: 1000,
    });
    const { server, url } = await serve(handler);
    try {
      const body = await report(url);
      expect(body.kafka.available).toBe(false);
      expect(body.consumerGroups).toEqual([expect.objectContaining({ groupId: "shopmesh-order", lag: null, error: "Kafka unavailable" })]);
      expect(body.outbox).toEqual([expect.objectContaining({ service: "order", available: true, pending: 2 })]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await handler.close();
    }
  });

  it("when the command consumer answers, then its queues' figures and latest parked commands are in the report; when it is down, one unavailable row", async () => {
    const notification: CommandBackend = {
      service: "notification",
      client: {
        getCommandQueues: async (request) => {
          expect(request.parkedLimit).toBe(5);
          return create(GetCommandQueuesResponseSchema, {
            service: "notification",
            queues: [
              {
                queue: "notification.email",
                ready: 3n,
                unacked: 1n,
                retrying: 2n,
                parked: 1n,
                latestParked: [
                  {
                    messageId: "cmd-1",
                    type: "shop.notification.v1.SendOrderEmail",
                    subject: "order-1",
                    reason: "connect ECONNREFUSED 127.0.0.1:1025",
                    attempts: 5,
                    parkTime: { seconds: 1_700_000_000n, nanos: 0 },
                  },
                ],
              },
            ],
          });
        },
      },
    };
    const notificationDown: CommandBackend = {
      service: "notification",
      client: {
        getCommandQueues: async () => {
          throw new ConnectError("connect ECONNREFUSED 127.0.0.1:1", Code.Unavailable);
        },
      },
    };
    const read = async (commandBackends: CommandBackend[]) => {
      const handler = createOpsEventsHandler({
        kafkaBrokers: [`127.0.0.1:${await freePort()}`],
        groupIds: ["shopmesh-order"],
        backends: [orderBackend],
        commandBackends,
        logger,
        timeoutMs: 1000,
      });
      const { server, url } = await serve(handler);
      try {
        return (await report(url)).commandQueues;
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        await handler.close();
      }
    };

    const up = await read([notification]);
    const down = await read([notificationDown]);

    expect(up).toEqual([
      {
        service: "notification",
        queue: "notification.email",
        available: true,
        ready: 3,
        unacked: 1,
        retrying: 2,
        parked: 1,
        latestParked: [
          {
            messageId: "cmd-1",
            type: "shop.notification.v1.SendOrderEmail",
            subject: "order-1",
            reason: "connect ECONNREFUSED 127.0.0.1:1025",
            attempts: 5,
            parkTime: "2023-11-14T22:13:20.000Z",
          },
        ],
      },
    ]);
    expect(down).toEqual([
      expect.objectContaining({ service: "notification", available: false, error: expect.stringContaining("Unavailable") }),
    ]);
  });
});
