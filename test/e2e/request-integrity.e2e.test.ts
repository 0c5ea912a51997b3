/**
 * Issue #9, items 1–3: what is signed is what is executed. Each test replays or alters a
 * captured request over the network against the real gateway, as an attacker holding a captured
 * header-signed request or a presigned URL would.
 */
import { CreateMultipartUploadCommand, GetObjectCommand, GetObjectTaggingCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { presignRaw, sendRaw, signRaw } from '../support/raw-s3.ts';

let server: TestServer;
let account: TestAccount;
const bucket = 'default';

async function put(key: string, body: string, tagging?: string): Promise<void> {
  await server.client(account).send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'text/plain', Tagging: tagging }));
}

async function read(key: string): Promise<string> {
  const output = await server.client(account).send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return output.Body!.transformToString();
}

beforeAll(async () => {
  server = await startTestServer();
  account = await server.createAccount();
  await put('shared.txt', 'shared');
  await put('shared.txt#private', 'private', 'secret=1');
  await put('target.txt', 'original');
  await put('other-secret.txt', 'other secret');
});

afterAll(async () => {
  await server?.close();
});

describe('a raw # in the request target is refused, never split between signature and operation', () => {
  it('a captured header-signed GET replayed with #private does not read key "shared.txt#private"', async () => {
    const signed = await signRaw(server.endpoint, account, { method: 'GET', path: `/${bucket}/shared.txt` });
    const genuine = await sendRaw(server.endpoint, signed);
    expect(genuine.status).toBe(200);
    expect(genuine.text).toBe('shared');

    const replayed = await sendRaw(server.endpoint, { ...signed, path: `/${bucket}/shared.txt#private` });
    expect(replayed.status).toBe(400);
    expect(replayed.code).toBe('InvalidURI');
    expect(replayed.text).not.toContain('private</');
    expect(replayed.headers['content-type']).toBe('application/xml');
  });

  it('a presigned GET plus #&response-content-type=text/html is not served inline as HTML', async () => {
    const url = await presignRaw(server.endpoint, account, { method: 'GET', path: `/${bucket}/shared.txt`, expiresIn: 600 });
    const attack = await sendRaw(server.endpoint, {
      method: 'GET',
      path: `${url}#&response-content-type=text/html&response-content-disposition=inline`,
    });
    expect(attack.status).toBe(400);
    expect(attack.code).toBe('InvalidURI');
    expect(attack.headers['content-type']).not.toContain('text/html');
    expect(attack.headers['content-disposition']).toBeUndefined();
  });

  it('a presigned URL plus #&tagging neither reads nor replaces tags', async () => {
    const getUrl = await presignRaw(server.endpoint, account, { method: 'GET', path: `/${bucket}/shared.txt%23private`, expiresIn: 600 });
    const readTags = await sendRaw(server.endpoint, { method: 'GET', path: `${getUrl}#&tagging` });
    expect(readTags.status).toBe(400);
    expect(readTags.code).toBe('InvalidURI');
    expect(readTags.text).not.toContain('<Key>secret</Key>');

    const putUrl = await presignRaw(server.endpoint, account, { method: 'PUT', path: `/${bucket}/shared.txt%23private`, expiresIn: 600 });
    const tagging = '<Tagging><TagSet><Tag><Key>evil</Key><Value>1</Value></Tag></TagSet></Tagging>';
    const replaceTags = await sendRaw(server.endpoint, { method: 'PUT', path: `${putUrl}#&tagging`, body: tagging });
    expect(replaceTags.status).toBe(400);
    expect(replaceTags.code).toBe('InvalidURI');
    const tags = await server.client(account).send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'shared.txt#private' }));
    expect(tags.TagSet).toEqual([{ Key: 'secret', Value: '1' }]);
    expect(await read('shared.txt#private')).toBe('private');
  });

  it('a key containing # still works when encoded as %23, as every client sends it', async () => {
    expect(await read('shared.txt#private')).toBe('private');
    const signed = await signRaw(server.endpoint, account, { method: 'GET', path: `/${bucket}/shared.txt%23private` });
    const response = await sendRaw(server.endpoint, signed);
    expect(response.status).toBe(200);
    expect(response.text).toBe('private');
  });
});

describe('every x-amz-* header must be signed, for header auth as for presigned URLs', () => {
  it('a captured header-signed PUT replayed with an added x-amz-copy-source copies nothing', async () => {
    const signed = await signRaw(server.endpoint, account, { method: 'PUT', path: `/${bucket}/target.txt`, body: 'updated' });
    const replayed = await sendRaw(server.endpoint, {
      ...signed,
      headers: { ...signed.headers, 'x-amz-copy-source': `/${bucket}/other-secret.txt` },
    });
    expect(replayed.status).toBe(403);
    expect(replayed.code).toBe('AccessDenied');
    expect(replayed.text).toContain('not signed');
    expect(await read('target.txt')).toBe('original');

    // The genuine request still works.
    expect((await sendRaw(server.endpoint, signed)).status).toBe(200);
    expect(await read('target.txt')).toBe('updated');
  });

  it('an added x-amz-meta-* or x-amz-tagging header on a header-signed PUT is refused', async () => {
    const signed = await signRaw(server.endpoint, account, { method: 'PUT', path: `/${bucket}/meta.txt`, body: 'x' });
    for (const [name, value] of [
      ['x-amz-meta-injected', '1'],
      ['x-amz-tagging', 'a=b'],
    ]) {
      const replayed = await sendRaw(server.endpoint, { ...signed, headers: { ...signed.headers, [name]: value } });
      expect(replayed.status).toBe(403);
      expect(replayed.code).toBe('AccessDenied');
    }
  });
});

