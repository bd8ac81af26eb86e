/**
 * scripts/rabbitmq.sh, scripts/mailpit.sh and scripts/goaws.sh against the real servers: each starts on free ports,
 * answers its own protocol (an AMQP round trip, a mail through SMTP read back through Mailpit's API, an SQS round trip
 * through goaws), stops, and leaves no process behind (RabbitMQ's epmd included). These scripts are how the command
 * bus gets its brokers with no Docker: a missing package or tool fails here and says what to run, never skips.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import path from "node:path";
import { spawn } from "node:child_process";
import { Connection } from "rabbitmq-client";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/mesh/child.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { isLoopback, listeningAddresses, pidAlive, processesMentioning, script } from "./daemons.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  // A failed assertion must not leave a broker behind.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function readPid(file: string): number {
  return Number(readFileSync(file, "utf8").trim());
}

/** portAnswers tells whether something accepts TCP connections on 127.0.0.1:port. */
function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("scripts/rabbitmq.sh", () => {
  it("starts a node on free ports bound to loopback, which takes and delivers a message; stop leaves no process, epmd included", {
    timeout: 240_000,
  }, async () => {
    const [nodePort, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
    const env = { RABBITMQ_NODE_PORT: String(nodePort), RABBITMQ_DIST_PORT: String(distPort), ERL_EPMD_PORT: String(epmdPort) };
    const nodeName = `shopmesh-${nodePort}@localhost`;
    cleanups.push(() => script("rabbitmq.sh", "stop", env));

    const started = await script("rabbitmq.sh", "start", env);
    expect(started.code, started.output).toBe(0);
    expect((await script("rabbitmq.sh", "status", env)).output).toContain("started by rabbitmq.sh");
    const run = path.join(ROOT, ".cache", "rabbitmq", `run-${nodePort}`);
    const serverPid = readPid(path.join(run, "rabbitmq.pid"));
    const epmdPid = readPid(path.join(run, "epmd.pid"));
    expect(pidAlive(serverPid) && pidAlive(epmdPid)).toBe(true);

    // AMQP, Erlang distribution and epmd all listen on loopback only.
    for (const port of [nodePort, distPort, epmdPort]) {
      const addresses = listeningAddresses(port);
      expect(addresses.length, `something listens on ${port}`).toBeGreaterThan(0);
      for (const address of addresses) expect(isLoopback(address), `port ${port} listening on ${address}`).toBe(true);
    }

    // It answers as a broker: a message published to a fresh queue comes back.
    const rabbit = new Connection({ url: `amqp://guest:guest@127.0.0.1:${nodePort}`, retryLow: 100, retryHigh: 500 });
    try {
      await rabbit.onConnect(10_000);
      const { queue } = await rabbit.queueDeclare({ exclusive: true });
      const publisher = rabbit.createPublisher({ confirm: true });
      await publisher.send(queue, "hello from the test");
      await publisher.close();
      const message = await waitUntil(() => rabbit.basicGet({ queue, noAck: true }), { message: "the message back" });
      expect(String(message.body)).toBe("hello from the test");
    } finally {
      await rabbit.close();
    }

    const stopped = await script("rabbitmq.sh", "stop", env);
    expect(stopped.code, stopped.output).toBe(0);
    expect((await script("rabbitmq.sh", "status", env)).code).toBe(3);
    expect(pidAlive(serverPid), "the server script").toBe(false);
    expect(pidAlive(epmdPid), "its epmd").toBe(false);
    expect(processesMentioning(`RABBITMQ_NODENAME=${nodeName}`), "processes of the node").toEqual([]);
    expect(processesMentioning(`-port ${epmdPort}`), "an epmd on the test's port").toEqual([]);
    for (const port of [nodePort, distPort, epmdPort]) expect(await portAnswers(port), `port ${port} after stop`).toBe(false);
  });

  it("leaves alone what it did not start: a node answering on its port, and an epmd that was already running", {
    timeout: 240_000,
  }, async () => {
    const [nodePort, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
    const env = { RABBITMQ_NODE_PORT: String(nodePort), RABBITMQ_DIST_PORT: String(distPort), ERL_EPMD_PORT: String(epmdPort) };
    const run = path.join(ROOT, ".cache", "rabbitmq", `run-${nodePort}`);

    // The user's epmd, already running on the port the node will use.
    const userEpmd = spawn("epmd", ["-port", String(epmdPort), "-address", "127.0.0.1"], { stdio: "ignore" });
    let spawnError: Error | undefined;
    userEpmd.once("error", (error) => (spawnError = error)); // no epmd (no Erlang installed): fail below, saying so
    cleanups.push(async () => void userEpmd.kill("SIGKILL"));
    await waitUntil(() => portAnswers(epmdPort), { message: `the user's epmd on ${epmdPort}`, describe: () => String(spawnError ?? "") });

    cleanups.push(() => script("rabbitmq.sh", "stop", env));
    const started = await script("rabbitmq.sh", "start", env);
    expect(started.code, started.output).toBe(0);
    expect(started.output).toContain(`using the epmd already listening on 127.0.0.1:${epmdPort}`);

    // A second start reuses the running node rather than starting another.
    const again = await script("rabbitmq.sh", "start", env);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain("reusing the RabbitMQ already answering");

    // Without the pid file the node is not this script's (as a node the user started would not be): stop leaves it.
    const pidFile = path.join(run, "rabbitmq.pid");
    const pid = readFileSync(pidFile, "utf8");
    rmSync(pidFile);
    const notOurs = await script("rabbitmq.sh", "stop", env);
    expect(notOurs.code, notOurs.output).toBe(0);
    expect(notOurs.output).toContain("did not start it; leaving it alone");
    expect(await portAnswers(nodePort), "the node still answers").toBe(true);
    expect((await script("rabbitmq.sh", "status", env)).output).toContain("not started by rabbitmq.sh");

    writeFileSync(pidFile, pid);
    const stopped = await script("rabbitmq.sh", "stop", env);
    expect(stopped.code, stopped.output).toBe(0);
    expect(await portAnswers(nodePort)).toBe(false);
    expect(userEpmd.exitCode, "the user's epmd is still running").toBeNull();
    expect(await portAnswers(epmdPort)).toBe(true);
  });
});

/** sendMail speaks just enough SMTP to hand one message to the sink (the notification service will use nodemailer). */
async function sendMail(port: number, from: string, to: string, subject: string): Promise<void> {
  const socket = createConnection({ host: "127.0.0.1", port });
  socket.setEncoding("utf8");
  let buffer = "";
  const waiters: ((line: string) => void)[] = [];
  socket.on("data", (chunk: string) => {
    buffer += chunk;
    // A reply's last line is "<code> text" (a "-" after the code means more lines follow).
    for (let end = buffer.indexOf("\r\n"); end >= 0; end = buffer.indexOf("\r\n")) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (/^\d{3} /.test(line)) waiters.shift()?.(line);
    }
  });
  const reply = () => new Promise<string>((resolve) => waiters.push(resolve));
  const say = async (line: string, expected: string) => {
    const answer = reply();
    socket.write(`${line}\r\n`);
    expect(await answer, line).toMatch(new RegExp(`^${expected}`));
  };
  expect(await reply()).toMatch(/^220/);
  await say("EHLO test", "250");
  await say(`MAIL FROM:<${from}>`, "250");
  await say(`RCPT TO:<${to}>`, "250");
  await say("DATA", "354");
  await say(`From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\nSent by queue-brokers.test.ts\r\n.`, "250");
  await say("QUIT", "221");
  socket.destroy();
}

describe("scripts/mailpit.sh", () => {
  it("starts Mailpit on loopback, keeps a mail sent through SMTP and serves it through its API, and stops", async () => {
    const [httpPort, smtpPort] = [await freePort(), await freePort()];
    const env = { MAILPIT_HTTP_PORT: String(httpPort), MAILPIT_SMTP_PORT: String(smtpPort) };
    cleanups.push(() => script("mailpit.sh", "stop", env));
    const started = await script("mailpit.sh", "start", env);
    expect(started.code, started.output).toBe(0);
    expect((await script("mailpit.sh", "status", env)).output).toContain("started by mailpit.sh");
    const pid = readPid(path.join(ROOT, ".cache", "mailpit", `run-${httpPort}`, "mailpit.pid"));
    for (const port of [httpPort, smtpPort]) {
      const addresses = listeningAddresses(port);
      expect(addresses.length).toBeGreaterThan(0);
      for (const address of addresses) expect(isLoopback(address), `port ${port} listening on ${address}`).toBe(true);
    }

    const subject = `queue-brokers ${crypto.randomUUID()}`;
    await sendMail(smtpPort, "shop@shopmesh.local", "c-42@example.com", subject);
    const messages = await waitUntil(
      async () => {
        const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/messages`);
        const body = (await res.json()) as { messages: { Subject: string; To: { Address: string }[] }[] };
        return body.messages.length > 0 ? body.messages : undefined;
      },
      { message: "the mail in Mailpit" },
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ Subject: subject, To: [{ Address: "c-42@example.com" }] });

    const stopped = await script("mailpit.sh", "stop", env);
    expect(stopped.code, stopped.output).toBe(0);
    expect((await script("mailpit.sh", "status", env)).code).toBe(3);
    expect(pidAlive(pid)).toBe(false);
    expect(processesMentioning(`--listen 127.0.0.1:${httpPort}`)).toEqual([]);
  });
});

/** sqs calls goaws's SQS API (the query protocol, as goaws speaks it) and returns the XML answer. */
async function sqs(port: number, params: Record<string, string>): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ Version: "2012-11-05", ...params }),
  });
  const body = await res.text();
  expect(res.status, body).toBe(200);
  return body;
}

describe("scripts/goaws.sh", () => {
  it("starts goaws on a free port, which takes and returns an SQS message, and stops", async () => {
    const port = await freePort();
    const env = { GOAWS_PORT: String(port) };
    cleanups.push(() => script("goaws.sh", "stop", env));
    const started = await script("goaws.sh", "start", env);
    expect(started.code, started.output).toBe(0);
    expect((await script("goaws.sh", "status", env)).output).toContain("started by goaws.sh");
    const pid = readPid(path.join(ROOT, ".cache", "goaws", `run-${port}`, "goaws.pid"));

    const created = await sqs(port, { Action: "CreateQueue", QueueName: "script-test" });
    const queueUrl = /<QueueUrl>([^<]+)<\/QueueUrl>/.exec(created)?.[1];
    expect(queueUrl).toBe(`http://127.0.0.1:${port}/100010001000/script-test`);
    await sqs(port, { Action: "SendMessage", QueueUrl: queueUrl!, MessageBody: "hello from the test" });
    const received = await sqs(port, { Action: "ReceiveMessage", QueueUrl: queueUrl!, WaitTimeSeconds: "1" });
    expect(received).toContain("<Body>hello from the test</Body>");

    const stopped = await script("goaws.sh", "stop", env);
    expect(stopped.code, stopped.output).toBe(0);
    expect((await script("goaws.sh", "status", env)).code).toBe(3);
    expect(pidAlive(pid)).toBe(false);
    expect(processesMentioning(`run-${port}/goaws.yaml`)).toEqual([]);
  });
});
