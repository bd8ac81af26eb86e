/**
 * The P1 baseline: a bare @grpc/grpc-js server (no project adapter, no reflection, no logging), loaded the classic
 * way with @grpc/proto-loader, answering every Echo with one pre-built response whose encoded size equals
 * ECHO_RESPONSE_BYTES (the size of the GetOrder response under test). Whatever GetOrder costs beyond this is the
 * adapter, the handler, SQLite and the protobuf-es mapping.
 *
 *   PORT=50099 ECHO_RESPONSE_BYTES=420 node --import tsx bench/echo/echo-server.ts
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PROTO = path.join(path.dirname(fileURLToPath(import.meta.url)), "echo.proto");

/** payloadLengthFor returns the bytes-field length that makes an EchoResponse encode to `total` bytes. */
function payloadLengthFor(total: number): number {
  // One tag byte, a varint length, then the payload.
  for (let n = Math.max(0, total - 6); n <= total; n++) {
    if (1 + varintSize(n) + n === total) return n;
  }
  return Math.max(0, total - 2);
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n >>>= 7;
    size++;
  }
  return size;
}

const port = Number(process.env["PORT"] ?? "50099");
const total = Number(process.env["ECHO_RESPONSE_BYTES"] ?? "400");
const definition = protoLoader.loadSync(PROTO, { keepCase: true });
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  bench: { echo: { v1: { EchoService: grpc.ServiceClientConstructor } } };
};
const response = { payload: Buffer.alloc(payloadLengthFor(total), 0x61) };

const server = new grpc.Server();
server.addService(pkg.bench.echo.v1.EchoService.service, {
  Echo: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, response),
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error) => {
  if (error) {
    console.error(error.message);
    process.exit(1);
  }
  console.log(`echo listening on 127.0.0.1:${port} (${total}-byte responses)`);
});

process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
