import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeGitHub, loadPrFixture } from '../testing/github-server.js';
import { createTokenClient, type RepoClient } from './client.js';
import { canRunCommands, helpMarkdown, parseCommands } from './commands.js';

describe('parseCommands', () => {
  const cases: [string, string, ReturnType<typeof parseCommands>][] = [
    ['a bare command', '/ksci retest', [{ name: 'retest', args: [] }]],
    [
      'CRLF, capitals and arguments',
      '/ksci PERF pktgen-udp  pktgen-tcp\r\n',
      [{ name: 'perf', args: ['pktgen-udp', 'pktgen-tcp'] }],
    ],
    [
      'several, each once',
      'thanks!\n/ksci cancel\n/ksci retest\n/ksci retest',
      [
        { name: 'cancel', args: [] },
        { name: 'retest', args: [] },
      ],
    ],
    ['"/ksci" alone asks for help', '/ksci', [{ name: 'help', args: [] }]],
    ['an unknown word', '/ksci rebuild', [{ name: 'unknown', word: 'rebuild' }]],
    ['not at the start of the line', 'please /ksci retest\n  /ksci retest', []],
    ['a quoted request', '> /ksci retest\n\nwhy did that fail?', []],
    ['a word that only starts with ksci', '/kscifoo retest\n/ksci: retest', []],
    [
      'inside fenced code blocks',
      '```\n/ksci retest\n```\n~~~~sh\n/ksci perf\n~~~\n/ksci cancel\n~~~~\n/ksci help',
      [{ name: 'help', args: [] }],
    ],
    [
      'a fence closed by a longer one only',
      '````\n/ksci retest\n```\n/ksci perf\n`````\n/ksci cancel',
      [{ name: 'cancel', args: [] }],
    ],
    [
      'inside HTML comments',
      '<!-- /ksci retest -->\n<!--\n/ksci perf\n-->\n/ksci cancel',
      [{ name: 'cancel', args: [] }],
    ],
  ];
  for (const [what, body, want] of cases) it(what, () => assert.deepEqual(parseCommands(body), want));
});

describe('helpMarkdown', () => {
  it('lists the commands, and names an unknown one', () => {
    const help = helpMarkdown('rebuild');
    assert.match(help, /does not know `\/ksci rebuild`/);
    for (const c of ['retest', 'perf', 'cancel', 'help']) assert.match(help, new RegExp(`^- \`/ksci ${c}\``, 'm'));
    assert.deepEqual(parseCommands(help), [], 'a quoted help reply is not read back as commands');
  });
});

describe('canRunCommands (token client against the local GitHub)', () => {
  let gh: FakeGitHub;
  let client: RepoClient;
  before(async () => {
    gh = await FakeGitHub.start({ tokens: { ghp_testtoken: 'ci-operator' } });
    gh.addPullRequest(loadPrFixture());
    for (const [login, role] of [
      ['ada', 'admin'],
      ['max', 'maintain'],
      ['wes', 'write'],
      ['tia', 'triage'],
      ['rex', 'read'],
    ] as const)
      gh.setRole('kdev', 'linux', login, role);
    client = await createTokenClient({ token: 'ghp_testtoken', baseUrl: gh.baseUrl }, { msPerSecond: 1 }).forRepo({
      owner: 'kdev',
      repo: 'linux',
    });
  });
  after(() => gh.close());

  it('allows write, maintain and admin; not triage or read', async () => {
    const got: Record<string, unknown> = {};
    for (const login of ['ada', 'max', 'wes', 'tia', 'rex']) got[login] = await canRunCommands(client, login);
    assert.deepEqual(got, {
      ada: { allowed: true, permission: 'admin' },
      max: { allowed: true, permission: 'maintain' },
      wes: { allowed: true, permission: 'write' },
      tia: { allowed: false, permission: 'triage' },
      rex: { allowed: false, permission: 'read' },
    });
    const r = gh.requests.find((x) => x.path === '/repos/kdev/linux/collaborators/max/permission');
    assert.equal(r?.headers.authorization, 'token ghp_testtoken');
  });
});
