/**
 * The timeline's diagnosis: pure rules over what was gathered (model.ts), in order of what an operator must act on
 * first. A dead letter nobody handled since beats everything (the saga cannot move on by itself); then a terminal
 * order says how it ended; then an open order names the step that has not happened and why, what cannot resolve by
 * itself first: an outbox whose sends fail, a consumer stopped or retrying the event; then an outbox row still on its
 * way, or a consumer N events behind. A terminal order also says what became of its email: parked (with the command
 * to replay it) or still in the outbox; an email sent, or on its way through the queue, adds nothing.
 */
import { CommandQueues } from "#shared/commands/queues.js";
import type { ConsumerPosition, DeadLetterFacts, Diagnosis, EventFacts, ParkedCommandFacts, SpanFacts, TimelineFacts } from "./model.js";

/** COMMAND_QUEUES are the queues whose outbox rows are commands, not Kafka events. */
const COMMAND_QUEUES: ReadonlySet<string> = new Set(Object.values(CommandQueues));

/** diagnose returns the one-line diagnosis of an order's timeline. */
export function diagnose(facts: TimelineFacts): Diagnosis {
  const letter = unresolvedDeadLetters(facts)[0];
  if (letter !== undefined) {
    const name = shortName(letter.type);
    return {
      state: "dead-lettered",
      text: `${name} is in ${letter.dlqTopic}: ${letter.error}; fix, then npm run dlq -- replay ${letter.eventId}`,
    };
  }
  const { order } = facts;
  if (order.status === "CONFIRMED") return withEmail(facts, { state: "confirmed", text: "confirmed" });
  if (order.status === "CANCELLED") {
    const declined = facts.payments.find((payment) => payment.status === "DECLINED");
    if (declined !== undefined) {
      return withEmail(facts, {
        state: "cancelled",
        text: `cancelled: payment declined${declined.declineReason ? ` (${declined.declineReason})` : ""}`,
      });
    }
    return withEmail(facts, { state: "cancelled", text: `cancelled: ${order.cancelReason || "no reason recorded"}` });
  }

  // What cannot resolve by itself comes first: a relay whose sends fail, a stopped consumer, one retrying an event.
  // An outbox row on its way (NOT_PUBLISHED, IN_PROGRESS) or a consumer a few events behind is usually just in flight.
  const failed = facts.events.find((event) => event.state === "FAILED");
  if (failed !== undefined) return outboxWait(failed);
  const waiting = firstUnreached(facts.events, facts.spans);
  const text = waiting && waitingText(waiting.event, waiting.position, facts.spans);
  if (waiting !== undefined && (waiting.position.members === 0 || failuresOf(waiting.event, waiting.position, facts.spans).length > 0)) {
    return { state: "waiting", text: text ?? "" };
  }
  const unsent = facts.events.find((event) => event.state !== "PUBLISHED");
  if (unsent !== undefined) return outboxWait(unsent);
  if (text !== undefined) return { state: "waiting", text };

  const missing = facts.sources.filter((source) => !source.ok).map((source) => source.source);
  if (missing.length > 0) {
    return { state: "unknown", text: `${order.status}: no stuck step found, but ${missing.join(", ")} did not answer` };
  }
  if (!facts.events.some((event) => event.name === "OrderCreated")) {
    return { state: "unknown", text: `${order.status}: order's outbox holds no OrderCreated for it` };
  }
  return { state: "unknown", text: `${order.status}: every event was published and consumed; nothing explains the wait` };
}

/**
 * withEmail adds to a terminal order's diagnosis what became of its email, when something did go wrong: a command
 * parked and not sent since (a replay that worked leaves a notification with the command's id), first; else an email
 * command its outbox has not sent. The state stays the order's: the email is the customer's news, not the order's.
 */
function withEmail(facts: TimelineFacts, diagnosis: Diagnosis): Diagnosis {
  const parked = unresolvedParkedCommands(facts)[0];
  if (parked !== undefined) {
    return {
      ...diagnosis,
      text: `${diagnosis.text}; ${emailName(facts, parked)} is parked: ${parked.reason}; fix, then npm run dlq -- unpark ${parked.queue} ${parked.messageId}`,
    };
  }
  const unsent = facts.events.find((event) => COMMAND_QUEUES.has(event.topic) && event.state !== "PUBLISHED");
  if (unsent !== undefined) {
    const error = unsent.lastError ? `; last error: ${unsent.lastError}` : "";
    return {
      ...diagnosis,
      text: `${diagnosis.text}; the email command ${unsent.name} waits in ${unsent.service}'s outbox (${unsent.state} after ${plural(unsent.timesSent, "send")}${error})`,
    };
  }
  return diagnosis;
}

