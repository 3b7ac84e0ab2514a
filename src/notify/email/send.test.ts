import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { simpleParser, type HeaderValue } from 'mailparser';
import { InfraError, KsciError, UsageError } from '../../errors.js';
import { EMAIL_WIDTH, renderEmail, type EmailInput, type RenderedEmail } from './render.js';
import { startSmtpServer, type TestSmtpServer } from '../../testing/smtp.js';
import { MailRejectedError, smtpSender, type MailSender } from './send.js';

const RUN_ID = '0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70';
const COVER = '20250203120000.42-1-dev@example.org';
const LIST = 'netdev@vger.kernel.org';

/** A reply as the report stage renders it: the lines are long enough to need breaking. */
function reply(extra: Partial<EmailInput> = {}): RenderedEmail {
  return renderEmail({
    series: {
      title: 'net: fix the frobnicator',
      version: 2,
      isRfc: false,
      total: 2,
      author: { name: 'Dev Eloper', address: 'dev@example.org' },
      messageId: COVER,
      references: ['20250120080000.1-1-dev@example.org'],
      subject: '[PATCH net v2 0/2] net: fix the frobnicator',
    },
    runId: RUN_ID,
    verdict: 'fail',
    headline: 'FAIL: test: net: 1/2 passed; new failures: udpgso.sh (fail, fail)',
    report: [
      'ksci FAIL: test: net: 1/2 passed; new failures: udpgso.sh (fail, fail)',
      '',
      'Stages:',
      '  apply     passed    2 patches applied',
      '  test      failed    net: 1/2 passed; new failures: udpgso.sh (fail, fail)',
      '',
      'test:',
      '    NEW FAILURE udpgso.sh: fail, then fail; passed on the base',
      `      | # udpgso.c:412: recv: expected 1472 bytes, got 1400: ${'segs=2 '.repeat(12)}`,
      '',
    ].join('\n'),
    tree: { name: 'net', reason: 'subject tag net' },
    baseCommit: '9f3c1e2a7b5d4c6e8f0a1b2c3d4e5f60718293a4',
    configs: ['x86_64-defconfig'],
    resultsUrl: `https://ci.example.org/runs/${RUN_ID}`,
    reproducer: null,
    policy: { mode: 'list', listAddress: LIST, from: 'ksci <ksci@ci.example.org>' },
    ...extra,
  });
}

function header(v: HeaderValue | undefined): { value: string; params: Record<string, string> } {
  return v as { value: string; params: Record<string, string> };
}

/** The body part of a raw message as it went over the wire. */
function wireBody(raw: Buffer): string {
  const text = raw.toString('latin1');
  return text.slice(text.indexOf('\r\n\r\n') + 4);
}

describe('smtpSender against a real SMTP server', () => {
  let server: TestSmtpServer;
  let sender: MailSender;
  before(async () => {
    server = await startSmtpServer({ rejectRecipients: ['gone@example.org'] });
    sender = smtpSender({ host: server.host, port: server.port });
  });
  after(async () => {
    sender?.close();
    await server?.stop();
  });

  it('delivers our Message-ID, threading headers and a plain-text body of 72 columns, 7bit on the wire', async () => {
    const mail = reply();
    const sent = await sender.send(mail);
    assert.deepEqual(sent, { messageId: mail.messageId, accepted: [LIST, 'dev@example.org'], rejected: [] });
    const got = server.received.at(-1)!;
    assert.equal(got.from, 'ksci@ci.example.org');
    assert.deepEqual(got.to, [LIST, 'dev@example.org']);

    const parsed = await simpleParser(got.raw);
    assert.equal(parsed.messageId, `<ksci.${RUN_ID}.fail@ci.example.org>`);
    assert.equal(parsed.inReplyTo, `<${COVER}>`);
    assert.deepEqual(parsed.references, ['<20250120080000.1-1-dev@example.org>', `<${COVER}>`]);
    assert.equal(parsed.subject, 'Re: [PATCH net v2 0/2] net: fix the frobnicator');
    assert.equal(parsed.html, false, 'no HTML part');
    assert.deepEqual(
      header(parsed.headers.get('content-type')),
      { value: 'text/plain', params: { charset: 'utf-8' } },
      'one text/plain part, not format=flowed',
    );
    assert.equal(parsed.headers.get('content-transfer-encoding'), '7bit');
    assert.equal(parsed.headers.get('auto-submitted'), 'auto-generated');
    assert.equal(parsed.headers.get('x-ksci-run'), RUN_ID);
    assert.equal(parsed.headers.get('x-ksci-verdict'), 'fail');
    assert.equal(parsed.text, mail.text);
    assert.match(
      parsed.text ?? '',
      /\n {6}\| # udpgso\.c:412: recv: expected 1472 bytes, got 1400: segs=2 \\\n {6}\| segs=2 /,
    );
    // 7bit: the lines on the wire are the lines of the mail.
    const lines = wireBody(got.raw).split('\r\n');
    assert.ok(lines.length > 20);
    for (const l of lines) assert.ok(l.length <= EMAIL_WIDTH, JSON.stringify(l));
  });

  it('a body that is not ASCII goes quoted-printable; decoded, its lines are still 72 columns', async () => {
    const mail = reply({
      series: {
        title: 'net: fix',
        version: 1,
        isRfc: false,
        total: 1,
        author: { name: 'Jürgen Müller', address: 'jm@example.org' },
        messageId: COVER,
        references: [],
        subject: '[PATCH] net: fix',
      },
      tree: { name: 'net', reason: 'the maintainer’s default tree, ünder “quotes” and a Ωmega'.repeat(2) },
    });
    await sender.send(mail);
    const got = server.received.at(-1)!;
    const parsed = await simpleParser(got.raw);
    assert.equal(parsed.headers.get('content-transfer-encoding'), 'quoted-printable');
    assert.equal(parsed.text, mail.text);
    assert.match(parsed.text ?? '', /^Hi Jürgen Müller,\n/);
    for (const l of (parsed.text ?? '').split('\n')) assert.ok([...l].length <= EMAIL_WIDTH, l);
    for (const l of wireBody(got.raw).split('\r\n'))
      assert.ok(l.length <= 76, `quoted-printable keeps its own limit: ${l}`);
    assert.deepEqual(
      parsed.cc && !Array.isArray(parsed.cc) ? parsed.cc.value : null,
      [{ address: 'jm@example.org', name: 'Jürgen Müller' }],
      'the name is encoded and comes back',
    );
  });

  it('a 550 on the only recipient is permanent: MailRejectedError, a bad-input error, nothing delivered', async () => {
    const before = server.received.length;
    const mail = reply({
      series: {
        title: 't',
        version: 1,
        isRfc: false,
        total: 1,
        author: { name: '', address: 'gone@example.org' },
        messageId: COVER,
        references: [],
        subject: '[PATCH] t',
      },
      policy: { mode: 'author', listAddress: LIST, from: 'ksci@ci.example.org' },
    });
    await assert.rejects(sender.send(mail), (err: unknown) => {
      assert.ok(err instanceof MailRejectedError, String(err));
      assert.equal(err.kind, 'bad-input', 'the queue does not retry it');
      assert.equal(err.responseCode, 550);
      assert.deepEqual(err.rejected, ['gone@example.org']);
      assert.match(
        err.message,
        new RegExp(
          `^SMTP 127\\.0\\.0\\.1:${server.port} did not take <ksci\\.${RUN_ID}\\.fail@ci\\.example\\.org>: .*550`,
        ),
      );
      return true;
    });
    assert.equal(server.received.length, before);
  });

  it('a 550 on one of several recipients: the others get it, the refused one is reported', async () => {
    const mail = reply({
      series: {
        title: 't',
        version: 1,
        isRfc: false,
        total: 1,
        author: { name: 'Gone', address: 'gone@example.org' },
        messageId: COVER,
        references: [],
        subject: '[PATCH] t',
      },
    });
    const sent = await sender.send(mail);
    assert.deepEqual(sent.accepted, [LIST]);
    assert.deepEqual(sent.rejected, ['gone@example.org']);
    assert.deepEqual(server.received.at(-1)!.to, [LIST]);
  });
});

