import { parseArgs } from 'node:util';
import { isAppError } from '../errors/app-errors.ts';
import { loadConfig } from '../config/config.ts';
import { createCore } from '../core.ts';
import { createLogger } from '../logger.ts';

const USAGE = `Usage: npm run --silent cli -- <command>
  user create --email E --password P [--admin]
  key create --email E [--name N]
  key revoke --access-key-id K`;

class UsageError extends Error {}

/** Prints exactly one JSON document on stdout; errors go to stderr as JSON with a non-zero exit. */
export async function runCli(argv: string[], env: Record<string, string | undefined> = process.env): Promise<{ code: number; output: unknown }> {
  const [group, action, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      email: { type: 'string' },
      password: { type: 'string' },
      admin: { type: 'boolean', default: false },
      name: { type: 'string' },
      'access-key-id': { type: 'string' },
    },
    strict: true,
  });
  const require = (name: keyof typeof values) => {
    const value = values[name];
    if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
    return value;
  };

  const config = loadConfig({ ...env, LOG_LEVEL: env.LOG_LEVEL ?? 'warn' });
  const core = await createCore({ config, logger: createLogger('warn') });
  try {
    switch (`${group} ${action}`) {
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
        const user = core.accountsUsecases.requireByEmail(require('email'));
        const key = core.keysUsecases.create(user.id, values.name ?? '');
        return { code: 0, output: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } };
      }
      case 'key revoke': {
        const accessKeyId = require('access-key-id');
        core.keysUsecases.revoke(accessKeyId);
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
    const { code, output } = await runCli(process.argv.slice(2));
    process.stdout.write(`${JSON.stringify(output)}\n`);
    process.exitCode = code;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
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
