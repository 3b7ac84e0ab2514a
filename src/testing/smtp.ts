import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** The envelope, as the client gave it in MAIL FROM and RCPT TO (only the accepted ones). */
  from: string;
  to: string[];
  /** The message exactly as it came over DATA, dot-unstuffed. */
  raw: Buffer;
}

export interface TestSmtpServer {
  host: string;
  port: number;
  received: ReceivedMail[];
  stop(): Promise<void>;
}

/**
 * A real SMTP server on 127.0.0.1 and a free port, for tests of what goes
 * over the wire. Plain text only (no STARTTLS), AUTH only when `auth` is
 * given. A mail is recorded before the server answers 250, so it is in
 * `received` by the time the client's send resolves.
 */
export async function startSmtpServer(
  opts: { rejectRecipients?: string[]; auth?: { user: string; pass: string } } = {},
): Promise<TestSmtpServer> {
  const refused = new Set((opts.rejectRecipients ?? []).map((a) => a.toLowerCase()));
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    logger: false,
    disabledCommands: opts.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    onAuth(auth, _session, cb) {
      if (auth.username === opts.auth?.user && auth.password === opts.auth?.pass) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('5.7.8 authentication failed'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      if (refused.has(address.address.toLowerCase()))
        cb(Object.assign(new Error(`5.1.1 <${address.address}>: mailbox unavailable`), { responseCode: 550 }));
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', cb);
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    received,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
