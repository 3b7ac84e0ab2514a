import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { InfraError } from '../../errors.js';
import { silentLogger } from '../../log.js';
import { reportStage } from '../../stages/report/stage.js';
import { fakeSeries, startPipeline, type Pipeline } from '../../testing/harness.js';
import { startSmtpServer, type TestSmtpServer } from '../../testing/smtp.js';
import { scriptedStage } from '../../testing/stages.js';
import { authorAllowed, EmailReporter, formatMail, previewReply } from './reply.js';
import { smtpSender } from './send.js';

const LIST_URL = 'https://lore.kernel.org/bpf/';

describe('authorAllowed', () => {
  it('an empty allowlist lets everyone in; otherwise an address or a *@domain, without case', () => {
    assert.equal(authorAllowed([], 'x@y.org'), true);
    assert.equal(authorAllowed(['*@kernel.org'], 'Maint@Kernel.org'), true);
    assert.equal(authorAllowed(['*@kernel.org'], 'dev@notkernel.org'), false);
    assert.equal(authorAllowed(['dev@example.org'], 'dev@example.org'), true);
    assert.equal(authorAllowed(['dev@example.org'], 'other@example.org'), false);
  });
});

describe('replies on the list, through a real SMTP server', () => {
  let p: Pipeline;
  let smtp: TestSmtpServer;
  let replies: EmailReporter;
  // The stage's verdict per series title, changed by the tests to make a verdict change.
  const verdicts = new Map<string, 'passed' | 'failed'>();

  before(async () => {
    smtp = await startSmtpServer({ rejectRecipients: ['bounce@example.org'] });
    const check = scriptedStage('apply', async (ctx) => {
      const status = verdicts.get(ctx.run.series.title) ?? 'passed';
      return {
        status,
        summary:
          status === 'passed' ? 'applied 1 patch(es) on 1234567890ab' : 'patch 1 "x" does not apply on 1234567890ab',
        data: {
          status: status === 'passed' ? 'applied' : 'conflict',
          baseCommit: '1234567890abcdef1234567890abcdef12345678',
        },
      };
    });
    p = await startPipeline([check, reportStage([])], {
      config: {
        lore: {
          lists: [
            {
              name: 'bpf',
              url: LIST_URL,
              address: 'bpf@vger.kernel.org',
              reply: { mode: 'list', allow: ['*@example.org'], cc: ['ci-watch@example.org'] },
            },
          ],
        },
        email: { from: 'ksci <ksci@ci.example.org>', smtp: { host: smtp.host, port: smtp.port } },
        resultsUrl: 'https://ci.example.org/runs/{run}',
      },
    });
    replies = new EmailReporter({
      config: p.config,
      results: p.services.store!,
      email: p.services.email!,
      sender: smtpSender(p.config.email.smtp!),
      connection: p.services.redis.connection,
      log: silentLogger,
    });
  });
  after(async () => {
    await replies?.close();
    await p?.close();
    await smtp?.stop();
  });

  const lore = (mid: string) => ({ kind: 'lore' as const, ref: `${LIST_URL}${mid}/` });

  it('a finished run of a list series is answered once, threaded on the cover, plain text', async () => {
    const series = fakeSeries('bpf: reply once');
    const sub = await p.coordinator.submit(series, { source: lore(series.messageId), requestedBy: 'lore:bpf' });
    await p.coordinator.waitForRun(sub.runId, 20_000);
    const before = smtp.received.length;
    assert.deepEqual(await replies.reply(sub.runId), {
      status: 'sent',
      detail: 'to bpf@vger.kernel.org, Test Developer <dev@example.org>, ci-watch@example.org',
    });
    assert.equal(smtp.received.length, before + 1);
    const wire = smtp.received.at(-1)!;
    assert.deepEqual([...wire.to].sort(), ['bpf@vger.kernel.org', 'ci-watch@example.org', 'dev@example.org']);
    const mail = await simpleParser(wire.raw);
    assert.equal(mail.subject, 'Re: [PATCH net-next] bpf: reply once');
    assert.equal(mail.inReplyTo, `<${series.messageId}>`);
    assert.equal(mail.messageId, `<ksci.${sub.runId}.pass@ci.example.org>`);
    assert.equal(mail.html, false);
    assert.equal(mail.headers.get('auto-submitted'), 'auto-generated');
    for (const line of (mail.text ?? '').split('\n')) assert.ok(line.length <= 72, `line over 72 columns: ${line}`);
    assert.match(mail.text ?? '', /base: +1234567890abcdef1234567890abcdef12345678/);
    assert.match(mail.text ?? '', new RegExp(`https://ci\\.example\\.org/runs/${sub.runId}`));
    // Long lines are broken with a trailing backslash and the indent repeated: joined, the command is whole.
    const joined = (mail.text ?? '').replace(/\\\n {2}/g, '');
    assert.match(
      joined,
      new RegExp(`^  ksci run ${LIST_URL.replace(/[./]/g, '\\$&')}\\S+ --tree test-tree -k vm -s smoke$`, 'm'),
      'a one-command reproducer',
    );

    // What `ksci report --email` shows is what went out.
    const preview = await previewReply(p.config, p.services.store!, sub.runId);
    assert.equal(preview.skip, null);
    assert.equal(preview.mail.text.trimEnd(), (mail.text ?? '').trimEnd());
    assert.match(formatMail(preview.mail), new RegExp(`^In-Reply-To: <${series.messageId}>$`, 'm'));

    // The same job again (a retry, a restart) sends nothing.
    assert.equal((await replies.reply(sub.runId)).status, 'done');
    assert.equal(smtp.received.length, before + 1);
  });

  it('a rerun of the same version: the same verdict sends nothing, a changed verdict sends again', async () => {
    const series = fakeSeries('bpf: verdict changes');
    const first = await p.coordinator.submit(series, { source: lore(series.messageId), requestedBy: 'lore:bpf' });
    await p.coordinator.waitForRun(first.runId, 20_000);
    assert.equal((await replies.reply(first.runId)).status, 'sent');
    const n = smtp.received.length;

    const again = await p.coordinator.submit(series, {
      source: lore(series.messageId),
      force: true,
      requestedBy: 'lore:bpf',
    });
    await p.coordinator.waitForRun(again.runId, 20_000);
    assert.deepEqual(await replies.reply(again.runId), {
      status: 'unchanged',
      detail: 'the last reply on this series version said the same',
    });
    assert.equal(smtp.received.length, n, 'the same result is never mailed twice');

    verdicts.set('bpf: verdict changes', 'failed');
    const third = await p.coordinator.submit(series, {
      source: lore(series.messageId),
      force: true,
      requestedBy: 'lore:bpf',
    });
    assert.equal((await p.coordinator.waitForRun(third.runId, 20_000)).verdict, 'fail');
    assert.equal((await replies.reply(third.runId)).status, 'sent');
    assert.equal(smtp.received.length, n + 1);
    assert.match(
      (await simpleParser(smtp.received.at(-1)!.raw)).messageId ?? '',
      new RegExp(`ksci\\.${third.runId}\\.fail@`),
    );
  });

  it('policy: not from a list, author not on the allowlist: recorded as skipped with why, nothing sent', async () => {
    const n = smtp.received.length;
    const mbox = fakeSeries('bpf: from a file');
    const a = await p.coordinator.submit(mbox, { source: { kind: 'mbox', ref: '/tmp/x.mbox' } });
    await p.coordinator.waitForRun(a.runId, 20_000);
    assert.deepEqual(await replies.reply(a.runId), {
      status: 'skipped',
      detail: 'the series did not come from a list (mbox)',
    });

    const stranger = fakeSeries('bpf: stranger', { author: { name: 'S', address: 's@elsewhere.net' } });
    const b = await p.coordinator.submit(stranger, { source: lore(stranger.messageId), requestedBy: 'lore:bpf' });
    await p.coordinator.waitForRun(b.runId, 20_000);
    assert.deepEqual(await replies.reply(b.runId), {
      status: 'skipped',
      detail: "s@elsewhere.net is not on list bpf's reply allowlist",
    });
    // `ksci run <message-id>` by hand tests a list series without mailing the list.
    const byHand = fakeSeries('bpf: by hand');
    const c = await p.coordinator.submit(byHand, { source: lore(byHand.messageId), requestedBy: 'cli' });
    await p.coordinator.waitForRun(c.runId, 20_000);
    assert.deepEqual(await replies.reply(c.runId), {
      status: 'skipped',
      detail: 'run by hand (cli), not by the list poller',
    });
    assert.equal(smtp.received.length, n);
    assert.equal((await p.services.email!.forRun(b.runId))?.status, 'skipped');
  });

  it('the SMTP server down: an error to retry with a hint, and the retry sends it', async () => {
    const series = fakeSeries('bpf: smtp down');
    const sub = await p.coordinator.submit(series, { source: lore(series.messageId), requestedBy: 'lore:bpf' });
    await p.coordinator.waitForRun(sub.runId, 20_000);
    const down = new EmailReporter({
      config: p.config,
      results: p.services.store!,
      email: p.services.email!,
      sender: smtpSender({ host: '127.0.0.1', port: 1 }),
      connection: p.services.redis.connection,
      log: silentLogger,
    });
    try {
      await assert.rejects(
        down.reply(sub.runId),
        (err: unknown) => err instanceof InfraError && /sent again on the next attempt/.test(err.hint ?? ''),
      );
    } finally {
      await down.close();
    }
    assert.equal((await p.services.email!.forRun(sub.runId))?.status, 'failed');
    assert.ok(
      (await p.services.email!.undecided(new Date(0))).includes(sub.runId),
      'a failed send stays on the list reconcile works through',
    );
    const n = smtp.received.length;
    assert.equal((await replies.reply(sub.runId)).status, 'sent');
    assert.equal(smtp.received.length, n + 1);
    assert.equal((await p.services.email!.undecided(new Date(0))).includes(sub.runId), false);
  });

  it('without SMTP: every reply is decided as not sent, so enabling SMTP later mails no backlog', async () => {
    const series = fakeSeries('bpf: no smtp yet');
    const sub = await p.coordinator.submit(series, { source: lore(series.messageId), requestedBy: 'lore:bpf' });
    await p.coordinator.waitForRun(sub.runId, 20_000);
    const off = new EmailReporter({
      config: p.config,
      results: p.services.store!,
      email: p.services.email!,
      sender: null,
      connection: p.services.redis.connection,
      log: silentLogger,
    });
    try {
      assert.deepEqual(await off.reply(sub.runId), {
        status: 'skipped',
        detail: 'no SMTP server is configured (email.smtp)',
      });
    } finally {
      await off.close();
    }
    assert.equal((await replies.reply(sub.runId)).status, 'done');
  });

  it('through the queue: a finished run is enqueued, the worker sends, and a missed run is found by reconcile', async () => {
    replies.start();
    const series = fakeSeries('bpf: queued reply');
    const sub = await p.coordinator.submit(series, { source: lore(series.messageId), requestedBy: 'lore:bpf' });
    await p.coordinator.waitForRun(sub.runId, 20_000);
    const n = smtp.received.length;
    // Nobody enqueued it (the coordinator was "down" when it finished): reconcile does.
    assert.ok((await replies.reconcile()) >= 1);
    const deadline = Date.now() + 20_000;
    while (smtp.received.length === n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(smtp.received.length, n + 1);
    assert.equal((await p.services.email!.forRun(sub.runId))?.status, 'sent');
    assert.equal(await replies.reconcile(), 0, 'every finished lore run has its decision');
  });

  it('an admin re-sends a reply: the same mail again through the queue, by whom recorded; policy still holds', async () => {
    const waitFor = async (count: number) => {
      const deadline = Date.now() + 20_000;
      while (smtp.received.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(smtp.received.length, count);
    };
    const series = fakeSeries('bpf: resend');
    const sub = await p.coordinator.submit(series, { source: lore(series.messageId), requestedBy: 'lore:bpf' });
    await p.coordinator.waitForRun(sub.runId, 20_000);
    assert.equal((await replies.reply(sub.runId)).status, 'sent');
    const first = await simpleParser(smtp.received.at(-1)!.raw);
    const n = smtp.received.length;
    assert.equal((await replies.reply(sub.runId)).status, 'done', 'sent once; only an admin sends it again');

    await replies.resend(sub.runId, 'web:maintainer');
    await waitFor(n + 1);
    const again = await simpleParser(smtp.received.at(-1)!.raw);
    assert.equal(again.messageId, first.messageId, 'the same Message-ID: an archive that has it keeps one copy');
    assert.equal(again.text, first.text);
    const row = await p.services.email!.forRun(sub.runId);
    assert.equal(row?.status, 'sent');
    assert.equal(row?.resentBy, 'web:maintainer');

    // A run tested by hand mails nobody by itself, but an admin asking is asking.
    const byHand = fakeSeries('bpf: resend by hand');
    const h = await p.coordinator.submit(byHand, { source: lore(byHand.messageId), requestedBy: 'cli' });
    await p.coordinator.waitForRun(h.runId, 20_000);
    assert.equal((await replies.reply(h.runId)).status, 'skipped');
    await replies.resend(h.runId, 'web:maintainer');
    await waitFor(n + 2);
    assert.equal((await p.services.email!.forRun(h.runId))?.status, 'sent');

    // The author's allowlist is not the admin's to override: refused at once, with why.
    const stranger = fakeSeries('bpf: resend stranger', { author: { name: 'S', address: 's@elsewhere.net' } });
    const st = await p.coordinator.submit(stranger, { source: lore(stranger.messageId), requestedBy: 'lore:bpf' });
    await p.coordinator.waitForRun(st.runId, 20_000);
    await assert.rejects(replies.resend(st.runId, 'web:maintainer'), /not on list bpf's reply allowlist/);

    // While a worker is sending it, a re-send claim waits its turn rather than mailing twice.
    const claim = {
      seriesId: (await p.services.store!.getRun(st.runId))!.seriesId,
      runId: st.runId,
      verdict: 'pass',
      messageId: `resend-race-${st.runId}`,
      recipients: ['x@example.org'],
      by: 'web:a',
    };
    assert.equal(await p.services.email!.claimResend(claim), 'claimed');
    assert.equal(await p.services.email!.claimResend({ ...claim, by: 'web:b' }), 'busy');
    await p.services.email!.finish(st.runId, { status: 'sent' });
    assert.equal(smtp.received.length, n + 2);
  });
});
