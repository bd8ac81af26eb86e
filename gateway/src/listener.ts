import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { NodeRequest, NodeResponse } from "./http-handler.js";
import { DEFAULT_STREAM_RESET_LIMIT } from "#shared/grpc/stream-reset-limit.js";

/** PREFACE opens every HTTP/2 connection with prior knowledge (RFC 9113 §3.4), which is how h2c clients start. */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Listener is the gateway's one bound port. */
export interface Listener {
  readonly port: number;
  /** close stops accepting, lets requests in flight finish for up to `graceMs`, then drops what is left. */
  close(graceMs?: number): Promise<void>;
}

/**
 * listen serves HTTP/1.1 and HTTP/2 cleartext (h2c) on ONE port. It reads the first bytes of each connection: the
 * HTTP/2 preface goes to an `http2` server (gRPC, Connect over HTTP/2), anything else to an `http` server (REST,
 * Connect, gRPC-Web, static files). Both call the same request handler. No TLS here: in production it terminates
 * at the ingress, which speaks h2c or HTTP/1.1 to the gateway.
 */
export async function listen(handler: (req: NodeRequest, res: NodeResponse) => void, host: string, port: number): Promise<Listener> {
  const h1 = http.createServer(handler);
  // Server streams (WatchOrder, SSE) stay open for as long as the client watches: no request timeout for them.
  h1.requestTimeout = 0;
  // gRPC callers that stop watching reset their streams: Node's default rapid-reset guard would close the connection.
  const resets = DEFAULT_STREAM_RESET_LIMIT;
  const h2 = http2.createServer({ streamResetBurst: resets.burst, streamResetRate: resets.ratePerSec }, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      // Wait while what arrived could still be the start of the preface.
      if (head.length < PREFACE.length && PREFACE.subarray(0, head.length).equals(head)) return;
      socket.off("data", onData);
      socket.pause();
      socket.unshift(head);
      if (head.subarray(0, PREFACE.length).equals(PREFACE)) {
        // The HTTP/2 session takes over the socket's handle and first replays what is buffered in the stream (the
        // unshifted bytes); resuming the JS stream here would make both read the socket.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(port, host, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  const address = tcp.address();
  const boundPort = typeof address === "object" && address ? address.port : port;

  return {
    port: boundPort,
    async close(graceMs = 5_000) {
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const session of sessions) session.close(); // GOAWAY: streams in flight finish, no new ones
      h1.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (sockets.size > 0 && Date.now() < deadline) {
        h1.closeIdleConnections();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
