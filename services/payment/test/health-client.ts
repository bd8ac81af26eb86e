import { credentials, makeGenericClientConstructor, type Client } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

/** healthStatus asks grpc.health.v1 Check for the whole server ("") and returns the status name. */
export async function healthStatus(address: string): Promise<string> {
  const Health = makeGenericClientConstructor(healthService, "Health");
  const client = new Health(address, credentials.createInsecure()) as unknown as Client & {
    check(request: object, callback: (error: Error | null, response?: { status: string | number }) => void): void;
  };
  try {
    return await new Promise<string>((resolve, reject) =>
      client.check({ service: "" }, (error, response) => (error ? reject(error) : resolve(String(response?.status)))),
    );
  } finally {
    client.close();
  }
}