/** unresolvedParkedCommands are the order's parked commands that no email answers since, oldest first. */
export function unresolvedParkedCommands(facts: Pick<TimelineFacts, "parkedCommands" | "notifications">): ParkedCommandFacts[] {
  const sent = new Set(facts.notifications.map((email) => email.notificationId));
  return facts.parkedCommands.filter((parked) => !sent.has(parked.messageId)).sort((a, b) => a.time.localeCompare(b.time));
}

/**
 * emailName says which email a parked command was: the confirmation while the order is confirmed, the cancellation
 * for a cancelled order that was never confirmed; otherwise (cancelled after a confirmation) it cannot tell from here.
 */
function emailName(facts: TimelineFacts, parked: ParkedCommandFacts): string {
  if (!parked.type.endsWith("SendOrderEmail")) return `the command ${shortName(parked.type) || "(malformed)"}`;
  if (facts.order.status === "CONFIRMED") return "the confirmation email";
  if (!facts.order.history.some((change) => change.status === "CONFIRMED")) return "the cancellation email";
  return "an order email";
}

function outboxWait(event: EventFacts): Diagnosis {
  const error = event.lastError ? `; last error: ${event.lastError}` : "";
  return {
    state: "waiting",
    text: `waiting for ${event.service}'s outbox: ${event.name} is ${event.state} after ${plural(event.timesSent, "send")}${error}`,
  };
}

/**
 * unresolvedDeadLetters are the order's dead letters whose consumer has not handled the event since (a replay that
 * worked leaves the event in that service's inbox), oldest first.
 */
export function unresolvedDeadLetters(facts: Pick<TimelineFacts, "deadLetters" | "events">): DeadLetterFacts[] {
  return facts.deadLetters
    .filter((letter) => {
      const event = facts.events.find((candidate) => candidate.eventId === letter.eventId);
      const position = event?.consumers.find((consumer) => consumer.groupId === letter.consumer);
      return position === undefined || position.handledBy.length === 0;
    })
    .sort((a, b) => a.time.localeCompare(b.time));
}

/**
 * firstUnreached picks, among the published events a group reading their topic has not got past yet, the one to
 * name: a stopped group first (it never catches up by itself), then one retrying the event, then the group furthest
 * behind (the bottleneck; a group one event behind is usually just about to get there), then the oldest event.
 */
function firstUnreached(
  events: readonly EventFacts[],
  spans: readonly SpanFacts[],
): { event: EventFacts; position: ConsumerPosition } | undefined {
  const waiting = events.flatMap((event) =>
    event.consumers.filter((consumer) => !consumer.passed && consumer.handledBy.length === 0).map((position) => ({ event, position })),
  );
  const rank = ({ event, position }: { event: EventFacts; position: ConsumerPosition }) => [
    position.members === 0 ? 0 : 1,
    failuresOf(event, position, spans).length > 0 ? 0 : 1,
    -(position.behind ?? 0),
  ];
  return waiting.sort((a, b) => {
    const [ra, rb] = [rank(a), rank(b)];
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return (ra[i] ?? 0) - (rb[i] ?? 0);
    return a.event.createTime.localeCompare(b.event.createTime);
  })[0];
}

function failuresOf(event: EventFacts, position: ConsumerPosition, spans: readonly SpanFacts[]): SpanFacts[] {
  return spans.filter((span) => span.eventId === event.eventId && span.group === position.groupId && span.error !== "");
}

function waitingText(event: EventFacts, position: ConsumerPosition, spans: readonly SpanFacts[]): string {
  const who = `waiting for ${position.service}`;
  const failures = failuresOf(event, position, spans);
  const behind = position.behind === null ? "" : `, ${plural(position.behind, "event")} behind`;
  if (position.members === 0) {
    return `${who}: its consumer ${position.groupId} is stopped (group ${position.state}, no members)${behind}; start ${position.service}`;
  }
  const last = failures.at(-1);
  if (last !== undefined) {
    return `${who}: its consumer is retrying ${event.name} (${plural(failures.length, "failed attempt")} so far): ${last.error}`;
  }
  if (position.behind === null) return `${who}: its consumer has not reached ${event.name} (no committed offset yet)`;
  return `${who}: its consumer is ${plural(position.behind, "event")} behind`;
}

/** shortName is a CloudEvents type's message name: `shop.order.v1.OrderCreated` → `OrderCreated`. */
export function shortName(type: string): string {
  return type.split(".").pop() || type;
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;
}
