import { createRequire } from "node:module";
import path from "node:path";
import {
  Client,
  Metadata,
  type ClientDuplexStream,
  credentials,
  loadPackageDefinition,
  makeGenericClientConstructor,
  status,
  type GrpcObject,
  type ServiceClientConstructor,
  type ServiceError as GrpcServiceError,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { service as healthService } from "grpc-health-check";
import { describe, expect, it } from "vitest";
import { shutdownServer } from "#shared/grpc/index.js";
import { inventoryServers } from "./fixtures/grpc-harness.js";

const start = inventoryServers();

const GET_PRODUCT = "/shop.inventory.v1.InventoryService/GetProduct";

/** sendRaw sends bytes as they are, bypassing protobuf encoding, as a broken or hostile client would. */
function sendRaw(address: string, bytes: Buffer): Promise<GrpcServiceError | undefined> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise((resolve) => {
    const identity = (b: Buffer) => b;
    client.makeUnaryRequest(GET_PRODUCT, identity, identity, bytes, new Metadata(), {}, (err) => {
      client.close();
      resolve(err ?? undefined);
    });
  });
}

describe("grpc server: requests the adapter refuses", () => {
  it("when the request bytes are not protobuf, then the client gets INVALID_ARGUMENT, not INTERNAL", async () => {
    const { address } = await start({ getProduct: async () => ({}) });

    const err = await sendRaw(address, Buffer.from([0xff, 0xff, 0xff]));

    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/^request: malformed protobuf: /);
  });

  it("when a request exceeds the default 1 MiB limit, then the client gets INVALID_ARGUMENT naming size and limit", async () => {
    let called = false;
    const { client } = await start({
      getProduct: async () => {
        called = true;
        return {};
      },
    });

    const err = await client.getProduct({ productId: "x".repeat(1_500_000) }).catch((e: GrpcServiceError) => e);

    expect((err as GrpcServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect((err as GrpcServiceError).details).toMatch(/message of 15000\d\d bytes exceeds the limit of 1048576 bytes/);
    expect(called).toBe(false);
  });

  it("when one client-stream message exceeds a configured limit, then the stream fails with INVALID_ARGUMENT", async () => {
    const { client } = await start(
      {
        importStock: async (requests) => {
          for await (const _ of requests);
          return {};
        },
      },
      { maxRequestBytes: 100 },
    );

    const err = await client
      .importStock([
        { productId: "ok", quantity: 1 },
        { productId: "y".repeat(200), quantity: 1 },
      ])
      .catch((e) => e);

    expect((err as GrpcServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect((err as GrpcServiceError).details).toContain("exceeds the limit of 100 bytes");
  });

  it("when a method has no handler, then the client gets UNIMPLEMENTED", async () => {
    const { client } = await start({});

    const err = await client.getProduct({ productId: "x" }).catch((e: GrpcServiceError) => e);

    expect((err as GrpcServiceError).code).toBe(status.UNIMPLEMENTED);
  });
});

describe("grpc server: health", () => {
  const HealthClient = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
  function check(address: string, serviceName: string): Promise<string> {
    type CheckCallback = (err: Error | null, res: { status: string }) => void;
    const client = new HealthClient(address, credentials.createInsecure()) as unknown as Client & {
      check(request: { service: string }, callback: CheckCallback): void;
    };
    return new Promise((resolve, reject) => {
      client.check({ service: serviceName }, (err, res) => {
        client.close();
        return err ? reject(err) : resolve(res.status);
      });
    });
  }

  it("when the server runs, then the server and InventoryService report SERVING", async () => {
    const { address } = await start({});

    expect(await check(address, "")).toBe("SERVING");
    expect(await check(address, "shop.inventory.v1.InventoryService")).toBe("SERVING");
  });

  it("when shutdown begins, then health reports NOT_SERVING while in-flight calls drain", async () => {
    const { address, server, health } = await start({});

    const stopped = shutdownServer(server, health, { graceMs: 1000, drainDelayMs: 300 });

    expect(await check(address, "")).toBe("NOT_SERVING");
    expect(await check(address, "shop.inventory.v1.InventoryService")).toBe("NOT_SERVING");
    expect(await stopped).toBe(true);
  });
});

describe("grpc server: reflection", () => {
  const require = createRequire(import.meta.url);
  const reflectionDir = path.dirname(require.resolve("@grpc/reflection/package.json"));

  type ReflectionClient = Client & { ServerReflectionInfo(): ClientDuplexStream<object, Record<string, any>> };
  function reflectionClient(version: "v1" | "v1alpha", address: string): ReflectionClient {
    const protoPath = path.join(reflectionDir, `build/proto/grpc/reflection/${version}/reflection.proto`);
    const pkg = loadPackageDefinition(loadSync(protoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true }));
    const reflection = ((pkg.grpc as GrpcObject).reflection as GrpcObject)[version] as GrpcObject;
    const Ctor = reflection.ServerReflection as ServiceClientConstructor;
    return new Ctor(address, credentials.createInsecure()) as unknown as ReflectionClient;
  }

  async function ask(version: "v1" | "v1alpha", address: string, request: object): Promise<Record<string, any>> {
    const client = reflectionClient(version, address);
    const call = client.ServerReflectionInfo();
    const answer = new Promise<Record<string, any>>((resolve, reject) => {
      call.on("data", resolve);
      call.on("error", reject);
    });
    call.write(request);
    call.end();
    try {
      return await answer;
    } finally {
      client.close();
    }
  }

  it.each(["v1", "v1alpha"] as const)("when a %s client lists services, then InventoryService is there", async (version) => {
    const { address } = await start({});

    const res = await ask(version, address, { list_services: "*" });

    expect(res.list_services_response.service.map((s: { name: string }) => s.name)).toContain("shop.inventory.v1.InventoryService");
  });

  it("when a client asks for the file containing InventoryService, then it gets that file and every import, options included", async () => {
    const { address } = await start({});

    const res = await ask("v1", address, { file_containing_symbol: "shop.inventory.v1.InventoryService" });

    const names = (res.file_descriptor_response.file_descriptor_proto as Buffer[]).map(
      (bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name,
    );
    expect(names[0]).toBe("shop/inventory/v1/inventory_service.proto");
    expect(names).toEqual(
      expect.arrayContaining([
        "google/api/annotations.proto",
        "google/api/field_behavior.proto",
        "google/api/http.proto",
        "google/protobuf/timestamp.proto",
        "google/protobuf/descriptor.proto",
        "shop/common/v1/money.proto",
      ]),
    );
  });

  it("when a client asks for an imported file by name, then it gets it", async () => {
    const { address } = await start({});

    const res = await ask("v1alpha", address, { file_by_filename: "google/api/annotations.proto" });

    const first = (res.file_descriptor_response.file_descriptor_proto as Buffer[])[0]!;
    expect(fromBinary(FileDescriptorProtoSchema, first).name).toBe("google/api/annotations.proto");
  });
});
