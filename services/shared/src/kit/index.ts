// The service kit: what every service has, built one way (docs/architecture.md, "The service kit").
export type {
  CommandHandling,
  Kit,
  KitOverrides,
  RunningService,
  ServiceDefinition,
  ServiceTimer,
  ServiceWiring,
} from "./service-definition.js";
export { startService } from "./start-service.js";
