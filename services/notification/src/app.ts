import { startService, type KitOverrides } from "#shared/kit/index.js";
import type { Stoppable } from "#shared/runtime.js";
import type { SqliteDatabase } from "#shared/store/database.js";
import type { NotificationConfig } from "./config.js";
import { type Mailer, smtpMailer } from "./mailer.js";
import { EMAIL_QUEUE, Notifications } from "./notifications.js";
import { notificationServices } from "./server.js";
import { NotificationStore, notificationSchema } from "./store/notification-store.js";

/** StartDeps lets tests swap what the kit builds from the config, and the mailer. */
export interface StartDeps extends KitOverrides {
  readonly mailer?: Mailer | undefined;
}

/** NotificationApp is a running notification service. */
export interface NotificationApp extends Stoppable {
  readonly port: number;
  readonly address: string;
  readonly db: SqliteDatabase;
  readonly notifications: Notifications;
  /** flushSpans exports the spans ended so far (tests with an in-memory exporter). */
  flushSpans(): Promise<void>;
}

/**
 * startNotification starts the notification service from the kit: it consumes SendOrderEmail commands from the
 * `notification.email` queue on COMMAND_BUS, sends each email over SMTP (nodemailer) and records it, and serves
 * NotificationService to read what was sent. It reads no Kafka topic and publishes none.
 */
export async function startNotification(config: Readonly<NotificationConfig>, deps: StartDeps = {}): Promise<NotificationApp> {
  const service = await startService(
    {
      name: "notification",
      schema: notificationSchema,
      commandBus: config.commandBus,
      wire: ({ db, logger }) => {
        const mailer = deps.mailer ?? smtpMailer({ url: config.smtpUrl, from: config.mailFrom, timeoutMs: config.smtpTimeoutMs });
        const notifications = new Notifications({
          store: new NotificationStore(db),
          mailer,
          customerMailDomain: config.customerMailDomain,
          logger,
        });
        return {
          serves: notificationServices(notifications),
          handlesCommands: [{ queue: EMAIL_QUEUE, handle: (command) => notifications.handleSendOrderEmail(command) }],
          close: () => mailer.close(),
          parts: { notifications },
        };
      },
    },
    config,
    deps,
  );
  return { ...service, ...service.parts };
}
