import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";

/** ServiceRegistration pairs a generated service descriptor with its Connect implementation. */
export interface ServiceRegistration<S extends DescService = DescService> {
  service: S;
  impl: Partial<ServiceImpl<S>>;
}

/**
 * implement pairs a service descriptor with its implementation, type-checking the impl against that descriptor: in a
 * bare `{ service, impl }` literal inside the `services` array TypeScript would check it against `DescService` only.
 */
export function implement<S extends DescService>(desc: S, impl: Partial<ServiceImpl<S>>): ServiceRegistration {
  return { service: desc, impl } as unknown as ServiceRegistration;
}
