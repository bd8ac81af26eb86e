import "vitest";

declare module "vitest" {
  /** ProvidedContext: values test/global-setup.ts hands to every test file through `inject(...)`. */
  export interface ProvidedContext {
    /** kafkaBrokers is the `KAFKA_BROKERS` value of the broker the suite runs against, e.g. `127.0.0.1:9092`. */
    kafkaBrokers: string;
  }
}
