import type { PeerCertificate } from "node:tls";

/** TRUST_DOMAIN is the SPIFFE trust domain of every identity the mesh's CA issues. */
export const TRUST_DOMAIN = "shopmesh.local";

/** MeshServiceName names a process that holds a workload identity: the four services and the gateway. */
export type MeshServiceName = "order" | "payment" | "inventory" | "notification" | "gateway";

/** MESH_SERVICES are the workload identities the CA issues on `npm run certs` / `npm start`. */
export const MESH_SERVICES: readonly MeshServiceName[] = ["order", "payment", "inventory", "notification", "gateway"];

/** OperatorRole is what an operator certificate (`npm run certs -- client <name> --role ...`) may do. */
export type OperatorRole = "reader" | "admin";

export const OPERATOR_ROLES: readonly OperatorRole[] = ["reader", "admin"];

/** serviceId is a workload's SPIFFE ID: `spiffe://shopmesh.local/service/order`. */
export function serviceId(name: MeshServiceName): string {
  return `spiffe://${TRUST_DOMAIN}/service/${name}`;
}

/**
 * KAFKA_BROKER_ID is the Kafka broker's SPIFFE ID (`npm run certs -- broker`): what a service's Kafka client
 * accepts on the TLS listener, rather than any certificate the CA signed. The broker is not a MeshServiceName: it
 * serves no gRPC and is never in the access policy.
 */
export const KAFKA_BROKER_ID = `spiffe://${TRUST_DOMAIN}/service/kafka`;

/** operatorId is an operator's SPIFFE ID; the role is part of the path so the policy can grant by role. */
export function operatorId(name: string, role: OperatorRole): string {
  return `spiffe://${TRUST_DOMAIN}/operator/${role}/${name}`;
}

/**
 * spiffeIdOf reads the SPIFFE ID from a peer certificate's URI SAN. Node renders the SANs as one string,
 * `URI:spiffe://..., DNS:localhost, IP Address:127.0.0.1`; a certificate with no URI SAN in our trust domain has
 * no identity (undefined), whatever else it says.
 */
export function spiffeIdOf(certificate: Pick<PeerCertificate, "subjectaltname"> | undefined): string | undefined {
  const sans = certificate?.subjectaltname;
  if (!sans) return undefined;
  for (const entry of sans.split(", ")) {
    if (entry.startsWith(`URI:spiffe://${TRUST_DOMAIN}/`)) return entry.slice("URI:".length);
  }
  return undefined;
}
