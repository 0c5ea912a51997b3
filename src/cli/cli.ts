import { parseArgs } from 'node:util';
import { isAppError } from '../errors/app-errors.ts';
import { loadConfig } from '../config/config.ts';
import { BackendSettingsMismatchError } from '../config/backend-settings.ts';
import { loadEnvFileIfPresent } from '../config/env-file.ts';
import { createAdminCore } from '../core.ts';
import { createLogger } from '../logger.ts';
import { recountBucket } from '../quotas/reconcile.ts';

const USAGE = `Usage: npm run --silent cli -- <command>
  user create --email E --password P [--admin]
  user set-quota --email E --bytes N
  key create --email E [--name N]
  key revoke --access-key-id K
  usage --email E
  usage reconcile [--email E]`;

class UsageError extends Error {}

const COMMANDS = new Set(['user create', 'user set-quota', 'key create', 'key revoke', 'usage ', 'usage reconcile']);
/** Commands that create a bucket or read usage from the storage backend. */
const NEEDS_BACKEND = new Set(['user create', 'usage ', 'usage reconcile']);

/** Prints exactly one JSON document on stdout; errors go to stderr as JSON with a non-zero exit. */
export async function runCli(argv: string[], env: Record<string, string | undefined> = process.env): Promise<{ code: number; output: unknown }> {
  // `usage --email E` has no action word; `usage reconcile` does.
  const [group, maybeAction, ...others] = argv;
  const hasAction = maybeAction !== undefined && !maybeAction.startsWith('--');
  const action = hasAction ? maybeAction : '';
  const rest = hasAction ? others : argv.slice(1);
  const { values } = parseArgs({
    args: rest,
    options: {
      email: { type: 'string' },
      password: { type: 'string' },
      admin: { type: 'boolean', default: false },
      name: { type: 'string' },
      'access-key-id': { type: 'string' },
      bytes: { type: 'string' },
    },
    strict: true,
  });
  const require = (name: keyof typeof values) => {
    const value = values[name];
    if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
    return value;
  };

  const command = `${group} ${action}`;
  if (!COMMANDS.has(command)) throw new UsageError(`unknown command: ${[group, action].filter(Boolean).join(' ') || '(none)'}`);
  const config = loadConfig({ ...env, LOG_LEVEL: env.LOG_LEVEL ?? 'warn' });
  // Only what the command needs, and never a server's start-up work (a server may be running on
  // the same DATA_DIR): the backend only for the commands that read or create buckets.
  const core = await createAdminCore({ config, logger: createLogger('warn'), backend: NEEDS_BACKEND.has(command) });
  try {
    switch (command) {
      case 'user create': {
        const { user, key, bucket } = await core.accountsUsecases.createAccount({
          email: require('email'),
          password: require('password'),
          isAdmin: values.admin,
        });
        return {
          code: 0,
          output: { userId: user.id, email: user.email, accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, bucket: bucket.name },
        };
      }
      case 'key create': {
        const user = await core.accountsUsecases.requireByEmail(require('email'));
        const key = await core.keysUsecases.create(user.id, values.name ?? '');
        return { code: 0, output: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } };
      }
      case 'user set-quota': {
        const user = await core.accountsUsecases.requireByEmail(require('email'));
        const bytes = Number(require('bytes'));
        if (!Number.isSafeInteger(bytes) || bytes < 0) throw new UsageError('--bytes must be a non-negative integer');
        await core.quotasUsecases.setQuota(user.id, bytes);
        return { code: 0, output: { userId: user.id, email: user.email, quotaBytes: bytes } };
      }
      case 'usage ': {
        const user = await core.accountsUsecases.requireByEmail(require('email'));
        return { code: 0, output: { userId: user.id, email: user.email, ...(await core.quotasUsecases.usage(user.id)) } };
      }
      case 'usage reconcile': {
        const users = values.email ? [await core.accountsUsecases.requireByEmail(values.email)] : await core.accountsRepository.listAll();
        const accounts = [];
        for (const user of users) {
          const buckets = [];
          // Every bucket row the account's usage counts, its internal trash bucket included.
          for (const bucket of await core.bucketsRepository.listForOwner(user.id)) buckets.push(await recountBucket(core.backend, bucket.backendName, bucket.name));
          accounts.push({ userId: user.id, email: user.email, drift: buckets.some((bucket) => bucket.drift), buckets });
        }
        return { code: 0, output: { drift: accounts.some((account) => account.drift), accounts } };
      }
      case 'key revoke': {
        const accessKeyId = require('access-key-id');
        await core.keysUsecases.revoke(accessKeyId);
        return { code: 0, output: { accessKeyId, revoked: true } };
      }
      default:
        throw new UsageError(`unknown command: ${[group, action].filter(Boolean).join(' ') || '(none)'}`);
    }
  } finally {
    await core.close();
  }
}

async function main() {
  try {
    // Variables already in the environment win over the file (config/env-file.ts).
    loadEnvFileIfPresent();
    const { code, output } = await runCli(process.argv.slice(2));
    process.stdout.write(`${JSON.stringify(output)}\n`);
    process.exitCode = code;
  } catch (error) {
    if (error instanceof BackendSettingsMismatchError) {
      process.stderr.write(`${JSON.stringify({ error: error.code, detail: error.message, differences: error.differences })}\n`);
      process.exitCode = 78;
    } else if (error instanceof UsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      process.stderr.write(`${JSON.stringify({ error: 'usage', detail: (error as Error).message, usage: USAGE })}\n`);
      process.exitCode = 64;
    } else if (isAppError(error)) {
      process.stderr.write(`${JSON.stringify({ error: error.code, detail: error.detail })}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`${JSON.stringify({ error: 'internal', detail: (error as Error).message })}\n`);
      process.exitCode = 70;
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
