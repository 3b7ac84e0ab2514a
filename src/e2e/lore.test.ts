import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { simpleParser, type ParsedMail } from 'mailparser';
import YAML from 'yaml';
import { splitMbox } from '../mail/mbox.js';
import { git, kernelishRepoWithSeries } from '../testing/git.js';
import { mboxrd } from '../testing/lore-fixtures.js';
import { repoRoot } from '../testing/paths.js';
import { publicInboxAvailable, startPublicInbox, type PublicInbox } from '../testing/public-inbox.js';
import { startSmtpServer, type TestSmtpServer } from '../testing/smtp.js';

const required = process.env['KSCI_REQUIRE_E2E'] === '1' || Boolean(process.env['CI']);
const skip =
  required || publicInboxAvailable()
    ? false
    : 'public-inbox is not installed (apt-get install public-inbox libsearch-xapian-perl)';

/**
 * The mail round trip with the real ksci binary: `ksci serve` polls a real
 * public-inbox on its BullMQ schedule, applies the series it finds with git,
 * and answers on the list through a real SMTP server. The tree is a toy
 * (the build stage is off): what is tested is ingestion and the reply.
 */
describe('lore to the list and back: ksci serve, public-inbox, SMTP', { skip, timeout: 300_000 }, () => {
  let dir: string;
  let inbox: PublicInbox;
  let smtp: TestSmtpServer;
  let serve: ChildProcess | null = null;
  let serveLog = '';
  let config: string;
  let coverId: string;

  const ksci = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin/ksci'), '--config', config, ...args], {
      encoding: 'utf8',
      env: { ...process.env, KSCI_LOG_LEVEL: 'warn' },
      timeout: 120_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ksci-e2e-lore-'));
    const upstream = join(dir, 'upstream');
    kernelishRepoWithSeries(upstream);
    // The series as git send-email would post it: threaded under a real cover letter.
    const sent = git(
      upstream,
      'format-patch',
      '--stdout',
      '--thread=shallow',
      '--cover-letter',
      '--subject-prefix=PATCH net-next',
      'master..series',
    )
      .replace('*** SUBJECT HERE ***', 'net: skbuff: tidy skb_alloc')
      .replace('*** BLURB HERE ***', 'Two small changes to skb_alloc.');
    const messages = splitMbox(Buffer.from(sent), { maxMessageBytes: 1 << 20 }).map((m) =>
      m.toString('latin1').replace(/^(Subject: )/m, 'To: netdev@vger.kernel.org\n$1'),
    );
    coverId = /^Message-I[dD]: <([^>]+)>/m.exec(messages[0]!)![1]!;

    inbox = await startPublicInbox({
      dir: join(dir, 'pi'),
      lists: [{ name: 'netdev', address: 'netdev@vger.kernel.org' }],
    });
    await inbox.deliverMbox('netdev', mboxrd(messages));
    smtp = await startSmtpServer();
    config = join(dir, 'ksci.yaml');
    writeFileSync(
      config,
      YAML.stringify({
        dataDir: join(dir, 'data'),
        trees: [{ name: 'net-next', source: { kind: 'git', url: upstream }, tags: ['net-next'] }],
        defaultTree: 'net-next',
        stages: ['apply'],
        lore: {
          pollSeconds: 10,
          lists: [
            {
              name: 'netdev',
              url: inbox.listUrl('netdev'),
              address: 'netdev@vger.kernel.org',
              reply: { mode: 'list' },
            },
          ],
        },
        email: { from: 'ksci <ksci@ci.example.org>', smtp: { host: smtp.host, port: smtp.port } },
        // Any free port; the reply links to the dashboard's run page.
        web: { port: 0, baseUrl: 'https://ksci.example.org' },
      }),
    );
  });

  after(async () => {
    if (serve && serve.exitCode === null) serve.kill('SIGKILL');
    await smtp?.stop();
    await inbox?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serve polls the list, tests the series and replies once, threaded, in plain text', async () => {
    serve = spawn(process.execPath, [join(repoRoot, 'bin/ksci'), '--config', config, 'serve', '--with-workers'], {
      env: { ...process.env, KSCI_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    serve.stderr!.on('data', (d: Buffer) => (serveLog += d.toString()));
    const deadline = Date.now() + 180_000;
    while (smtp.received.length === 0) {
      if (Date.now() > deadline || serve.exitCode !== null)
        assert.fail(`no reply arrived; ksci serve said:\n${serveLog.slice(-4000)}`);
      await sleep(200);
    }
    const wire = smtp.received[0]!;
    assert.deepEqual([...wire.to].sort(), ['jane@example.org', 'netdev@vger.kernel.org']);
    const mail: ParsedMail = await simpleParser(wire.raw);
    assert.equal(mail.subject, 'Re: [PATCH net-next 0/2] net: skbuff: tidy skb_alloc');
    assert.equal(mail.inReplyTo, `<${coverId}>`);
    assert.equal(mail.html, false);
    const text = mail.text ?? '';
    assert.match(text, /PASS/);
    assert.match(text, /apply +passed +applied 2 patch\(es\)/);
    assert.match(text, /tree: +net-next \(subject tag net-next\)/);
    for (const line of text.split('\n')) assert.ok(line.length <= 72, `over 72 columns: ${line}`);

    // The reply links to the dashboard's run page, and the running coordinator serves that page.
    const runId = String(mail.headers.get('x-ksci-run'));
    assert.match(text, new RegExp(`https://ksci\\.example\\.org/runs/${runId}`));
    const listening = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*dashboard listening/.exec(serveLog);
    assert.ok(listening, `no dashboard URL in the log:\n${serveLog.slice(-2000)}`);
    const page = await fetch(`${listening[1]}/runs/${runId}`);
    assert.equal(page.status, 200);
    const body = await page.text();
    assert.match(body, /net: skbuff: tidy skb_alloc/);
    assert.match(body, /id="verdict"[^>]*>.*pass/s);

    // A poll on demand, through the running coordinator: nothing new, nothing sent again.
    const poll = ksci('lore', 'poll', 'netdev');
    assert.equal(poll.code, 0, poll.stderr);
    assert.match(poll.stdout, /^netdev: 0 new message\(s\)/);
    await sleep(12_000); // one more scheduled poll
    assert.equal(smtp.received.length, 1, 'one reply per result');

    serve.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => serve!.once('exit', resolve));
    assert.equal(code, 0, serveLog.slice(-2000));
  });

  it('afterwards: lore status tells what became of each message, and the preview is the mail that was sent', async () => {
    const status = ksci('lore', 'status');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^netdev \(http:\/\/127\.0\.0\.1:\d+\/netdev\/\): last poll 20/m);
    assert.match(status.stdout, /submitted +\[PATCH net-next 0\/2\] net: skbuff: tidy skb_alloc/);
    const sent = await simpleParser(smtp.received[0]!.raw);
    const runId = String(sent.headers.get('x-ksci-run'));
    const preview = ksci('report', '--email', runId);
    assert.equal(preview.code, 0, preview.stderr);
    assert.match(preview.stdout, new RegExp(`^Message-ID: ${sent.messageId!.replace(/[.]/g, '\\.')}$`, 'm'));
    assert.equal(preview.stdout.slice(preview.stdout.indexOf('\n\n') + 2).trimEnd(), (sent.text ?? '').trimEnd());
  });
});
