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
