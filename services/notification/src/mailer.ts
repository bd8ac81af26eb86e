import nodemailer from "nodemailer";

/** OutgoingEmail is one plain-text email. */
export interface OutgoingEmail {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  /** messageId is the Message-ID header to send under: derived from the command, so a resend keeps it. */
  readonly messageId: string;
}

/** Mailer sends an email and resolves with the Message-ID the SMTP server accepted, or rejects (server down, refused). */
export interface Mailer {
  send(email: OutgoingEmail): Promise<string>;
  close(): void;
}

/**
 * smtpMailer sends through nodemailer's SMTP transport: the SMTP conversation is the library's, nothing here speaks
 * the protocol. A pooled connection is not used: a few emails a second need none, and a fresh connection per email
 * makes "SMTP down" fail that email (and its command retry) at once instead of on a stale socket.
 */
export function smtpMailer(options: { url: string; from: string; timeoutMs: number }): Mailer {
  const url = new URL(options.url);
  const transport = nodemailer.createTransport({
    host: url.hostname,
    port: Number(url.port || (url.protocol === "smtps:" ? 465 : 25)),
    secure: url.protocol === "smtps:",
    ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
  });
  return {
    async send(email) {
      const info = await transport.sendMail({
        from: options.from,
        to: email.to,
        subject: email.subject,
        text: email.text,
        messageId: email.messageId,
      });
      return info.messageId;
    },
    close: () => transport.close(),
  };
}
