// The gRPC adapter: protobuf-es descriptors on grpc-js, for every service and the gateway.
export { addService, type AddServiceOptions } from "./add-service.js";
export { createClient, type CallOptions, type ClientMethod, type ClientOptions, type ServiceClient } from "./client.js";
export { checkHealth, createHealthClient, type HealthClient } from "./health-client.js";
export { createHandlerContext, type HandlerContext, type RequestMetadata, type ServerCall } from "./handler-context.js";
export { createReflectionService, fileDescriptorSet, reflectionPackageDefinition } from "./reflection.js";
export type { RpcLogger } from "./rpc-logger.js";
export {
  bindServer,
  createGrpcServer,
  implement,
  shutdownServer,
  type CreateGrpcServerOptions,
  type GrpcServer,
  type ServerHealth,
  type ServiceRegistration,
  type ShutdownOptions,
} from "./server.js";
export { createServiceDefinition, DEFAULT_MAX_REQUEST_BYTES, methodPath, type DefinitionOptions } from "./service-definition.js";
export type {
  BidiStreamingImpl,
  ClientStreamingImpl,
  MethodImpl,
  ServerStreamingImpl,
  ServiceImpl,
  UnaryImpl,
} from "./service-impl.js";
