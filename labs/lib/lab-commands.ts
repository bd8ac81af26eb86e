/**
 * A lab's command brokers: RabbitMQ (scripts/rabbitmq.sh) and Mailpit (scripts/mailpit.sh) on ports of the lab's own,
 * never `npm start`'s 5672/1025/8025 nor the test suite's, with RabbitMQ's fault controls (stop, start again on the
 * same ports and data). The RabbitMQ ports (AMQP, Erlang distribution, epmd) are below the ephemeral range for the
 * reason brokerPort gives: the node must be able to bind them again after it was stopped under load.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../../scripts/mesh/child.js";
import { runScript } from "../../scripts/mesh/command-brokers.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { lowFreePort } from "./lab-broker.js";

/** MAILPIT_MAX_MESSAGES bounds what the lab's Mailpit keeps, far above what a lab sends (6 orders/s for minutes). */
const MAILPIT_MAX_MESSAGES = 50_000;

/** LabCommandBrokers are a lab's RabbitMQ and Mailpit, and how to stop, restart and release them. */
export interface LabCommandBrokers {
  readonly rabbitmqPort: number;
  readonly rabbitmqUrl: string;
  readonly smtpUrl: string;
  /** mailpitUrl is Mailpit's API base: the lab reads back every email it received. */
  readonly mailpitUrl: string;
  stopRabbitmq(): Promise<void>;
  startRabbitmq(): Promise<void>;
  /** release stops both (whatever state RabbitMQ is in) and deletes RabbitMQ's data. */
  release(): Promise<void>;
}

/** startLabCommandBrokers starts RabbitMQ (fresh data) and Mailpit on the lab's own ports, both at once. */
export async function startLabCommandBrokers(): Promise<LabCommandBrokers> {
  const rabbitmqPort = await lowFreePort();
  const dist = await lowFreePort([rabbitmqPort]);
  const epmd = await lowFreePort([rabbitmqPort, dist]);
  const [smtp, http] = [await freePort(), await freePort()];
  const rabbitEnv = { RABBITMQ_NODE_PORT: String(rabbitmqPort), RABBITMQ_DIST_PORT: String(dist), ERL_EPMD_PORT: String(epmd) };
  // Mailpit keeps only its latest 500 messages by default and prunes the rest: a full lab sends 600 and more, and a
  // pruned email would read as a lost one. The lab's Mailpit keeps all of them (MP_MAX_MESSAGES, read by Mailpit).
  const mailpitEnv = { MAILPIT_SMTP_PORT: String(smtp), MAILPIT_HTTP_PORT: String(http), MP_MAX_MESSAGES: String(MAILPIT_MAX_MESSAGES) };
  // The node's queues live in .cache/rabbitmq/run-<port>/: a lab on a port an earlier run used must not inherit them.
  const runDir = path.join(ROOT, ".cache", "rabbitmq", `run-${rabbitmqPort}`);
  rmSync(runDir, { recursive: true, force: true });
  const script = async (name: "rabbitmq.sh" | "mailpit.sh", command: "start" | "stop", env: Record<string, string>) => {
    const { code, output } = await runScript(name, command, env);
    if (code !== 0) throw new Error(`bash scripts/${name} ${command} failed (exit ${code}):\n${output}`);
  };
  const release = async () => {
    await Promise.allSettled([script("rabbitmq.sh", "stop", rabbitEnv), script("mailpit.sh", "stop", mailpitEnv)]);
    rmSync(runDir, { recursive: true, force: true });
  };
  const started = await Promise.allSettled([script("rabbitmq.sh", "start", rabbitEnv), script("mailpit.sh", "start", mailpitEnv)]);
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    await release();
    throw failed.reason;
  }
  return {
    rabbitmqPort,
    rabbitmqUrl: `amqp://guest:guest@127.0.0.1:${rabbitmqPort}`,
    smtpUrl: `smtp://127.0.0.1:${smtp}`,
    mailpitUrl: `http://127.0.0.1:${http}`,
    stopRabbitmq: () => script("rabbitmq.sh", "stop", rabbitEnv),
    startRabbitmq: () => script("rabbitmq.sh", "start", rabbitEnv),
    release,
  };
}

/** MailpitMessage is the part of Mailpit's message summary the lab reads. */
interface MailpitPage {
  readonly messages: readonly { Subject: string }[];
}

/** mailpitSubjects lists the subject of every message Mailpit holds, page by page. */
export async function mailpitSubjects(mailpitUrl: string): Promise<{ subject: string }[]> {
  const subjects: { subject: string }[] = [];
  const limit = 500;
  // Bounded: 200 pages of 500 is far more than any lab sends.
  for (let start = 0; start < 100_000; start += limit) {
    const response = await fetch(`${mailpitUrl}/api/v1/messages?start=${start}&limit=${limit}`, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`Mailpit answered ${response.status} at ${mailpitUrl}`);
    const page = (await response.json()) as MailpitPage;
    subjects.push(...page.messages.map((m) => ({ subject: m.Subject })));
    if (page.messages.length < limit) break;
  }
  return subjects;
}
