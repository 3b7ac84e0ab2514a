import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PerfAlert } from '../perf/history.js';
import { startGitHubWithApp, type FakeGitHub } from '../testing/github-server.js';
import type { RepoClient } from './client.js';
import { trackingIssue, upsertTrackingIssue } from './tracking.js';

const alert: PerfAlert = {
  tree: 'net-next',
  scenario: 'pktgen/dummy-xmit',
  lastGood: '1111111111111111111111111111111111111111',
  firstChanged: '2222222222222222222222222222222222222222',
  direction: 'regression',
  change: -0.184,
  p: 0.00042,
  report: 'net-next pktgen/dummy-xmit: regression -18.4% between 111111111111 and 222222222222\n',
};

describe('nightly change points as GitHub issues (local GitHub, App client)', () => {
  let gh: FakeGitHub;
  let client: RepoClient;
  before(async () => {
    ({ gh, client } = await startGitHubWithApp());
  });
  after(() => gh.close());

  it('the issue names the change, the commits and the bisect command', () => {
    const { title, body } = trackingIssue(alert);
    assert.equal(title, 'ksci nightly: pktgen/dummy-xmit regression -18.4% on net-next at 222222222222');
    assert.match(body, /^<!-- ksci:changepoint net-next pktgen\/dummy-xmit 2{40} -->$/m);
    assert.match(body, /ksci nightly bisect net-next pktgen\/dummy-xmit 1{12} 2{12}/);
  });

  it('one issue per change point: seen again, it is updated, not opened twice; another change gets its own', async () => {
    const first = await upsertTrackingIssue(client, alert, { label: 'ksci:perf-change' });
    assert.equal(first.created, true);
    const again = await upsertTrackingIssue(
      client,
      { ...alert, change: -0.19, report: 'updated\n' },
      { label: 'ksci:perf-change' },
    );
    assert.deepEqual([again.created, again.url], [false, first.url]);
    const issues = gh.issuesOf('kdev', 'linux');
    assert.equal(issues.length, 1);
    assert.match(issues[0]!.body, /-19\.0%/);
    assert.deepEqual(
      issues[0]!.labels.map((l) => l.name),
      ['ksci:perf-change'],
    );
    const other = await upsertTrackingIssue(
      client,
      { ...alert, firstChanged: '3'.repeat(40) },
      { label: 'ksci:perf-change' },
    );
    assert.equal(other.created, true);
    assert.equal(gh.issuesOf('kdev', 'linux').length, 2);
  });
});
