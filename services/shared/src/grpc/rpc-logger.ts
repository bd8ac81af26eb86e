/**
 * RpcLogger is the slice of a pino logger the gRPC adapter uses, so a pino instance (or a test spy) fits as is:
 * each method takes a fields object and a message.
 */
export interface RpcLogger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  /** isLevelEnabled, when present (pino has it), lets the adapter skip building lines that would be dropped. */
  isLevelEnabled?(level: string): boolean;
}

/**
 * RpcObserver hears of every finished RPC a server answered through the adapter: its method
 * (`/package.Service/Method`), its gRPC status name and its duration in seconds (the kit feeds its metrics with it).
 */
export type RpcObserver = (method: string, code: string, seconds: number) => void;
