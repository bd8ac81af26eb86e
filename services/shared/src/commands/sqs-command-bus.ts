/**
 * The command bus on Amazon SNS → SQS (`@aws-sdk/client-sns`, `@aws-sdk/client-sqs`), locally against goaws
 * (scripts/goaws.sh). Per command queue Q (its name made SNS/SQS-safe: `notification.email` → `notification-email`):
 *
 *   SNS topic `shop-commands-<q>` --raw delivery--> SQS queue `<q>` --redrive after attempts + 1 receives--> `<q>-parked`
 *
 * A send publishes each command to the topic (so more queues, say an SMS one, can subscribe to it), as one CloudEvents
 * JSON document (structured mode: SQS allows only 10 message attributes). The consumer long-polls (WaitTimeSeconds),
 * handles the batch one command at a time in order and deletes each command it handled. While a command is handled it
 * is invisible (the queue's visibility timeout): a consumer that dies mid-command has it delivered again after that.
 * A failed command is sent again with its attempt count in the `x-attempt` attribute and DelaySeconds = the backoff
 * (whole seconds, at most 900: SQS counts no finer and waits no longer), then deleted. Not a visibility timeout set to
 * the backoff with the receive count as the attempt, which is the usual way on AWS: goaws never counts receives
 * (ApproximateReceiveCount is always 1), and both adapters then retry the same way (RabbitMQ re-publishes too).
 * After the last attempt, or at once for a malformed or permanently failing command, the consumer moves it to the
 * parking queue with the reason in message attributes (SQS's own redrive keeps no reason); the redrive policy is the
 * backstop for a command whose handling kills the process every time.
 *
 * Order: one poller per queue and one command at a time keep the order goaws (and a FIFO queue) delivers. On AWS the
 * queue and topic should be FIFO (`.fifo`, MessageGroupId = the subject) for that order to hold; goaws keeps one list per
 * queue, and its FIFO support does not reach SNS, so this adapter uses standard ones (docs/commands.md).
 */
