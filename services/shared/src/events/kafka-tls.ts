import type { ConnectionOptions } from "node:tls";
import type { MeshTransport } from "../security/mesh-transport.js";
import { KAFKA_BROKER_ID } from "../security/identity.js";

/**
 * kafkaSslOf is kafkajs's `ssl` option under KAFKA_TLS=1 (`enabled`), for the broker's TLS listener
 * (scripts/kafka.sh, KAFKA_TLS_PORT): the process presents the certificate its gRPC side uses, and accepts the broker
 * only when it presents {@link KAFKA_BROKER_ID}, not any certificate the CA signed. Undefined (plaintext Kafka) when
 * not enabled, or under MESH_INSECURE=1, where the process has no certificate.
 *
 * The options come from the process's one MeshTransport, so one watcher follows the files for both sides: after a
 * rotation, new Kafka connections present the new pair. Connections already open keep theirs; TLS checks a
 * certificate at the handshake only.
 */
export function kafkaSslOf(transport: Pick<MeshTransport, "tlsOptions">, enabled: boolean): ConnectionOptions | undefined {
  return enabled ? transport.tlsOptions(KAFKA_BROKER_ID) : undefined;
}
