import { NotificationService } from "#gen/shop/notification/v1/notification_service_pb.js";
import { createGrpcServer, implement, type GrpcServer, type ServiceRegistration } from "#shared/grpc/server.js";
import type { Logger } from "#shared/logger.js";
import { accessControl } from "#shared/security/access-control.js";
import { createNotificationService } from "./notification-service.js";
import type { Notifications } from "./notifications.js";

/** notificationServices are the gRPC services notification serves; the kit adds OpsService, health and reflection. */
export function notificationServices(notifications: Notifications): ServiceRegistration[] {
  return [implement(NotificationService, createNotificationService(notifications))];
}

/**
 * createServer builds a notification gRPC server without the kit, for in-process tests of the RPCs: the service,
 * health (NOT_SERVING, as nothing consumes commands here) and reflection, not listening, with no access policy.
 */
export function createServer(deps: { notifications: Notifications; logger?: Logger }): GrpcServer {
  const grpc = createGrpcServer({
    services: notificationServices(deps.notifications),
    access: accessControl(undefined),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  grpc.health.setAll("NOT_SERVING");
  return grpc;
}