describe('smtpSender failures worth a retry, and config', () => {
  it('server down: InfraError that names host and port and says the reply comes again', async () => {
    const gone = await startSmtpServer();
    await gone.stop();
    const sender = smtpSender({ host: gone.host, port: gone.port, timeouts: { connectMs: 2000 } });
    try {
      await assert.rejects(sender.send(reply()), (err: unknown) => {
        assert.ok(err instanceof InfraError, String(err));
        assert.equal(err.kind, 'infra');
        assert.match(err.message, new RegExp(`^SMTP 127\\.0\\.0\\.1:${gone.port} did not take <ksci\\.`));
        assert.equal(
          err.hint,
          `check smtp.host/port (127.0.0.1:${gone.port}) and that the server is up; the reply is sent again on the next attempt`,
        );
        return true;
      });
    } finally {
      sender.close();
    }
  });

  it('requireTLS against a server without STARTTLS refuses to send in plain text', async () => {
    const server = await startSmtpServer();
    const sender = smtpSender({ host: server.host, port: server.port, requireTLS: true });
    try {
      await assert.rejects(
        sender.send(reply()),
        (err: unknown) => err instanceof InfraError && /smtp\.secure .* smtp\.requireTLS/.test(err.hint ?? ''),
      );
      assert.equal(server.received.length, 0);
    } finally {
      sender.close();
      await server.stop();
    }
  });

  it('the password from the variable passEnv names; a wrong one is an InfraError about auth', async () => {
    const server = await startSmtpServer({ auth: { user: 'ksci', pass: 's3cret' } });
    const good = smtpSender(
      { host: server.host, port: server.port, auth: { user: 'ksci', passEnv: 'KSCI_SMTP_PASS' } },
      { KSCI_SMTP_PASS: 's3cret' },
    );
    const bad = smtpSender({ host: server.host, port: server.port, auth: { user: 'ksci', pass: 'wrong' } });
    try {
      await good.send(reply());
      assert.equal(server.received.length, 1);
      await assert.rejects(
        bad.send(reply()),
        (err: unknown) => err instanceof InfraError && /^check smtp\.auth\.user and the password/.test(err.hint ?? ''),
      );
    } finally {
      good.close();
      bad.close();
      await server.stop();
    }
  });

  it('a bad config is a UsageError before anything connects', () => {
    const usage = (f: () => unknown, re: RegExp) =>
      assert.throws(
        f,
        (e: unknown) => e instanceof UsageError && e instanceof KsciError && re.test(`${e.message} ${e.hint}`),
      );
    usage(
      () => smtpSender({ host: 'smtp.example.org', auth: { user: 'ksci', pass: 'x', passEnv: 'P' } }),
      /exactly one of auth\.pass and auth\.passEnv/,
    );
    usage(
      () => smtpSender({ host: 'smtp.example.org', auth: { user: 'ksci', passEnv: 'KSCI_SMTP_PASS' } }, {}),
      /KSCI_SMTP_PASS, which is not set/,
    );
    usage(() => smtpSender({ host: '', port: 70000 }), /invalid smtp config/);
    usage(() => smtpSender({ host: 'smtp.example.org', tls: true } as never), /invalid smtp config/);
  });
});
