// The gRPC adapter: Connect service implementations (ServiceImpl, HandlerContext, ConnectError from
// @connectrpc/connect) served on grpc-js from protobuf-es descriptors, for every service and the gateway.
export { addService, type AddServiceOptions } from "./add-service.js";
export { createClient, type CallOptions, type ClientMethod, type ClientOptions, type ServiceClient } from "./client.js";
export { checkHealth, createHealthClient, type HealthClient } from "./health-client.js";
export { GrpcHandlerContext, peerKey, type ServerCall } from "./handler-context.js";
export { DescriptorIndex, REFLECTION_SERVICES, reflectionServices } from "./reflection.js";
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
export { createServiceDefinition, DEFAULT_MAX_REQUEST_BYTES, methodPath, type DefinitionOptions } from "./service-definition.js";
