import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createLogger, redactSecrets } from './logger.ts';

describe('log redaction', () => {
  it('replaces the values of SigV4 and SigV2 query auth parameters and Authorization header parts', () => {
    expect(
      redactSecrets(
        '/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Security-Token=tok&X-Amz-Signature=abc123&x-id=PutObject',
      ),
    ).toBe('/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Date=20250101T000000Z&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED&x-id=PutObject');
    expect(redactSecrets('/b/k?AWSAccessKeyId=AKID&Expires=1700000000&Signature=a%2Bb%3D')).toBe('/b/k?AWSAccessKeyId=REDACTED&Expires=1700000000&Signature=REDACTED');
    expect(redactSecrets('AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=deadbeef')).toBe(
      'AWS4-HMAC-SHA256 Credential=REDACTED, SignedHeaders=host;x-amz-date, Signature=REDACTED',
    );
    // Lookalikes are left alone.
    expect(redactSecrets('/b/MySignature=1?x-signature=2&prefix=Credential')).toBe('/b/MySignature=1?x-signature=2&prefix=Credential');
  });

  it('redacts every line the logger writes, whichever field or message carries the URL', () => {
    const lines: string[] = [];
    const logger = createLogger('debug', (line) => lines.push(line));
    logger.error('failed GET /b/k?X-Amz-Signature=s1', { url: '/b/k?X-Amz-Credential=c1&X-Amz-Signature=s2', error: 'Error: at /b/k?Signature=s3' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/s1|c1|s2|s3/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'error', url: '/b/k?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED' });
  });

  it('writes pino JSON lines at or above LOG_LEVEL only: level name, ISO time, pid, message, fields', () => {
    const lines: string[] = [];
    const logger = createLogger('warn', (line) => lines.push(line));
    logger.debug('dropped');
    logger.info('dropped too', { a: 1 });
    logger.warn('kept', { count: 2, nested: { ok: true } });
    logger.error('kept too');
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { level: 'warn', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), pid: process.pid, message: 'kept', count: 2, nested: { ok: true } },
      expect.objectContaining({ level: 'error', message: 'kept too' }),
    ]);
    expect(lines.every((line) => line.endsWith('}\n'))).toBe(true);
    const silent: string[] = [];
    createLogger('silent', (line) => silent.push(line)).error('nothing');
    expect(silent).toEqual([]);
  });

  it('writes to stderr only (stdout stays clean for the CLI), and a process.exit right after loses no line still batched', () => {
    const script = [
      `import { createLogger } from ${JSON.stringify(new URL('./logger.ts', import.meta.url).pathname)};`,
      'const logger = createLogger("info");',
      'for (let i = 0; i < 2000; i++) logger.info("line", { i, url: "/b/k?X-Amz-Signature=secret" });',
      'process.exit(0);',
    ].join('\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status).toBe(0);
    expect(child.stdout).toBe('');
    const lines = child.stderr.trim().split('\n');
    expect(lines).toHaveLength(2000);
    expect(JSON.parse(lines[1999]!)).toMatchObject({ level: 'info', message: 'line', i: 1999, url: '/b/k?X-Amz-Signature=REDACTED' });
    expect(child.stderr).not.toContain('secret');
  });
});
