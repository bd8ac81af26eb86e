/**
 * `npm run dlq -- parked | unpark` against the suite's real RabbitMQ (test/global-setup.ts): a command a handler gave
 * up on is listed with its reason, and unparking it hands it back to the consumer, once. Each test has a queue of its
 * own.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, inject, it } from "vitest";
import {
  type CommandBus,
  createCommandBus,
  type IncomingCommand,
  memoryCommandLedger,
  PermanentCommandError,
} from "#shared/commands/index.js";
import { readCommandBusSettings } from "#shared/config.js";
import { ROOT } from "../mesh/child.js";
import { waitUntil } from "../mesh/wait.js";

const env = { COMMAND_BUS: "rabbitmq", RABBITMQ_URL: inject("rabbitmqUrl") };

async function dlq(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", "dlq.ts"), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return stdout;
}

describe("npm run dlq: the command parking lot", () => {
  const bus: CommandBus = createCommandBus(readCommandBusSettings(env), { ledger: memoryCommandLedger() });
  afterAll(() => bus.close());

  it("when a handler parks a command, then `parked` lists it with its reason, and `unpark` hands it back to be handled once", async () => {
    const queue = `dlq-test.${crypto.randomUUID().slice(0, 8)}`;
    let fixed = false;
    const handled: IncomingCommand[] = [];
    const consumer = await bus.consume({
      queue,
      retry: { attempts: 1, initialDelayMs: 100, maxDelayMs: 100 },
      handle: async (command) => {
        if (!fixed) throw new PermanentCommandError("recipient unknown");
        handled.push(command);
      },
    });
    try {
      const id = crypto.randomUUID();
      const data = new TextEncoder().encode("hello");
      await bus.send(queue, [{ id, type: "test.v1.Note", source: "shopmesh/dlq-test", subject: "order-7", time: new Date(), data }]);
      await waitUntil(async () => (await bus.parked(queue)).length === 1, { message: "the command parked" });

      const listed = await dlq("parked", queue);

      expect(listed).toContain(`${id}  test.v1.Note  subject=order-7`);
      expect(listed).toContain("reason    PermanentCommandError: recipient unknown");
      expect(listed).toContain("1 parked command(s)");

      fixed = true;
      expect(await dlq("unpark", queue, id)).toContain(`unparked 1 command(s) back to ${queue}`);
      await waitUntil(() => handled.length === 1, { message: "the unparked command handled" });
      expect(handled.map((c) => [c.id, c.attempt])).toEqual([[id, 1]]);
      expect(await dlq("parked", queue)).toContain(`no parked commands on ${queue}`);
    } finally {
      await consumer.close();
    }
  });

  it("when `unpark` names no queue, then it fails saying how to call it, and moves nothing", async () => {
    const failure = await dlq("unpark").then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain("usage: npm run dlq --");
  });
});