describe('protocol values are parsed strictly', () => {
  it.each([
    ['CR LF', 'text/plain%0D%0AX-Injected:%201'],
    ['LF', 'text/plain%0AX-Injected:%201'],
    ['NUL', 'text/plain%00'],
  ])('response-content-type with %s answers 400 InvalidArgument, not 500', async (_name, value) => {
    const url = await presignRaw(server.endpoint, account, { method: 'GET', path: `/${bucket}/shared.txt?response-content-type=${value}`, expiresIn: 600 });
    const response = await sendRaw(server.endpoint, { method: 'GET', path: url });
    expect(response.status).toBe(400);
    expect(response.code).toBe('InvalidArgument');
    expect(response.headers['x-injected']).toBeUndefined();
    const headUrl = await presignRaw(server.endpoint, account, { method: 'HEAD', path: `/${bucket}/shared.txt?response-content-type=${value}`, expiresIn: 600 });
    const head = await sendRaw(server.endpoint, { method: 'HEAD', path: headUrl });
    expect(head.status).toBe(400);
  });

  it('a response-content-disposition with non-Latin-1 text is sent as UTF-8 bytes', async () => {
    const url = await presignRaw(server.endpoint, account, {
      method: 'GET',
      path: `/${bucket}/shared.txt?response-content-disposition=${encodeURIComponent('attachment; filename="文件.txt"')}`,
      expiresIn: 600,
    });
    const response = await sendRaw(server.endpoint, { method: 'GET', path: url });
    expect(response.status).toBe(200);
    expect(Buffer.from(response.headers['content-disposition'] as string, 'latin1').toString('utf8')).toBe('attachment; filename="文件.txt"');
  });

  it.each(['1e3', '%201%20', '0x1', '+1', '1.0', ''])('partNumber=%j on UploadPart answers 400 InvalidArgument', async (partNumber) => {
    const client = server.client(account);
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu.bin' }));
    const signed = await signRaw(server.endpoint, account, {
      method: 'PUT',
      path: `/${bucket}/mpu.bin?partNumber=${partNumber}&uploadId=${UploadId}`,
      body: 'part',
    });
    const response = await sendRaw(server.endpoint, signed);
    expect(response.status).toBe(400);
    expect(response.code).toBe('InvalidArgument');
  });

  it.each(['1e3', '%2010', '-1', '0x10'])('max-keys=%j answers 400 InvalidArgument', async (maxKeys) => {
    const signed = await signRaw(server.endpoint, account, { method: 'GET', path: `/${bucket}?list-type=2&max-keys=${maxKeys}` });
    const response = await sendRaw(server.endpoint, signed);
    expect(response.status).toBe(400);
    expect(response.code).toBe('InvalidArgument');
  });

  it.each(['1e0', ' 1 ', '01.0', '0x1'])('<PartNumber>%s</PartNumber> in CompleteMultipartUpload answers MalformedXML', async (partNumber) => {
    const client = server.client(account);
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'complete.bin' }));
    const { ETag } = await client.send(new UploadPartCommand({ Bucket: bucket, Key: 'complete.bin', UploadId, PartNumber: 1, Body: 'only part' }));
    const body = `<CompleteMultipartUpload><Part><PartNumber>${partNumber}</PartNumber><ETag>${ETag}</ETag></Part></CompleteMultipartUpload>`;
    const signed = await signRaw(server.endpoint, account, { method: 'POST', path: `/${bucket}/complete.bin?uploadId=${UploadId}`, body });
    const response = await sendRaw(server.endpoint, signed);
    expect(response.status).toBe(400);
    expect(response.code).toBe('MalformedXML');
    // The strict reading did not break the ordinary one.
    const ok = await sendRaw(
      server.endpoint,
      await signRaw(server.endpoint, account, {
        method: 'POST',
        path: `/${bucket}/complete.bin?uploadId=${UploadId}`,
        body: body.replace(`<PartNumber>${partNumber}</PartNumber>`, '<PartNumber>1</PartNumber>'),
      }),
    );
    expect(ok.status).toBe(200);
    expect(await read('complete.bin')).toBe('only part');
  });
});

describe('an upload refused partway through its body is answered, never cut off', () => {
  it('an aws-chunked PUT whose first chunk signature is wrong gets SignatureDoesNotMatch while the client is still sending, and stores nothing', async () => {
    // 8 MiB in 64 KiB chunks, each with a made-up signature: the first chunk fails, 8 MiB less
    // 64 KiB are still on their way. Destroying the request would have destroyed its socket,
    // and the client would have seen a reset instead of the error.
    const chunk = Buffer.alloc(64 * 1024, 5);
    const frame = (data: Buffer) => Buffer.concat([Buffer.from(`${data.length.toString(16)};chunk-signature=${'0'.repeat(64)}\r\n`), data, Buffer.from('\r\n')]);
    const body = Buffer.concat([...Array.from({ length: 128 }, () => frame(chunk)), frame(Buffer.alloc(0))]);
    const signed = await signRaw(server.endpoint, account, {
      method: 'PUT',
      path: `/${bucket}/chunked-refused.bin`,
      body,
      payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(128 * chunk.length) },
    });
    const response = await sendRaw(server.endpoint, signed);
    expect([response.status, response.code, response.headers.connection]).toEqual([403, 'SignatureDoesNotMatch', 'close']);
    const head = await sendRaw(server.endpoint, await signRaw(server.endpoint, account, { method: 'HEAD', path: `/${bucket}/chunked-refused.bin` }));
    expect(head.status).toBe(404);
  });
});