import { CreateTopicCommand, ListSubscriptionsByTopicCommand, PublishCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { Logger } from "../logger.js";
import {
  type Command,
  type CommandBus,
  CommandBusUnavailableError,
  type CommandConsumer,
  type CommandLedger,
  type CommandRetryPolicy,
  type ConsumeOptions,
  DEFAULT_COMMAND_RETRY,
  type ParkedCommand,
  PermanentCommandError,
  type QueueFigures,
  retryDelayMs,
} from "./command-bus.js";
import { errorReason, fromStructuredCommand, MalformedCommandError, toStructuredCommand } from "./codec.js";

export interface SqsCommandBusOptions {
  /** endpoint: goaws (http://127.0.0.1:4100) or an AWS endpoint; SNS and SQS on the same one, as goaws serves them. */
  readonly endpoint: string;
  readonly region: string;
  readonly ledger: CommandLedger;
  readonly logger?: Logger | undefined;
  /** waitTimeSeconds is the long poll of each receive (default 20, SQS's maximum). */
  readonly waitTimeSeconds?: number | undefined;
  /** sendTimeoutMs bounds one request to SNS or SQS (default 5000). */
  readonly sendTimeoutMs?: number | undefined;
  /** credentials: goaws accepts any; on AWS leave them out and the SDK finds them. */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

/** sqsName makes a command queue's name SNS/SQS-safe (letters, digits, - and _). */
export const sqsName = (queue: string): string => queue.replace(/[^A-Za-z0-9_-]/g, "-");
export const sqsTopicName = (queue: string): string => `shop-commands-${sqsName(queue)}`;
export const sqsParkedName = (queue: string): string => `${sqsName(queue)}-parked`;

interface QueueInfo {
  readonly url: string;
  readonly parkedUrl: string;
  readonly topicArn: string;
}

export function createSqsCommandBus(options: SqsCommandBusOptions): CommandBus {
  const { ledger, logger } = options;
  const timeout = options.sendTimeoutMs ?? 5_000;
  const clientConfig = {
    endpoint: options.endpoint,
    region: options.region,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // Fail a send within the bound instead of the SDK's default retries and waits: the caller (the outbox) retries.
    maxAttempts: 1,
  };
  const sns = new SNSClient(clientConfig);
  const sqs = new SQSClient(clientConfig);
  // Every request is bounded by an abort signal (the SDK's request handler options differ between the two SDK lines
  // here, a signal does not): `timeout` for a call, the poll's wait plus `timeout` for a receive, which close also ends.
  const bounded = () => ({ abortSignal: AbortSignal.timeout(timeout) });
  const waitTimeSeconds = options.waitTimeSeconds ?? 20;
  const queues = new Map<string, Promise<QueueInfo>>();
  const consumers = new Set<CommandConsumer>();

  const unavailable = (what: string, error: unknown): CommandBusUnavailableError =>
    new CommandBusUnavailableError(`${what}: SNS/SQS at ${options.endpoint}: ${errorReason(error)}`, { cause: error });

  async function createQueues(queue: string, retry: CommandRetryPolicy): Promise<QueueInfo> {
    const parked = await sqs.send(new CreateQueueCommand({ QueueName: sqsParkedName(queue) }), bounded());
    const parkedAttributes = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: parked.QueueUrl, AttributeNames: ["QueueArn"] }),
      bounded(),
    );
    const parkedArn = parkedAttributes.Attributes?.["QueueArn"];
    const main = await sqs.send(
      new CreateQueueCommand({
        QueueName: sqsName(queue),
        Attributes: {
          // The time a received command stays invisible while it is handled; a failure shortens or lengthens it to the backoff.
          VisibilityTimeout: "30",
          ReceiveMessageWaitTimeSeconds: String(waitTimeSeconds),
          // The backstop: our own parking happens at the last attempt, one receive before this.
          RedrivePolicy: JSON.stringify({ maxReceiveCount: String(retry.attempts + 1), deadLetterTargetArn: parkedArn }),
        },
      }),
      bounded(),
    );
    const mainAttributes = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: main.QueueUrl, AttributeNames: ["QueueArn"] }),
      bounded(),
    );
    const queueArn = mainAttributes.Attributes?.["QueueArn"];
    const topic = await sns.send(new CreateTopicCommand({ Name: sqsTopicName(queue) }), bounded());
    // Subscribe once: goaws (unlike AWS) adds a second subscription for the same endpoint, which would deliver twice.
    const subscriptions = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topic.TopicArn }), bounded());
    const subscribed = (subscriptions.Subscriptions ?? []).some(
      (subscription) => subscription.Endpoint === queueArn || subscription.Endpoint === main.QueueUrl,
    );
    if (!subscribed) {
      await sns.send(
        new SubscribeCommand({
          TopicArn: topic.TopicArn,
          Protocol: "sqs",
          Endpoint: queueArn,
          // Raw: the queue gets the CloudEvents document itself, not wrapped in an SNS notification envelope.
          Attributes: { RawMessageDelivery: "true" },
        }),
        bounded(),
      );
    }
    if (!main.QueueUrl || !parked.QueueUrl || !topic.TopicArn) throw new Error(`no URL or ARN returned for the queues of ${queue}`);
    return { url: main.QueueUrl, parkedUrl: parked.QueueUrl, topicArn: topic.TopicArn };
  }

  /** queueInfo declares a queue once per bus (the same promise for concurrent callers); a failure is retried next time. */
  function queueInfo(queue: string, retry: CommandRetryPolicy = DEFAULT_COMMAND_RETRY): Promise<QueueInfo> {
    let info = queues.get(queue);
    if (!info) {
      info = createQueues(queue, retry);
      queues.set(queue, info);
      info.catch(() => queues.delete(queue));
    }
    return info;
  }

  async function declare(queue: string, retry?: CommandRetryPolicy): Promise<void> {
    try {
      await queueInfo(queue, retry);
    } catch (error) {
      throw unavailable(`declaring command queue ${queue}`, error);
    }
  }

  async function send(queue: string, commands: readonly Command[]): Promise<void> {
    try {
      const { topicArn } = await queueInfo(queue);
      // One after the other: SNS has no batch publish in goaws, and the commands of one subject must not be reordered.
      for (const command of commands) {
        await sns.send(new PublishCommand({ TopicArn: topicArn, Message: toStructuredCommand(command) }), bounded());
      }
    } catch (error) {
      // Declare again next time: goaws keeps its queues in memory, so after a restart they are gone.
      queues.delete(queue);
      throw unavailable(`sending ${commands.length} command(s) to ${queue}`, error);
    }
  }

  async function park(info: QueueInfo, message: Message, reason: string, attempts: number): Promise<void> {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: info.parkedUrl,
        MessageBody: message.Body ?? "",
        MessageAttributes: {
          "x-parked-reason": { DataType: "String", StringValue: reason },
          "x-parked-at": { DataType: "String", StringValue: new Date().toISOString() },
          "x-attempts": { DataType: "String", StringValue: String(attempts) },
        },
      }),
      bounded(),
    );
    await sqs.send(new DeleteMessageCommand({ QueueUrl: info.url, ReceiptHandle: message.ReceiptHandle }), bounded());
  }

  async function consume(consumeOptions: ConsumeOptions): Promise<CommandConsumer> {
    const { queue, handle } = consumeOptions;
    const retry = consumeOptions.retry ?? DEFAULT_COMMAND_RETRY;
    const consumerName = consumeOptions.consumer ?? queue;
    const batch = Math.min(10, Math.max(1, consumeOptions.prefetch ?? 10));
    let info: QueueInfo;
    try {
      info = await queueInfo(queue, retry);
    } catch (error) {
      throw unavailable(`declaring command queue ${queue}`, error);
    }
    const stop = new AbortController();

    const handleOne = async (message: Message): Promise<void> => {
      const attempt = Math.max(1, Number(message.MessageAttributes?.["x-attempt"]?.StringValue ?? 1) || 1);
      let command: Command;
      try {
        command = fromStructuredCommand(message.Body ?? "");
      } catch (error) {
        if (!(error instanceof MalformedCommandError)) throw error;
        logger?.warn({ queue, messageId: message.MessageId, reason: error.message }, "malformed command parked");
        await park(info, message, `malformed: ${error.message}`, 0);
        consumeOptions.observe?.("parked");
        return;
      }
      if (ledger.handled(consumerName, command.id)) {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: info.url, ReceiptHandle: message.ReceiptHandle }), bounded());
        consumeOptions.observe?.("duplicate");
        return;
      }
      try {
        await handle({ ...command, queue, attempt });
        ledger.record(consumerName, command);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: info.url, ReceiptHandle: message.ReceiptHandle }), bounded());
        consumeOptions.observe?.("handled");
      } catch (error) {
        const reason = errorReason(error);
        if (error instanceof PermanentCommandError || attempt >= retry.attempts) {
          logger?.warn({ queue, commandId: command.id, attempt, reason }, "command parked");
          await park(info, message, reason, attempt);
          consumeOptions.observe?.("parked");
          return;
        }
        const delaySeconds = Math.min(900, Math.max(1, Math.ceil(retryDelayMs(retry, attempt) / 1000)));
        logger?.info({ queue, commandId: command.id, attempt, delaySeconds, reason }, "command failed; retrying after a delay");
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: info.url,
            MessageBody: message.Body ?? "",
            DelaySeconds: delaySeconds,
            MessageAttributes: {
              "x-attempt": { DataType: "String", StringValue: String(attempt + 1) },
              "x-last-error": { DataType: "String", StringValue: reason },
            },
          }),
          bounded(),
        );
        // Deleted only once the copy is in: a failure in between delivers the command again, never loses it.
        await sqs.send(new DeleteMessageCommand({ QueueUrl: info.url, ReceiptHandle: message.ReceiptHandle }), bounded());
        consumeOptions.observe?.("retried");
      }
    };

    /** release makes received but unhandled messages visible again at once (a stop in the middle of a batch). */
    const release = async (messages: readonly Message[]): Promise<void> => {
      for (const message of messages) {
        await sqs
          .send(
            new ChangeMessageVisibilityCommand({ QueueUrl: info.url, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }),
            bounded(),
          )
          .catch(() => undefined); // best effort: otherwise they come back when their visibility timeout ends
      }
    };

    let lastError: string | undefined;
    const loop = (async () => {
      while (!stop.signal.aborted) {
        let messages: Message[];
        try {
          const received = await sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: info.url,
              MaxNumberOfMessages: batch,
              WaitTimeSeconds: waitTimeSeconds,
              MessageAttributeNames: ["x-attempt"],
            }),
            { abortSignal: AbortSignal.any([stop.signal, AbortSignal.timeout(waitTimeSeconds * 1000 + timeout)]) },
          );
          messages = received.Messages ?? [];
          if (lastError !== undefined) logger?.info({ queue }, "SQS reachable again");
          lastError = undefined;
        } catch (error) {
          if (stop.signal.aborted) break;
          const text = errorReason(error);
          // The queue may be gone with the emulator's restart: declare it again before the next receive.
          queues.delete(queue);
          try {
            info = await queueInfo(queue, retry);
          } catch {
            // still unreachable; the next round tries again
          }
          if (text !== lastError) logger?.warn({ queue, err: error }, "receiving commands failed; retrying");
          lastError = text;
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          continue;
        }
        for (let index = 0; index < messages.length; index++) {
          if (stop.signal.aborted) {
            await release(messages.slice(index));
            break;
          }
          try {
            await handleOne(messages[index]!);
          } catch (error) {
            // The delete, park or visibility change failed (SQS gone): the message comes back after its visibility timeout.
            logger?.warn({ queue, err: error }, "settling a command failed; SQS will deliver it again");
          }
        }
      }
    })();

    const consumer: CommandConsumer = {
      close: async () => {
        consumers.delete(consumer);
        stop.abort();
        await loop;
      },
    };
    consumers.add(consumer);
    return consumer;
  }

  /** receiveParked takes every message of the parking lot (invisible meanwhile) and hands each to `visit`. */
  async function receiveParked(info: QueueInfo, limit: number, visit: (message: Message) => Promise<boolean>): Promise<void> {
    const keep: Message[] = [];
    try {
      for (let count = 0; count < limit; ) {
        const received = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: info.parkedUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 0,
            MessageAttributeNames: ["All"],
            AttributeNames: ["All"],
          }),
          bounded(),
        );
        const messages = received.Messages ?? [];
        if (messages.length === 0) break;
        for (const message of messages) {
          count++;
          if (!(await visit(message))) keep.push(message);
        }
      }
    } finally {
      // What stays parked is made visible again at once, for the next listing.
      for (const message of keep) {
        await sqs
          .send(
            new ChangeMessageVisibilityCommand({ QueueUrl: info.parkedUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }),
            bounded(),
          )
          .catch(() => undefined);
      }
    }
  }

  async function parked(queue: string, parkedOptions: { limit?: number } = {}): Promise<ParkedCommand[]> {
    const out: ParkedCommand[] = [];
    try {
      const info = await queueInfo(queue);
      await receiveParked(info, parkedOptions.limit ?? 1_000, async (message) => {
        let command: Command | undefined;
        try {
          command = fromStructuredCommand(message.Body ?? "");
        } catch {
          command = undefined;
        }
        const attribute = (name: string) => message.MessageAttributes?.[name]?.StringValue;
        out.push({
          command,
          messageId: command?.id ?? message.MessageId ?? "",
          // Parked by SQS's redrive (the backstop) rather than by the consumer: no reason was written.
          reason: attribute("x-parked-reason") ?? "redriven by SQS after too many receives",
          attempts: Number(attribute("x-attempts") ?? 0),
          parkedAt: new Date(attribute("x-parked-at") ?? Number(message.Attributes?.SentTimestamp ?? 0)),
          raw: command === undefined ? { body: message.Body ?? "" } : undefined,
        });
        return false;
      });
    } catch (error) {
      throw unavailable(`listing the parking lot of ${queue}`, error);
    }
    // SQS does not keep the order messages were parked in; the listing is by time.
    return out.sort((a, b) => a.parkedAt.getTime() - b.parkedAt.getTime());
  }

  async function replay(queue: string, replayOptions: { ids?: readonly string[] } = {}): Promise<number> {
    const wanted = replayOptions.ids ? new Set(replayOptions.ids) : undefined;
    let replayed = 0;
    try {
      const info = await queueInfo(queue);
      await receiveParked(info, Number.MAX_SAFE_INTEGER, async (message) => {
        let command: Command;
        try {
          command = fromStructuredCommand(message.Body ?? "");
        } catch {
          return false; // malformed: nothing to replay it as; it stays parked
        }
        if (wanted && !wanted.has(command.id) && !wanted.has(message.MessageId ?? "")) return false;
        // Straight to this consumer's queue, not through the topic: other subscribers handled it already.
        await sqs.send(new SendMessageCommand({ QueueUrl: info.url, MessageBody: toStructuredCommand(command) }), bounded());
        await sqs.send(new DeleteMessageCommand({ QueueUrl: info.parkedUrl, ReceiptHandle: message.ReceiptHandle }), bounded());
        replayed++;
        return true;
      });
    } catch (error) {
      throw unavailable(`replaying the parking lot of ${queue}`, error);
    }
    return replayed;
  }

  /**
   * figures asks SQS itself (GetQueueAttributes): ready is ApproximateNumberOfMessages, unacked ...NotVisible (received,
   * not yet deleted), retrying ...Delayed (a retry is the command re-sent to its own queue with DelaySeconds), parked
   * the parking lot's visible and invisible messages. Approximate, as SQS says: eventually consistent counts.
   */
  async function figures(queue: string): Promise<QueueFigures> {
    const attributesOf = async (name: string): Promise<Record<string, string>> => {
      let url: string | undefined;
      try {
        url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }), bounded())).QueueUrl;
      } catch (error) {
        // A queue nobody declared yet holds nothing.
        if ((error as { name?: string }).name === "QueueDoesNotExist" || /does not exist|NonExistentQueue/i.test(errorReason(error)))
          return {};
        throw error;
      }
      const answer = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
        }),
        bounded(),
      );
      return answer.Attributes ?? {};
    };
    const n = (value: string | undefined) => Number(value ?? 0) || 0;
    try {
      const main = await attributesOf(sqsName(queue));
      const parked = await attributesOf(sqsParkedName(queue));
      const parkedCount = (attributes: Record<string, string>) =>
        "ApproximateNumberOfMessagesDelayed" in attributes
          ? n(attributes["ApproximateNumberOfMessages"]) + n(attributes["ApproximateNumberOfMessagesNotVisible"])
          : n(attributes["ApproximateNumberOfMessages"]);
      if ("ApproximateNumberOfMessagesDelayed" in main || Object.keys(main).length === 0) {
        return {
          queue,
          ready: n(main["ApproximateNumberOfMessages"]),
          unacked: n(main["ApproximateNumberOfMessagesNotVisible"]),
          retrying: n(main["ApproximateNumberOfMessagesDelayed"]),
          parked: parkedCount(parked),
        };
      }
      // goaws (v0.4.5) answers no ...Delayed, counts every message in ApproximateNumberOfMessages and the received
      // and the delayed ones together in ...NotVisible: ready is the difference, and a retry waiting out its delay
      // shows as unacked there (AWS tells them apart).
      const total = n(main["ApproximateNumberOfMessages"]);
      const hidden = n(main["ApproximateNumberOfMessagesNotVisible"]);
      return { queue, ready: Math.max(0, total - hidden), unacked: hidden, retrying: 0, parked: parkedCount(parked) };
    } catch (error) {
      throw unavailable(`reading the figures of ${queue}`, error);
    }
  }

  async function close(): Promise<void> {
    await Promise.all([...consumers].map((consumer) => consumer.close()));
    sns.destroy();
    sqs.destroy();
  }

  return { kind: "sqs", send, consume, declare, parked, replay, figures, close };
}
