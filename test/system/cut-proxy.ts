import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * CutProxy is a TCP proxy for tests that cuts a link the way a network partition does: after `cutAfterNextWrite()`
 * one more chunk from the client gets through (the request already on its way), then every byte either way is
 * dropped, on open and new connections alike, while the sockets stay open: calls hang until their deadlines.
 * `heal()` closes what was cut, so clients reconnect through a working link.
 */
export class CutProxy {
  private mode: "pass" | "cut-after-next" | "cut" = "pass";
  /** droppedWrites counts the client's chunks dropped since the cut: calls that went out and were lost. */
  droppedWrites = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** start listens on a free port and forwards each connection to `target()` (host:port), read when it connects. */
  static async start(target: () => string): Promise<CutProxy> {
    let proxy: CutProxy | undefined;
    const server = createServer((client) => proxy?.connect(client, target()));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("proxy has no port");
    proxy = new CutProxy(server, address.port);
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** cutAfterNextWrite lets the client's next chunk through, then drops everything; answers are dropped at once. */
  cutAfterNextWrite(): void {
    this.mode = "cut-after-next";
    this.droppedWrites = 0;
  }

  /** heal closes every connection (their HTTP/2 state is lost with the dropped bytes) and passes bytes again. */
  heal(): void {
    this.mode = "pass";
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.heal();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private connect(client: Socket, target: string): void {
    const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
    const upstream = createConnection({ host, port });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk) => {
      if (this.mode === "cut") {
        this.droppedWrites += 1;
        return;
      }
      if (this.mode === "cut-after-next") this.mode = "cut";
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (this.mode === "pass") client.write(chunk);
    });
  }
}
