/**
 * Toxiproxy is the latency lab's fault injector: Shopify's toxiproxy server (pinned v2.12.0, built into .tools/bin by
 * scripts/tools.sh) as a child process on a free port, driven through its HTTP API: TCP proxies on 127.0.0.1 in front
 * of a service or the broker, and "latency" toxics on them.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { MeshChild, ROOT } from "../../scripts/mesh/child.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { waitUntil } from "../../scripts/mesh/wait.js";

/** TOXIPROXY_SERVER is the pinned server binary. */
export const TOXIPROXY_SERVER = path.join(ROOT, ".tools", "bin", "toxiproxy-server");

/** Toxiproxy: see the file comment. */
export class Toxiproxy {
  private constructor(
    private readonly child: MeshChild,
    private readonly api: string,
  ) {}

  /** start runs the server and waits until its API answers. */
  static async start(): Promise<Toxiproxy> {
    if (!existsSync(TOXIPROXY_SERVER)) throw new Error(`${TOXIPROXY_SERVER} is missing: run npm run tools (needs Go)`);
    const port = await freePort();
    const child = MeshChild.command(TOXIPROXY_SERVER, ["-host", "127.0.0.1", "-port", String(port)], { name: "toxiproxy" });
    const proxy = new Toxiproxy(child, `http://127.0.0.1:${port}`);
    try {
      await waitUntil(async () => (await fetch(`${proxy.api}/version`, { signal: AbortSignal.timeout(1_000) })).ok, {
        timeoutMs: 20_000,
        intervalMs: 200,
        signal: child.exitSignal,
        message: "toxiproxy's API",
      });
    } catch (error) {
      await child.stop("SIGKILL");
      throw error;
    }
    return proxy;
  }

  /** proxy creates a proxy listening on `listenPort` (127.0.0.1) that forwards to `upstreamPort`. */
  async proxy(name: string, listenPort: number, upstreamPort: number): Promise<void> {
    await this.call("POST", "/proxies", { name, listen: `127.0.0.1:${listenPort}`, upstream: `127.0.0.1:${upstreamPort}`, enabled: true });
  }

  /** latency delays what flows back to the clients of a proxy by `latencyMs` ± `jitterMs`. */
  async latency(proxy: string, toxic: string, latencyMs: number, jitterMs: number): Promise<void> {
    await this.call("POST", `/proxies/${proxy}/toxics`, {
      name: toxic,
      type: "latency",
      stream: "downstream",
      toxicity: 1,
      attributes: { latency: latencyMs, jitter: jitterMs },
    });
  }

  /** remove deletes a toxic. */
  async remove(proxy: string, toxic: string): Promise<void> {
    await this.call("DELETE", `/proxies/${proxy}/toxics/${toxic}`);
  }

  /** stop ends the server (its proxies go with it). */
  async stop(): Promise<void> {
    await this.child.stop("SIGTERM", 5_000);
  }

  private async call(method: string, route: string, body?: object): Promise<void> {
    const response = await fetch(`${this.api}${route}`, {
      method,
      ...(body ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) throw new Error(`toxiproxy ${method} ${route}: ${response.status} ${await response.text()}`);
  }
}
