import { RequestError } from 'octokit';
import { z } from 'zod';
import { githubFailure, type RepoClient } from './client.js';

export const COMMANDS = {
  retest: 'run the tests again on the current head',
  perf: 'run the tests with the performance comparison (optionally: the perf suites to run)',
  cancel: 'cancel the running test of this pull request',
  help: 'show this list',
} as const;
export type CommandName = keyof typeof COMMANDS;

export type Command = { name: CommandName; args: string[] } | { name: 'unknown'; word: string };

/**
 * The /ksci commands in a comment, in order, each once. A command is a line
 * that starts with "/ksci" (so "> /ksci retest", a quote of someone else's
 * request, is not one); lines in fenced code blocks and HTML comments are
 * skipped, because issue templates and examples show commands there.
 * "/ksci" alone asks for help.
 */
export function parseCommands(body: string): Command[] {
  const out: Command[] = [];
  const seen = new Set<string>();
  let fence: string | null = null;
  let inComment = false;
  for (const raw of body.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (inComment) {
      inComment = !line.includes('-->');
      continue;
    }
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence !== null) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) fence = null;
      continue;
    }
    if (marker) {
      fence = marker;
      continue;
    }
    if (/^ {0,3}<!--/.test(line)) {
      inComment = !line.includes('-->');
      continue;
    }
    const m = /^\/ksci(?:\s+(.*))?$/.exec(line);
    if (!m) continue;
    const [word = 'help', ...args] = (m[1] ?? '')
      .trim()
      .split(/\s+/)
      .filter((w) => w.length > 0);
    const cmd: Command = Object.hasOwn(COMMANDS, word.toLowerCase())
      ? { name: word.toLowerCase() as CommandName, args }
      : { name: 'unknown', word };
    const key = cmd.name === 'unknown' ? `?${cmd.word}` : `${cmd.name} ${cmd.args.join(' ')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(cmd);
  }
  return out;
}

/** The reply to /ksci help, and to a command ksci does not know. */
export function helpMarkdown(unknown?: string): string {
  const lines = unknown === undefined ? [] : [`ksci does not know \`/ksci ${unknown}\`.`, ''];
  lines.push('Commands (on a line of their own, by someone with write access):', '');
  for (const [name, what] of Object.entries(COMMANDS)) lines.push(`- \`/ksci ${name}\`: ${what}`);
  return lines.join('\n') + '\n';
}

/** GitHub's `permission` folds maintain into write and triage into read; custom roles report their base. */
const ALLOWED = new Set(['admin', 'write']);

const PermissionSchema = z.object({ permission: z.string(), role_name: z.string().optional() });

/**
 * Whether `login` may run commands here: write, maintain or admin on the
 * repository. Anyone can comment on a public PR; a command costs machine
 * time, so it takes the access a merge would.
 */
export async function canRunCommands(
  client: RepoClient,
  login: string,
): Promise<{ allowed: boolean; permission: string }> {
  try {
    const { data } = await client.octokit.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', {
      owner: client.owner,
      repo: client.repo,
      username: login,
    });
    const { permission, role_name } = PermissionSchema.parse(data);
    return { allowed: ALLOWED.has(permission), permission: role_name ?? permission };
  } catch (err) {
    // A user who is not a collaborator (or no longer exists) has none.
    if (err instanceof RequestError && err.status === 404) return { allowed: false, permission: 'none' };
    throw githubFailure(err, `checking ${login}'s permission on ${client.owner}/${client.repo}`);
  }
}
