import type { ChannelCredentials } from "@grpc/grpc-js";
import { Health, HealthCheckResponse_ServingStatus } from "#gen/grpc/health/v1/health_pb.js";
import { createClient, type ServiceClient } from "./client.js";

/** HealthClient is a typed grpc.health.v1 client (the descriptor generated for reflection serves it too). */
export type HealthClient = ServiceClient<typeof Health>;

/** createHealthClient returns a grpc.health.v1 client (plaintext unless `credentials`); close it when done. */
export function createHealthClient(address: string, credentials?: ChannelCredentials): HealthClient {
  return createClient(Health, address, credentials ? { credentials } : {});
}

/**
 * checkHealth asks grpc.health.v1 Check about `service` ("" = the whole server) and returns the status name, e.g.
 * "SERVING"; it rejects (with the grpc error) when the server cannot be reached. Pass `client` to reuse one while
 * polling; otherwise a client is made and closed for this one call.
 */
export async function checkHealth(
  address: string,
  options: { service?: string; timeoutMs?: number; client?: HealthClient } = {},
): Promise<string> {
  const client = options.client ?? createHealthClient(address);
  try {
    const response = await client.check({ service: options.service ?? "" }, { timeoutMs: options.timeoutMs ?? 1_000 });
    return HealthCheckResponse_ServingStatus[response.status] ?? "UNKNOWN";
  } finally {
    if (!options.client) client.close();
  }
}
