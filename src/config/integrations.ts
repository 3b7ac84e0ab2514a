import { z } from 'zod';

/*
 * The schemas of what integrations and test hosts are configured with:
 * config owns them, so config imports nothing of ksci, and the modules that
 * use these settings import their types from here.
 */

export const GITHUB_API = 'https://api.github.com';

export const GitHubConfigSchema = z
  .object({
    appId: z.number().int().positive(),
    /** The app's private key, PEM as downloaded from its settings page. */
    privateKey: z.string().min(1).optional(),
    privateKeyFile: z.string().min(1).optional(),
    webhookSecret: z.string().min(1),
    /** GitHub Enterprise Server: https://HOST/api/v3. */
    baseUrl: z
      .url()
      .transform((u) => u.replace(/\/+$/, ''))
      .default(GITHUB_API),
    /**
     * Below this many remaining requests in the installation's hourly quota,
     * calls that can wait (sticky comment, labels) are deferred so the check
     * runs, which carry the verdict, keep going through.
     */
    rateLimitFloor: z.number().int().min(0).default(500),
  })
  .refine((c) => (c.privateKey === undefined) !== (c.privateKeyFile === undefined), {
    message: 'give exactly one of privateKey and privateKeyFile',
    path: ['privateKey'],
  });

export type GitHubConfig = z.infer<typeof GitHubConfigSchema>;

export const SmtpConfigSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(587),
    /** Implicit TLS from the first byte (port 465). */
    secure: z.boolean().default(false),
    /** Refuse to go on in plain text when the server offers no STARTTLS. */
    requireTLS: z.boolean().default(false),
    auth: z
      .object({
        user: z.string().min(1),
        pass: z.string().min(1).optional(),
        /** The environment variable holding the password, so it stays out of config files. */
        passEnv: z.string().min(1).optional(),
      })
      .strict()
      .refine(
        (a) => (a.pass === undefined) !== (a.passEnv === undefined),
        'give exactly one of auth.pass and auth.passEnv',
      )
      .optional(),
    timeouts: z
      .object({
        connectMs: z.number().int().positive().default(30_000),
        greetingMs: z.number().int().positive().default(30_000),
        /** Inactivity on an open connection. */
        socketMs: z.number().int().positive().default(60_000),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type SmtpConfig = z.infer<typeof SmtpConfigSchema>;

const absolute = z
  .string()
  .min(1)
  .refine((p) => p.startsWith('/'), 'must be an absolute path');

export const BareMetalHostSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'host names are letters, digits, ".", "_" and "-"'),
  ssh: z.strictObject({
    host: z
      .string()
      .min(1)
      .regex(/^[^\s@-][^\s@]*$/, 'a host name or address (no spaces, "@", or leading "-")'),
    port: z.number().int().min(1).max(65535).default(22),
    user: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*$/, 'a user name')
      .default('root'),
    identityFile: z.string().min(1),
    knownHostsFile: z.string().min(1),
    connectTimeoutSeconds: z.number().int().positive().default(10),
  }),
  /** On the host; kernels are kept under it by content hash, each session's files in run-<id>/. */
  workDir: absolute
    .refine((p) => p !== '/' && !/(^|\/)\.\.?(\/|$)/.test(p), 'must not be / or contain . or .. components')
    .default('/var/tmp/ksci'),
  boot: z.discriminatedUnion('method', [
    z.strictObject({
      method: z.literal('kexec'),
      /** Kernel command line; the running one (--reuse-cmdline) when absent. */
      cmdline: z.string().optional(),
    }),
    z.strictObject({
      method: z.literal('command'),
      /** argv run on the host (quoted word by word); "{kernel}" in a word becomes the copied kernel's path. */
      command: z.array(z.string()).min(1),
    }),
  ]),
  /** How the host gets back to its default kernel after a session. 'command' must end in a new boot, like 'reboot'. */
  restore: z
    .discriminatedUnion('method', [
      z.strictObject({ method: z.literal('reboot') }),
      z.strictObject({ method: z.literal('command'), command: z.array(z.string()).min(1) }),
      z.strictObject({ method: z.literal('none') }),
    ])
    .default({ method: 'reboot' }),
  bootTimeoutSeconds: z.number().positive().default(600),
  /**
   * Shell command on the host that prints the identifier of the current
   * boot; a change means the host rebooted. Only tests change it (they cannot
   * reboot the machine they run on, so they point it at a file their
   * "boot" command rewrites); the code path is the same.
   */
  bootIdCommand: z.string().min(1).default('cat /proc/sys/kernel/random/boot_id'),
  /** Shell command on the host that prints the kernel log of the current boot. */
  dmesgCommand: z.string().min(1).default('dmesg'),
  capabilities: z.strictObject({
    cpus: z.number().int().positive(),
    nics: z.array(z.string().min(1)),
  }),
});
export type BareMetalHost = z.infer<typeof BareMetalHostSchema>;
