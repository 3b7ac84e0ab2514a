import nodemailer, { type NodemailerError } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { z } from 'zod';
import { BadInputError, InfraError, UsageError, errorMessage } from '../../errors.js';
import { SmtpConfigSchema } from '../../config/integrations.js';
import type { RenderedEmail } from './render.js';

export interface SentMail {
  /** Bare, like RenderedEmail.messageId: the same value, as the server took it. */
  messageId: string;
  accepted: string[];
  /** Recipients the server refused while it took the mail for the others; a resend would duplicate it for those. */
  rejected: string[];
}

export interface MailSender {
  /**
   * Resolves once the server took the mail for at least one recipient.
   * Throws MailRejectedError when the server refused it for good, and
   * InfraError for everything worth another attempt.
   */
  send(mail: RenderedEmail): Promise<SentMail>;
  close(): void;
}

/**
 * The server refused the mail itself (a 5xx to MAIL FROM, to every
 * recipient, or to the message): sending it again gets the same answer,
 * so it is bad input, not an outage to retry.
 */
export class MailRejectedError extends BadInputError {
  constructor(
    message: string,
    readonly responseCode: number | null,
    readonly rejected: string[],
    options?: { cause?: unknown },
  ) {
    super(message, 'check the from, list and author addresses; the same mail will be refused again', options);
    this.name = 'MailRejectedError';
  }
}

/** A sender over SMTP; one connection per mail, since replies come a few an hour. */
export function smtpSender(config: z.input<typeof SmtpConfigSchema>, env: NodeJS.ProcessEnv = process.env): MailSender {
  const parsed = SmtpConfigSchema.safeParse(config);
  if (!parsed.success)
    throw new UsageError(`invalid smtp config: ${z.prettifyError(parsed.error)}`, 'fix the smtp section of the config');
  const c = parsed.data;
  let pass = c.auth?.pass;
  if (c.auth?.passEnv) {
    pass = env[c.auth.passEnv];
    if (!pass)
      throw new UsageError(
        `smtp.auth.passEnv names ${c.auth.passEnv}, which is not set`,
        `export ${c.auth.passEnv} with the SMTP password`,
      );
  }
  const where = `${c.host}:${c.port}`;
  const transport = nodemailer.createTransport({
    host: c.host,
    port: c.port,
    secure: c.secure,
    requireTLS: c.requireTLS,
    auth: c.auth ? { user: c.auth.user, pass } : undefined,
    connectionTimeout: c.timeouts.connectMs,
    greetingTimeout: c.timeouts.greetingMs,
    socketTimeout: c.timeouts.socketMs,
  });

  return {
    async send(mail) {
      let info: SMTPTransport.SentMessageInfo;
      try {
        info = await transport.sendMail({
          from: mail.from,
          to: mail.to,
          cc: mail.cc,
          subject: mail.subject,
          // Ours, not nodemailer's random one: a resend must carry the same id.
          messageId: `<${mail.messageId}>`,
          inReplyTo: `<${mail.inReplyTo}>`,
          references: mail.references.map((r) => `<${r}>`),
          headers: mail.headers,
          text: mail.text,
          // ASCII bodies go as 7bit; anything else as quoted-printable, never base64, so archives stay greppable.
          textEncoding: 'quoted-printable',
          disableFileAccess: true,
          disableUrlAccess: true,
        });
      } catch (err) {
        throw classify(err as NodemailerError, where, mail.messageId);
      }
      return { messageId: info.messageId.replace(/^<|>$/g, ''), accepted: info.accepted, rejected: info.rejected };
    },
    close() {
      transport.close();
    },
  };
}

function classify(err: NodemailerError, where: string, messageId: string): Error {
  const what = `SMTP ${where} did not take <${messageId}>: ${errorMessage(err)}`;
  if (err.permanent && (err.code === 'EENVELOPE' || err.code === 'EMESSAGE')) {
    return new MailRejectedError(what, err.responseCode ?? null, err.rejected ?? [], { cause: err });
  }
  const retry = 'the reply is sent again on the next attempt';
  switch (err.code) {
    case 'EAUTH':
    case 'ENOAUTH':
      return new InfraError(
        what,
        `check smtp.auth.user and the password (smtp.auth.pass, or the variable smtp.auth.passEnv names); ${retry}`,
        { cause: err },
      );
    case 'ETLS':
      return new InfraError(
        what,
        `check smtp.secure (implicit TLS, usually port 465) and smtp.requireTLS (STARTTLS, usually 587); ${retry}`,
        { cause: err },
      );
    default:
      return new InfraError(what, `check smtp.host/port (${where}) and that the server is up; ${retry}`, {
        cause: err,
      });
  }
}
