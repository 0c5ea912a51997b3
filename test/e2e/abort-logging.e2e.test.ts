import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { presignRaw } from '../support/raw-s3.ts';
import { openRawConnection, requestHead } from '../support/raw-tcp.ts';

/**
 * Issue #9 item 10: a presigned PUT cut off mid-body was logged at error level with its full URL,
 * signature and credential included (a signature stays valid for up to 7 days). A client abort
 * is routine: info, and no log line may carry a signature or credential.
 */
describe('a client cutting off a presigned PUT mid-body', () => {
  let server: TestServer;
  let account: TestAccount;
  const lines: string[] = [];

  beforeAll(async () => {
    // The real JSON-lines logger, writing into memory instead of stderr.
    server = await startTestServer({ LOG_LEVEL: 'debug' }, { logger: createLogger('debug', (line) => lines.push(line)) });
    account = await server.createAccount();
  });
  afterAll(async () => {
    await server?.close();
  });

  for (const cut of ['closes', 'resets'] as const) {
    it(`is logged at info without its signature or credential when the client ${cut} the connection`, async () => {
      const key = `cut-${cut}.bin`;
      const path = await presignRaw(server.endpoint, account, { method: 'PUT', path: `/default/${key}`, expiresIn: 7 * 24 * 3600 });
      const signature = /X-Amz-Signature=([0-9a-f]{64})/.exec(path)![1]!;
      const connection = await openRawConnection(server.endpoint);
      connection.socket.write(requestHead('PUT', path, { host: new URL(server.endpoint).host, 'content-length': '1000000', expect: '100-continue' }));
      // Accepted (authenticated, quota reserved): the upload is in progress when the client goes.
      await connection.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
      connection.socket.write(Buffer.alloc(1000, 1));
      if (cut === 'resets') connection.socket.resetAndDestroy();
      else connection.socket.destroy();

      await vi.waitFor(() => expect(lines.filter((line) => line.includes(key))).toHaveLength(2), { timeout: 5_000, interval: 20 });
      const entries = lines.filter((line) => line.includes(key)).map((line) => JSON.parse(line) as { level: string; message: string; url: string });
      // Issue #11: the request's access line says it was aborted, with its path only (no query).
      expect(entries.filter((entry) => entry.message === 'access')).toEqual([
        expect.objectContaining({ level: 'info', path: `/default/${key}`, operation: 'PutObject', status: null, aborted: true, keyId: account.accessKeyId }),
      ]);
      const logged = entries.filter((entry) => entry.message !== 'access');
      expect(logged).toEqual([expect.objectContaining({ level: 'info', message: 'request aborted by the client' })]);
      expect(logged[0]!.url).toContain('X-Amz-Signature=REDACTED');
      expect(logged[0]!.url).toContain('X-Amz-Credential=REDACTED');

      for (const line of lines) {
        expect(line).not.toContain(signature);
        // The access key id is no secret (the access line names it as `keyId`), but nothing else may
        // carry it: anywhere else it would be part of a logged credential.
        expect(line.replace(`"keyId":"${account.accessKeyId}"`, '')).not.toContain(account.accessKeyId);
        expect(line).not.toMatch(/X-Amz-(Signature|Credential)=(?!REDACTED)/i);
        expect(JSON.parse(line).level).not.toBe('error');
      }
    });
  }
});
