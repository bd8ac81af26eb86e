/**
 * The events panel, the "dashboard of consumption state": polls the gateway's `GET /ops/events` every 2 s and shows
 * each service's outbox backlog, each consumer group's lag, the dead-letter counts, each command queue's figures
 * (RabbitMQ or SQS: ready, unacked, retrying, parked, with the latest parked commands) and the latest events per topic.
 */
import type { CommandQueueReport, DeadLetterReport, OpsEventsReport, TopicReport } from "../../gateway/src/ops-events.js";
import { h, replace } from "./dom.js";
import { formatTime } from "./format.js";
import { whyHref } from "./why.js";

const POLL_MS = 2000;
const RECENT_SHOWN = 8;

/** mountEvents renders the panel into `root` and polls until the page closes. */
export function mountEvents(root: HTMLElement): void {
  const updated = h("span", { class: "live", "data-state": "connecting", "data-testid": "events-live" }, "loading…");
  const content = h("div", { class: "events-grid" });
  replace(root, h("header", { class: "panel-head" }, h("h2", {}, "Event flow"), updated), content);

  const poll = async (): Promise<void> => {
    try {
      const response = await fetch("/ops/events", { headers: { accept: "application/json" }, cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const report = (await response.json()) as OpsEventsReport;
      render(content, report);
      updated.dataset["state"] = report.kafka.available ? "live" : "down";
      updated.textContent = report.kafka.available
        ? `updated ${formatTime(report.generatedAt)}`
        : `Kafka unavailable: ${report.kafka.error ?? ""}`;
    } catch (error) {
      updated.dataset["state"] = "down";
      updated.textContent = `offline: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      // Schedule after the answer, not on a fixed interval: a slow gateway never gets overlapping polls.
      setTimeout(() => void poll(), POLL_MS);
    }
  };
  void poll();
}

function render(content: HTMLElement, report: OpsEventsReport): void {
  replace(
    content,
    card(
      "Outbox backlog",
      "outbox",
      table(
        ["Service", "Pending", "Failed", "Sent", "Oldest"],
        report.outbox.map((row) =>
          row.available
            ? [
                row.service,
                num(row.pending, row.pending > 0 ? "warn" : ""),
                num(row.failed, row.failed > 0 ? "bad" : ""),
                num(row.published),
                row.oldestPendingTime ? formatTime(row.oldestPendingTime) : "—",
              ]
            : [row.service, h("span", { class: "bad", title: row.error ?? "" }, "unavailable"), "", "", ""],
        ),
      ),
      true,
    ),
    card(
      "Consumer lag",
      "consumer-lag",
      table(
        ["Group", "Topics", "Lag"],
        report.consumerGroups.map((group) => [
          h("span", { title: group.groupId }, group.service),
          h("span", { class: "small muted" }, group.topics.map((topic) => `${shortTopic(topic.topic)}: ${topic.lag ?? "—"}`).join(", ")),
          group.error ? h("span", { class: "bad", title: group.error }, "error") : num(group.lag ?? 0, (group.lag ?? 0) > 0 ? "warn" : ""),
        ]),
      ),
    ),
    card(
      "Dead letters",
      "dead-letters",
      table(
        ["Topic", "Messages"],
        report.deadLetters.map((dlq) => [shortTopic(dlq.topic), dlq.count === null ? "—" : num(dlq.count, dlq.count > 0 ? "bad" : "")]),
      ),
      false,
      deadLetterList(report.deadLetters),
    ),
    card(
      "Command queues",
      "command-queues",
      table(
        ["Queue", "Ready", "Unacked", "Retrying", "Parked"],
        (report.commandQueues ?? []).map((row) =>
          row.available
            ? [
                h("span", { title: `consumed by ${row.service}`, "data-testid": "command-queue", "data-queue": row.queue }, row.queue),
                num(row.ready, row.ready > 0 ? "warn" : "", `queue-ready`),
                num(row.unacked, "", "queue-unacked"),
                num(row.retrying, row.retrying > 0 ? "warn" : "", "queue-retrying"),
                num(row.parked, row.parked > 0 ? "bad" : "", "queue-parked"),
              ]
            : [row.service, h("span", { class: "bad", title: row.error ?? "" }, "unavailable"), "", "", ""],
        ),
      ),
      true,
      parkedList(report.commandQueues ?? []),
    ),
    ...report.topics.map((topic) => recentCard(topic)),
  );
}

/** parkedList shows the parking lots' latest commands, newest first, with the reason, linked to the order's timeline. */
function parkedList(queues: readonly CommandQueueReport[]): HTMLElement | null {
  const parked = queues
    .flatMap((queue) => queue.latestParked.map((entry) => ({ queue: queue.queue, entry })))
    .sort((a, b) => (b.entry.parkTime ?? "").localeCompare(a.entry.parkTime ?? ""))
    .slice(0, RECENT_SHOWN);
  if (parked.length === 0) return null;
  return h(
    "ul",
    { class: "event-list dead-letter-list" },
    ...parked.map(({ queue, entry }) =>
      h(
        "li",
        {
          "data-testid": "parked-row",
          "data-subject": entry.subject,
          title: `${entry.type}
id ${entry.messageId}
${queue}.parked`,
        },
        h("span", { class: "event-type" }, entry.type.split(".").pop() || "malformed"),
        entry.subject
          ? h("a", { href: whyHref(entry.subject), class: "small", "data-testid": "parked-why" }, `why? ${entry.subject.slice(0, 8)}`)
          : h("span", { class: "small muted" }, "no subject"),
        h("span", { class: "small bad" }, `${entry.attempts} tries: ${entry.reason}`),
      ),
    ),
  );
}

function recentCard(topic: TopicReport): HTMLElement {
  const recent = topic.recent.slice(-RECENT_SHOWN).reverse();
  return card(
    `Latest on ${shortTopic(topic.topic)}`,
    `recent-${topic.topic}`,
    recent.length === 0
      ? h("p", { class: "muted small" }, "No events since the gateway started.")
      : h(
          "ul",
          { class: "event-list" },
          ...recent.map((event) =>
            h(
              "li",
              {
                "data-testid": "event-row",
                "data-type": event.type,
                "data-subject": event.subject,
                title: `${event.type}\nid ${event.id}\nsubject ${event.subject}\n${topic.topic} p${event.partition} @${event.offset}`,
              },
              h("span", { class: "event-type" }, event.type.split(".").pop() ?? event.type),
              h("code", { class: "small" }, event.subject.slice(0, 8)),
              h("time", { class: "small muted" }, formatTime(event.time)),
            ),
          ),
        ),
  );
}

/** deadLetterList shows the latest dead letters, newest first, each linked to its order's timeline page. */
function deadLetterList(reports: readonly DeadLetterReport[]): HTMLElement | null {
  const letters = reports
    .flatMap((report) => (report.recent ?? []).map((event) => ({ topic: report.topic, event })))
    .sort((a, b) => (b.event.deadLetter?.time ?? b.event.time).localeCompare(a.event.deadLetter?.time ?? a.event.time))
    .slice(0, RECENT_SHOWN);
  if (letters.length === 0) return null;
  return h(
    "ul",
    { class: "event-list dead-letter-list" },
    ...letters.map(({ topic, event }) =>
      h(
        "li",
        {
          "data-testid": "dead-letter-row",
          "data-subject": event.subject,
          title: `${event.type}\nid ${event.id}\n${topic} @${event.offset}`,
        },
        h("span", { class: "event-type" }, event.type.split(".").pop() ?? event.type),
        event.subject
          ? h("a", { href: whyHref(event.subject), class: "small", "data-testid": "dead-letter-why" }, `why? ${event.subject.slice(0, 8)}`)
          : h("span", { class: "small muted" }, "no subject"),
        h("span", { class: "small bad" }, `${event.deadLetter?.consumer ?? ""}: ${event.deadLetter?.error ?? event.source}`),
      ),
    ),
  );
}

function card(title: string, testId: string, body: Node, wide = false, ...more: (Node | null)[]): HTMLElement {
  return h("section", { class: wide ? "card wide" : "card", "data-testid": testId }, h("h3", {}, title), body, ...more);
}

function table(headings: string[], rows: (Node | string)[][]): HTMLElement {
  if (rows.length === 0) return h("p", { class: "muted small" }, "Nothing to show.");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "compact" },
      h("thead", {}, h("tr", {}, ...headings.map((heading) => h("th", {}, heading)))),
      h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((cell) => h("td", {}, cell))))),
    ),
  );
}

function num(value: number, tone = "", testId?: string): HTMLElement {
  return h("span", { class: `num ${tone}`, "data-testid": testId }, String(value));
}

/** shortTopic drops the common `shop.` prefix and `.v1.events` suffix for narrow screens (`order`, `order.dlq`). */
function shortTopic(topic: string): string {
  return topic.replace(/^shop\./, "").replace(/\.v\d+\.events/, "");
}
