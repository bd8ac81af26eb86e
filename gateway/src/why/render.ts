/** renderTimeline prints a timeline as text for the terminal (`npm run why`): one line per entry, the diagnosis last. */
import type { Timeline } from "./model.js";

export function renderTimeline(timeline: Timeline): string {
  const lines = [`order ${timeline.orderId} (${timeline.order.status}, customer ${timeline.order.customerId})`, ""];
  for (const entry of timeline.entries) {
    const mark = entry.level === "error" ? "!!" : entry.level === "warn" ? "! " : "  ";
    lines.push(`${mark} ${clock(entry.time)}  ${entry.source.padEnd(11)} ${entry.service.padEnd(9)} ${entry.text}`);
  }
  const skipped = timeline.sources.filter((source) => !source.ok);
  if (skipped.length > 0) lines.push("", `(without ${skipped.map((source) => source.source).join(", ")})`);
  lines.push("", `diagnosis: ${timeline.diagnosis.text}`);
  return lines.join("\n");
}

/** clock shows an RFC 3339 time as `HH:MM:SS.mmm` (UTC), which is what tells the entries apart. */
function clock(time: string): string {
  return time.length >= 23 ? time.slice(11, 23) : time;
}
