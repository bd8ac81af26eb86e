import "vitest";

declare module "vitest" {
  /** ProvidedContext: values test/global-setup.ts hands to every test file through `inject(...)`. */
  export interface ProvidedContext {
    /** kafkaBrokers is the `KAFKA_BROKERS` value of the broker the suite runs against, e.g. `127.0.0.1:9092`. */
    kafkaBrokers: string;
    /** rabbitmqUrl is the command bus's broker (RABBITMQ_URL), e.g. `amqp://guest:guest@127.0.0.1:19672`. */
    rabbitmqUrl: string;
    /** smtpUrl is the SMTP sink the notification service sends to (SMTP_URL). */
    smtpUrl: string;
    /** mailpitUrl is that sink's Mailpit web UI and API base; empty when SMTP_URL was given and its UI is unknown. */
    mailpitUrl: string;
  }
}
