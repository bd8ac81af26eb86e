// The gRPC adapter: Connect service implementations (ServiceImpl, HandlerContext, ConnectError from
// @connectrpc/connect) served on grpc-js from protobuf-es descriptors, for every service and the gateway.
export { createClient, type CallOptions, type ClientMethod, type ClientOptions, type ServiceClient } from "./client.js";
export { peerKey } from "./handler-context.js";
export { implement, type ServiceRegistration } from "./registration.js";
export type { RpcLogger } from "./rpc-logger.js";
export {
  bindServer,
  createGrpcServer,
  shutdownServer,
  type CreateGrpcServerOptions,
  type GrpcServer,
  type ServerHealth,
  type ShutdownOptions,
} from "./server.js";
