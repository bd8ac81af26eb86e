import type { ChannelCredentials } from "@grpc/grpc-js";
import { MeshCertificates } from "./certificates.js";
import { serviceId, type MeshServiceName, type OperatorRole } from "./identity.js";
import { operatorFiles } from "./pki-layout.js";
import { issueOperator } from "./pki.js";
import { channelCredentials } from "./tls.js";

/** OperatorCredentials let a tool (the mesh launcher, a test, a lab, a benchmark) call the services as an operator. */
export interface OperatorCredentials {
  /** for are mTLS credentials for calling `peer`, accepting only its identity. */
  for(peer: MeshServiceName): ChannelCredentials;
  close(): void;
}

const quiet = { info: () => undefined, warn: () => undefined };

/**
 * operatorCredentials issues (or re-issues) the operator certificate `name` with `role` in the PKI at `pkiDir` and
 * loads it: what `npm run certs -- client <name> --role <role>` does for a person, done for a tool. The policy
 * (policy/access.yaml) decides what the role may call; tools that create orders directly need `admin`.
 */
export async function operatorCredentials(pkiDir: string, name: string, role: OperatorRole): Promise<OperatorCredentials> {
  await issueOperator(pkiDir, name, role);
  const certs = new MeshCertificates(operatorFiles(pkiDir, name), { logger: quiet });
  try {
    await certs.ready(10_000);
  } catch (error) {
    certs.close();
    throw error;
  }
  const byPeer = new Map<MeshServiceName, ChannelCredentials>();
  return {
    for(peer) {
      let credentials = byPeer.get(peer);
      if (!credentials) {
        credentials = channelCredentials(certs, serviceId(peer));
        byPeer.set(peer, credentials);
      }
      return credentials;
    },
    close: () => certs.close(),
  };
}
