import { ChannelCredentials, ServerCredentials, type Server } from "@grpc/grpc-js";
import type { MeshSecurity } from "../config.js";
import type { Logger } from "../logger.js";
import { accessControl, type AccessControl } from "./access-control.js";
import { AccessPolicy } from "./access-policy.js";
import type { MeshServiceName } from "./identity.js";

/**
 * MeshTransport is how one process of the mesh talks to the others: the credentials its gRPC server binds with,
 * the credentials for each peer it calls, and the admission of every call it serves. Built once at start-up, from
 * MeshSecurity (config.ts): mutual TLS with the mesh's CA and the access policy, or plaintext under MESH_INSECURE=1.
 */
export interface MeshTransport {
  readonly mode: MeshSecurity["mode"];
  readonly serverCredentials: ServerCredentials;
  /** channelCredentials are for calling `peer`: with mTLS, a server whose certificate is not `peer`'s is refused. */
  channelCredentials(peer: MeshServiceName): ChannelCredentials;
  readonly access: AccessControl;
  /** bound is called once the server listens (mTLS: rejected handshakes get logged). */
  bound(server: Server): void;
  close(): void;
}

/** openMeshTransport builds the transport of the process named `self` (its certificate is `services/<self>.crt`). */
export async function openMeshTransport(self: string, security: MeshSecurity, logger: Logger): Promise<MeshTransport> {
  if (security.mode === "insecure") {
    logger.warn(
      { self },
      "MESH_INSECURE=1: plaintext gRPC, no identities between services, the access policy is not enforced and any caller may assert an end user",
    );
    return {
      mode: "insecure",
      serverCredentials: ServerCredentials.createInsecure(),
      channelCredentials: () => ChannelCredentials.createInsecure(),
      access: accessControl(undefined),
      bound: () => undefined,
      close: () => undefined,
    };
  }
  const policy = AccessPolicy.load(security.policyFile);
  throw new Error(`mTLS for ${self} is not wired yet (policy ${policy.source})`);
}
