import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { recountBucket } from '../../src/quotas/reconcile.ts';
import { parseEnvLines } from '../support/ceph-rgw.ts';
import { backendUnderTest, startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { sendRaw, signRaw } from '../support/raw-s3.ts';
import { startNormalisingProxy, type NormalisingProxy } from '../support/normalising-proxy.ts';
import { startTcpRelay } from '../support/tcp-relay.ts';

/** The proxy backend's own promises, on a real Ceph RGW (vitest project s3-backend). */
describe('STORAGE_BACKEND=s3 on Ceph RGW', () => {
  const rgw = () => parseEnvLines(readFileSync(inject('cephRgwEnvFile'), 'utf8'));
  const direct = () =>
    new S3Client({
      endpoint: rgw().BACKEND_S3_ENDPOINT,
      region: rgw().BACKEND_S3_REGION,
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: rgw().BACKEND_S3_ACCESS_KEY, secretAccessKey: rgw().BACKEND_S3_SECRET_KEY },
    });

  describe('objects are real backend objects', () => {
    let server: TestServer;
    let account: TestAccount;
    beforeAll(async () => {
      server = await startTestServer();
      account = await server.createAccount();
    });
    afterAll(async () => server?.close());

    it('writes objects readable directly from the mapped backend bucket with the backend credentials', async () => {
      expect(backendUnderTest().STORAGE_BACKEND).toBe('s3');
      const s3 = server.client(account);
      const data = randomBytes(1024 * 1024 + 3);
      const put = await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'dir/proof.bin', Body: data, ContentType: 'application/x-proof', Metadata: { who: 'gateway' } }));
      const resolution = await server.running.core.bucketsUsecases.resolve(account.userId, 'default');
      if (resolution.kind !== 'owned') throw new Error(`default bucket not owned: ${resolution.kind}`);
      const backendBucket = resolution.bucket.backendName;
      expect(backendBucket).toMatch(/^cs-[a-z0-9-]+$/);

      const rgwClient = direct();
      const got = await rgwClient.send(new GetObjectCommand({ Bucket: backendBucket, Key: 'dir/proof.bin' }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
      expect(got.ETag).toBe(put.ETag);
      expect(got.ContentType).toBe('application/x-proof');
      expect(got.Metadata).toEqual({ who: 'gateway' });

      // And the other way: an object written directly to the backend bucket is served by the gateway.
      await rgwClient.send(new PutObjectCommand({ Bucket: backendBucket, Key: 'from-backend.txt', Body: 'written around the gateway' }));
      const through = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'from-backend.txt' }));
      expect(await through.Body!.transformToString()).toBe('written around the gateway');
      rgwClient.destroy();

      // That object was never counted; `usage reconcile` finds the drift and corrects the counters.
      const backend = server.running.core.backend;
      const before = await backend.local.usage(backendBucket);
      const recount = await recountBucket(backend, backendBucket, 'default');
      expect(recount.drift).toBe(true);
      expect(recount.recounted).toEqual({ bytes: before.bytes + 'written around the gateway'.length, objects: before.objects + 1, multipartBytes: 0 });
      expect(await backend.local.usage(backendBucket)).toEqual(recount.recounted);
      expect((await recountBucket(backend, backendBucket, 'default')).drift).toBe(false);
    });

    it('keeps two gateways sharing one backend apart: same account bucket names, different backend buckets', async () => {
      const other = await startTestServer();
      try {
        const otherAccount = await other.createAccount();
        await server.client(account).send(new PutObjectCommand({ Bucket: 'default', Key: 'only-in-first', Body: 'x' }));
        const listed = await other.client(otherAccount).send(new ListObjectsV2Command({ Bucket: 'default' }));
        expect(listed.Contents ?? []).toEqual([]);
        const first = await server.running.core.bucketsUsecases.resolve(account.userId, 'default');
        const second = await other.running.core.bucketsUsecases.resolve(otherAccount.userId, 'default');
        expect(first.kind === 'owned' && second.kind === 'owned' && first.bucket.backendName !== second.bucket.backendName).toBe(true);
      } finally {
        await other.close();
      }
    });
  });

  // Issue #9 item 13: a store behind a reverse proxy that resolves `.`/`..` and re-signs what it
  // forwards (an ingress with an aws-sigv4-proxy-style sidecar). Keys were forwarded verbatim,
  // so `incoming/../../<their backend bucket>/secret.txt` in one's own bucket reached another
  // account's backend bucket, and `..` was ListBuckets, naming every account's backend bucket.
  describe('keys with dot segments behind a normalising reverse proxy', () => {
    let proxy: NormalisingProxy;
    let server: TestServer;
    let attacker: TestAccount;
    let victim: TestAccount;
    let victimBucket: string;

    beforeAll(async () => {
      const env = rgw();
      proxy = await startNormalisingProxy({
        target: env.BACKEND_S3_ENDPOINT,
        resign: { accessKeyId: env.BACKEND_S3_ACCESS_KEY, secretAccessKey: env.BACKEND_S3_SECRET_KEY, region: env.BACKEND_S3_REGION },
      });
      server = await startTestServer({ BACKEND_S3_ENDPOINT: proxy.endpoint });
      attacker = await server.createAccount();
      victim = await server.createAccount();
      await server.client(victim).send(new PutObjectCommand({ Bucket: 'default', Key: 'secret.txt', Body: "the victim's secret" }));
      const resolution = await server.running.core.bucketsUsecases.resolve(victim.userId, 'default');
      if (resolution.kind !== 'owned') throw new Error(`default bucket not owned: ${resolution.kind}`);
      victimBucket = resolution.bucket.backendName;
    });
    afterAll(async () => {
      // RGW on memstore keeps objects in RAM: remove what this block wrote.
      const rgwClient = direct();
      await rgwClient.send(new DeleteObjectCommand({ Bucket: victimBucket, Key: 'secret.txt' })).catch(() => undefined);
      const attackerBucket = await server?.running.core.bucketsUsecases.resolve(attacker.userId, 'default');
      if (attackerBucket?.kind === 'owned') {
        const listed = await rgwClient.send(new ListObjectsV2Command({ Bucket: attackerBucket.bucket.backendName }));
        for (const object of listed.Contents ?? []) await rgwClient.send(new DeleteObjectCommand({ Bucket: attackerBucket.bucket.backendName, Key: object.Key! }));
      }
      rgwClient.destroy();
      await server?.close();
      await proxy?.close();
    });

    const raw = async (method: string, key: string, body?: string) => {
      const credentials = { accessKeyId: attacker.accessKeyId, secretAccessKey: attacker.secretAccessKey };
      return sendRaw(server.endpoint, await signRaw(server.endpoint, credentials, { method, path: `/default/${key}`, body }));
    };
    const victimSecret = async () => {
      const got = await server.client(victim).send(new GetObjectCommand({ Bucket: 'default', Key: 'secret.txt' }));
      return got.Body!.transformToString();
    };

    it("cannot read, overwrite or delete another account's backend objects, nor list the backend's buckets", async () => {
      const climbing = `incoming/../../${victimBucket}/secret.txt`;
      const read = await raw('GET', climbing);
      expect(read.status).toBe(404);
      expect(read.code).toBe('NoSuchKey');
      expect(read.text).not.toContain("the victim's secret");

      expect((await raw('PUT', climbing, 'overwritten by the attacker')).status).toBe(200);
      expect(await victimSecret()).toBe("the victim's secret");
      // The write is in the attacker's own bucket, under the key as sent.
      const own = await raw('GET', climbing);
      expect(own.status).toBe(200);
      expect(own.text).toBe('overwritten by the attacker');

      expect((await raw('DELETE', climbing)).status).toBe(204);
      expect(await victimSecret()).toBe("the victim's secret");

      // `..` alone cannot be protected by any encoding (the proxy would turn /<bucket>/.. into /): refused.
      const listing = await raw('GET', '..');
      expect(listing.status).toBe(400);
      expect(listing.code).toBe('InvalidArgument');
      expect(listing.text).not.toContain(victimBucket);
      expect((await raw('PUT', '.', 'x')).code).toBe('InvalidArgument');

      // Nothing the gateway sent was a target the proxy changed.
      expect(proxy.forwarded).toEqual(proxy.received);
    });
  });

  describe('backend outages', () => {
    let relay: Awaited<ReturnType<typeof startTcpRelay>>;
    let server: TestServer;
    let account: TestAccount;
    const TIMEOUT_MS = 1500;

    beforeAll(async () => {
      const endpoint = new URL(rgw().BACKEND_S3_ENDPOINT);
      relay = await startTcpRelay({ host: endpoint.hostname, port: Number(endpoint.port) });
      server = await startTestServer({ BACKEND_S3_ENDPOINT: relay.endpoint, BACKEND_TIMEOUT_MS: TIMEOUT_MS });
      account = await server.createAccount();
      await server.client(account).send(new PutObjectCommand({ Bucket: 'default', Key: 'k', Body: 'before the outage' }));
    });
    afterAll(async () => {
      await server?.close();
      await relay?.close();
    });

    async function rawGet(key: string) {
      const request = await signRaw(server.endpoint, { accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey }, { method: 'GET', path: `/default/${key}` });
      const response = await sendRaw(server.endpoint, request);
      return response;
    }

    it('answers 503 ServiceUnavailable S3 XML with Retry-After when the backend refuses connections', async () => {
      relay.setMode('refuse');
      const response = await rawGet('k');
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
      expect(response.code).toBe('ServiceUnavailable');
      expect(response.text).toContain('<RequestId>');
      expect(response.text).not.toMatch(/at .*\.ts:\d+/);
      const health = await fetch(`${server.endpoint}/_health/status`);
      expect(health.status).toBe(503);
    });

    it('answers 503 after BACKEND_TIMEOUT_MS when the backend accepts but never answers, for reads and uploads', async () => {
      relay.setMode('blackhole');
      const read = await rawGet('k');
      expect(read.status).toBe(503);
      // The blackhole never answers: only the BACKEND_TIMEOUT_MS timer can produce this 503.
      expect(read.code).toBe('ServiceUnavailable');

      const s3 = new S3Client({
        endpoint: server.endpoint,
        region: 'eu-central-1',
        forcePathStyle: true,
        maxAttempts: 1,
        credentials: { accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey },
      });
      const failed = await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'during-outage', Body: randomBytes(256 * 1024) })).then(
        () => undefined,
        (error: { name: string; $metadata?: { httpStatusCode?: number } }) => error,
      );
      expect(failed?.name).toBe('ServiceUnavailable');
      expect(failed?.$metadata?.httpStatusCode).toBe(503);
      s3.destroy();
    });

    it('resumes without a restart when the backend comes back, and the failed upload left no object', async () => {
      relay.setMode('forward');
      const response = await rawGet('k');
      expect(response.status).toBe(200);
      expect(response.text).toBe('before the outage');
      const s3 = server.client(account);
      const missing = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'during-outage' })).then(
        () => 'present',
        (error: { name: string }) => error.name,
      );
      expect(missing).toBe('NotFound');
      expect((await fetch(`${server.endpoint}/_health/status`)).status).toBe(200);
    });
  });
});
