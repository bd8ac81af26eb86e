/**
 * The command bus's brokers of a local run, as broker.ts is Kafka's: RabbitMQ (scripts/rabbitmq.sh) for the commands
 * and Mailpit (scripts/mailpit.sh) as the SMTP sink the notification service sends to. RABBITMQ_URL and SMTP_URL, when
 * both are set, are used as they are; otherwise each script reuses a server already answering on its port or starts
 * one. Releasing stops only what this run started (unless COMMAND_BROKERS_KEEP_RUNNING=1).
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { ROOT } from "./child.js";

/** CommandBrokers are what the notification service and order's command relay need, and how to let go of them. */
export interface CommandBrokers {
  /** rabbitmqUrl is the AMQP URL (RABBITMQ_URL) of the command broker. */
  readonly rabbitmqUrl: string;
  /** smtpUrl is the SMTP sink (SMTP_URL). */
  readonly smtpUrl: string;
  /** mailpitUrl is Mailpit's web UI and API base, when this run knows it (undefined for a given SMTP_URL). */
  readonly mailpitUrl: string | undefined;
  readonly origin: string;
  /** release stops what this run started, unless COMMAND_BROKERS_KEEP_RUNNING=1. */
  release(): Promise<void>;
  /** stop stops what this run started, whatever COMMAND_BROKERS_KEEP_RUNNING says (a test's own brokers). */
  stop(): Promise<void>;
}

/** CommandBrokerPorts place the scripts' servers (each script's own variables, see their headers). */
export interface CommandBrokerPorts {
  readonly rabbitmq: number;
  /** rabbitmqDist and epmd: the Erlang distribution ports; tests give their own so they never meet a user's node. */
  readonly rabbitmqDist?: number | undefined;
  readonly epmd?: number | undefined;
  readonly smtp: number;
  readonly mailpitHttp: number;
}

/** runScript runs `bash scripts/<name> <command>` with `env` added; its exit code and output. */
export function runScript(
  name: "rabbitmq.sh" | "mailpit.sh",
  command: "start" | "stop" | "status",
  env: Record<string, string>,
  output: "inherit" | "capture" | "ignore" = "capture",
): Promise<{ code: number; output: string }> {
  const stdio = output === "capture" ? "pipe" : output;
  return new Promise((resolve) => {
    const child = spawn("bash", [path.join(ROOT, "scripts", name), command], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", stdio, stdio],
    });
    let text = "";
    child.stdout?.on("data", (chunk: Buffer) => (text += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (text += chunk.toString()));
    child.once("error", (error) => resolve({ code: 127, output: `${text}${error.message}\n` }));
    child.once("close", (code) => resolve({ code: code ?? 1, output: text }));
  });
}

/**
 * acquireCommandBrokers brings up RabbitMQ and Mailpit on `ports` (both at once: RabbitMQ takes about 12 s), or takes
 * RABBITMQ_URL and SMTP_URL as given. A script that fails stops what the other started and throws with its output.
 */
export async function acquireCommandBrokers(ports: CommandBrokerPorts, output: "inherit" | "ignore" = "inherit"): Promise<CommandBrokers> {
  const givenRabbit = process.env["RABBITMQ_URL"]?.trim();
  const givenSmtp = process.env["SMTP_URL"]?.trim();
  if (givenRabbit && givenSmtp) {
    return {
      rabbitmqUrl: givenRabbit,
      smtpUrl: givenSmtp,
      mailpitUrl: undefined,
      origin: "RABBITMQ_URL and SMTP_URL",
      release: async () => {},
      stop: async () => {},
    };
  }
  const rabbitEnv: Record<string, string> = {
    RABBITMQ_NODE_PORT: String(ports.rabbitmq),
    ...(ports.rabbitmqDist ? { RABBITMQ_DIST_PORT: String(ports.rabbitmqDist) } : {}),
    ...(ports.epmd ? { ERL_EPMD_PORT: String(ports.epmd) } : {}),
  };
  const mailpitEnv = { MAILPIT_SMTP_PORT: String(ports.smtp), MAILPIT_HTTP_PORT: String(ports.mailpitHttp) };
  const [rabbitWasUp, mailpitWasUp] = await Promise.all([
    runScript("rabbitmq.sh", "status", rabbitEnv, "ignore").then((r) => r.code === 0),
    runScript("mailpit.sh", "status", mailpitEnv, "ignore").then((r) => r.code === 0),
  ]);
  const keep = process.env["COMMAND_BROKERS_KEEP_RUNNING"] === "1";
  const stop = async () => {
    await Promise.all([
      rabbitWasUp ? undefined : runScript("rabbitmq.sh", "stop", rabbitEnv, output),
      mailpitWasUp ? undefined : runScript("mailpit.sh", "stop", mailpitEnv, output),
    ]);
  };
  const release = async () => {
    if (!keep) await stop();
  };
  const [rabbit, mailpit] = await Promise.all([
    runScript("rabbitmq.sh", "start", rabbitEnv, output),
    runScript("mailpit.sh", "start", mailpitEnv, output),
  ]);
  const failed = [rabbit.code === 0 ? undefined : "rabbitmq.sh", mailpit.code === 0 ? undefined : "mailpit.sh"].filter(Boolean);
  if (failed.length > 0) {
    await release();
    throw new Error(
      `bash scripts/${failed.join(" and scripts/")} start failed (exit ${rabbit.code}/${mailpit.code}):\n${rabbit.output}${mailpit.output}`,
    );
  }
  return {
    rabbitmqUrl: givenRabbit || `amqp://guest:guest@127.0.0.1:${ports.rabbitmq}`,
    smtpUrl: givenSmtp || `smtp://127.0.0.1:${ports.smtp}`,
    mailpitUrl: `http://127.0.0.1:${ports.mailpitHttp}`,
    origin: `scripts/rabbitmq.sh on ${ports.rabbitmq}${rabbitWasUp ? " (already running)" : ""}, scripts/mailpit.sh on ${ports.smtp}/${ports.mailpitHttp}${mailpitWasUp ? " (already running)" : ""}`,
    release,
    stop,
  };
}
