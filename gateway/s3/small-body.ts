import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { checksumAlgorithmFromHeader, checksumOf } from '../../src/checksums/checksums.ts';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { decodeChecksumValue } from '../../src/s3-protocol/sigv4/payload-verifier.ts';
import type { VerifiedRequest } from '../../src/s3-protocol/sigv4/verify.ts';

/** Request bodies that are XML documents, never object data: bounded so they can't exhaust memory. */
export const MAX_SMALL_BODY_BYTES = 2 * 1024 * 1024;

export async function readSmallBody(incoming: IncomingMessage, limit = MAX_SMALL_BODY_BYTES): Promise<Buffer> {
  const declared = Number(incoming.headers['content-length'] ?? 0);
  if (declared > limit) throw new S3Error('MalformedXML', 'The XML you provided was larger than the maximum allowed.');
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new S3Error('MalformedXML', 'The XML you provided was larger than the maximum allowed.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Reads an XML request body and verifies what the client vouched for: the signed payload hash,
 * Content-MD5 and any `x-amz-checksum-*` header. DeleteObjects from current SDKs carries a CRC32
 * instead of Content-MD5, so either is accepted.
 */
export async function readVerifiedSmallBody(incoming: IncomingMessage, verified: Pick<VerifiedRequest, 'payload'>): Promise<Buffer> {
  if (verified.payload.kind !== 'sha256' && verified.payload.kind !== 'unsigned') {
    throw new S3Error('InvalidRequest', 'Streaming payloads are only accepted for object uploads.');
  }
  const body = await readSmallBody(incoming);
  if (verified.payload.kind === 'sha256') {
    const actual = createHash('sha256').update(body).digest('hex');
    if (actual !== verified.payload.hash) throw new S3Error('XAmzContentSHA256Mismatch');
  }
  const contentMd5 = incoming.headers['content-md5'];
  if (typeof contentMd5 === 'string') {
    const expected = Buffer.from(contentMd5, 'base64');
    if (expected.length !== 16) throw new S3Error('InvalidDigest');
    if (!sameBytes(createHash('md5').update(body).digest(), expected)) throw new S3Error('BadDigest');
  }
  for (const [name, value] of Object.entries(incoming.headers)) {
    const algorithm = checksumAlgorithmFromHeader(name);
    if (!algorithm || typeof value !== 'string') continue;
    const expected = decodeChecksumValue(algorithm, value);
    if (!expected) throw new S3Error('InvalidRequest', `Value for ${name} header is invalid.`);
    if (!sameBytes(checksumOf(algorithm, body), expected)) {
      throw new S3Error('BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`);
    }
  }
  return body;
}
