/**
 * The P3 chart: latency (p50 and p99 create→CONFIRMED, log scale) and confirmed orders/s against the offered rate, as
 * a self-contained SVG (renders on GitHub) and a PNG taken from it with the machine's Chromium through playwright-core
 * (no browser download). Without Chromium the PNG is skipped and the SVG stays.
 */
import { existsSync, writeFileSync } from "node:fs";
import type { P3Step } from "../measures/p3-flow.js";

const W = 760;
const H = 420;
const M = { left: 86, right: 80, top: 50, bottom: 60 };

/** chartSvg draws the steps; see the file comment. */
export function chartSvg(steps: readonly P3Step[], title: string): string {
  const xs = steps.map((s) => s.offeredRate);
  const xMax = Math.max(...xs, 1) * 1.05;
  const lat = steps.flatMap((s) => [s.confirmP50Ms, s.confirmP99Ms]).filter((v) => Number.isFinite(v) && v > 0);
  const yMin = Math.max(1, 10 ** Math.floor(Math.log10(Math.min(...lat, 10))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...lat, 100)));
  const tMax = Math.max(...steps.map((s) => s.confirmedPerSec), ...xs, 1) * 1.05;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (v: number) => M.left + (v / xMax) * pw;
  const y = (v: number) => M.top + ph - ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph;
  const yt = (v: number) => M.top + ph - (v / tMax) * ph;
  const line = (points: [number, number][], color: string, dash = "") =>
    `<polyline fill="none" stroke="${color}" stroke-width="2.5" ${dash ? `stroke-dasharray="${dash}"` : ""} points="${points.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" ")}"/>` +
    points.map(([a, b]) => `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3.5" fill="${color}"/>`).join("");
  const finite = (s: P3Step, v: number) => Number.isFinite(v) && v > 0 && s.confirmed > 0;
  const p50 = steps.filter((s) => finite(s, s.confirmP50Ms)).map((s): [number, number] => [x(s.offeredRate), y(s.confirmP50Ms)]);
  const p99 = steps.filter((s) => finite(s, s.confirmP99Ms)).map((s): [number, number] => [x(s.offeredRate), y(s.confirmP99Ms)]);
  const thr = steps.map((s): [number, number] => [x(s.offeredRate), yt(s.confirmedPerSec)]);
  const ideal: [number, number][] = [
    [x(0), yt(0)],
    [x(Math.max(...xs)), yt(Math.max(...xs))],
  ];
  const decades: number[] = [];
  for (let d = yMin; d <= yMax; d *= 10) decades.push(d);
  const xTicks = niceTicks(xMax);
  const tTicks = niceTicks(tMax);
  const text = (tx: number, ty: number, s: string, anchor = "middle", extra = "") =>
    `<text x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" text-anchor="${anchor}" ${extra}>${escapeXml(s)}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
${text(W / 2, 24, title, "middle", 'font-size="15" font-weight="bold"')}
${decades.map((d) => `<line x1="${M.left}" x2="${M.left + pw}" y1="${y(d)}" y2="${y(d)}" stroke="#ddd"/>${text(M.left - 8, y(d) + 4, `${d} ms`, "end")}`).join("\n")}
${xTicks.map((t) => `<line x1="${x(t)}" x2="${x(t)}" y1="${M.top + ph}" y2="${M.top + ph + 5}" stroke="#333"/>${text(x(t), M.top + ph + 20, String(t))}`).join("\n")}
${tTicks.map((t) => text(M.left + pw + 8, yt(t) + 4, String(t), "start", 'fill="#2a7"')).join("\n")}
<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>
${line(ideal, "#bbb", "4 4")}
${line(thr, "#2a7", "8 4")}
${line(p50, "#36c")}
${line(p99, "#d33")}
${text(M.left + pw / 2, H - 18, "offered orders/s (REST create, open loop)")}
${text(18, M.top + ph / 2, "create→CONFIRMED latency (log)", "middle", `transform="rotate(-90 18 ${M.top + ph / 2})"`)}
${text(W - 16, M.top + ph / 2, "confirmed orders/s", "middle", `transform="rotate(90 ${W - 16} ${M.top + ph / 2})" fill="#2a7"`)}
<g transform="translate(${M.left + 12},${M.top + 14})">
<rect x="-6" y="-12" width="250" height="66" fill="white" stroke="#ccc"/>
<line x1="0" x2="24" y1="0" y2="0" stroke="#d33" stroke-width="2.5"/>${text(30, 4, "p99 create→CONFIRMED", "start")}
<line x1="0" x2="24" y1="16" y2="16" stroke="#36c" stroke-width="2.5"/>${text(30, 20, "p50 create→CONFIRMED", "start")}
<line x1="0" x2="24" y1="32" y2="32" stroke="#2a7" stroke-width="2.5" stroke-dasharray="8 4"/>${text(30, 36, "confirmed orders/s (grey: = offered)", "start")}
</g>
</svg>
`;
}

function niceTicks(max: number): number[] {
  const raw = max / 5;
  const step = [1, 2, 2.5, 5, 10].map((m) => m * 10 ** Math.floor(Math.log10(raw))).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = 0; t <= max; t += step) ticks.push(Math.round(t));
  return ticks;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** CHROMIUM is the browser the PNG is rendered with (CHROMIUM_PATH, else the Debian package's). */
const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";

/** writePng renders `svg` to `file`; returns why not when it cannot (no Chromium, launch failure). */
export async function writePng(svg: string, file: string): Promise<string | undefined> {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH); the SVG is there`;
  try {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: W, height: H }, deviceScaleFactor: 2 });
      await page.setContent(`<html><body style="margin:0">${svg}</body></html>`);
      writeFileSync(file, await page.locator("svg").screenshot({ type: "png" }));
    } finally {
      await browser.close();
    }
    return undefined;
  } catch (error) {
    return `PNG not rendered: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
  }
}
