import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { checksumAlgorithmFromHeader, type ChecksumAlgorithm } from '../../src/checksums/checksums.ts';
import { S3Error } from '../../src/errors/s3-errors.ts';
import type { UploadChecksum } from '../../src/storage/storage-backend.ts';
import { awsChunkedOptionsFor, createAwsChunkedDecoder, type AwsChunkedDecoderOptions } from '../../src/s3-protocol/sigv4/aws-chunked.ts';
import { createPayloadVerifier } from '../../src/s3-protocol/sigv4/payload-verifier.ts';
import type { S3RequestContext } from '../handlers/context.ts';
import { header } from './headers.ts';
import { detachableBody, linkStreams } from '../../src/http/link-streams.ts';

/** S3's limit for one PUT (and one part). */
export const MAX_SINGLE_UPLOAD_BYTES = 5 * 1024 ** 3;

export interface UploadBody {
  /** Decoded, verified object bytes; errors (bad signature, digest mismatch, short body) before the last chunk leaves. */
  body: Readable;
  size: number;
  /**
   * The flexible checksum the client asked for. It has no value to read early: `result()`
   * settles once the verifier has checked the whole body (a trailer checksum arrives after the
   * data), resolving with the verified value and rejecting when the body failed.
   */
  checksum?: UploadChecksum;
}

function parseLength(value: string | undefined, headerName: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new S3Error('InvalidArgument', `Invalid ${headerName}`, { details: { ArgumentName: headerName } });
  return Number(value);
}

function requestedChecksum(ctx: S3RequestContext): { algorithm: ChecksumAlgorithm; expected?: string; inTrailer: boolean } | undefined {
  const headers = ctx.incoming.headers;
  const trailer = header(headers, 'x-amz-trailer');
  if (trailer) {
    const algorithm = checksumAlgorithmFromHeader(trailer.trim().toLowerCase());
    if (!algorithm) throw new S3Error('InvalidRequest', `Unsupported trailer: ${trailer}`);
    return { algorithm, inTrailer: true };
  }
  let found: { algorithm: ChecksumAlgorithm; expected?: string; inTrailer: boolean } | undefined;
  for (const [name, value] of Object.entries(headers)) {
    const algorithm = checksumAlgorithmFromHeader(name);
    if (!algorithm || typeof value !== 'string') continue;
    if (found) throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
    found = { algorithm, expected: value, inTrailer: false };
  }
  if (found) return found;
  // An algorithm named without a value: compute and store it, as S3 does.
  const sdkAlgorithm = header(headers, 'x-amz-sdk-checksum-algorithm')?.toUpperCase();
  const algorithm = sdkAlgorithm ? checksumAlgorithmFromHeader(`x-amz-checksum-${sdkAlgorithm.toLowerCase()}`) : undefined;
  return algorithm ? { algorithm, inTrailer: false } : undefined;
}

/**
 * The object byte stream of a PutObject/UploadPart: aws-chunked framing decoded and its chunk
 * signatures verified, then the payload SHA-256 and flexible checksum verified — with the last
 * bytes held back until everything checks out, so a failed upload never completes.
 */
export interface PreparedUpload {
  /** Object size in bytes (decoded length for aws-chunked), known before the body is read. */
  size: number;
  /** Starts reading the request body. Call only once the upload is accepted (quota, 100-continue). */
  open(): UploadBody;
}

/** Validates an upload's headers (length, checksum declarations) without touching its body. */
export function prepareUpload(ctx: S3RequestContext): PreparedUpload {
  const { incoming, verified } = ctx;
  const payload = verified.payload;
  // aws-chunked framing (STREAMING-*): decoder settings and the decoded length come from the verifier's module.
  // SigV2 has no signing key and no streaming payloads: its body is taken as sent.
  const chunked = 'signingKey' in verified ? awsChunkedOptionsFor(verified, incoming.headers) : undefined;
  const size = chunked ? chunked.decodedContentLength : parseLength(header(incoming.headers, 'content-length'), 'content-length');
  if (size === undefined) throw new S3Error('MissingContentLength');
  if (size > MAX_SINGLE_UPLOAD_BYTES) throw new S3Error('EntityTooLarge', undefined, { details: { ProposedSize: String(size), MaxSizeAllowed: String(MAX_SINGLE_UPLOAD_BYTES) } });

  const checksum = requestedChecksum(ctx);
  if (checksum?.inTrailer && payload.kind !== 'streaming-signed-trailer' && payload.kind !== 'streaming-unsigned-trailer') {
    throw new S3Error('InvalidRequest', 'x-amz-trailer requires a STREAMING-*-TRAILER payload.');
  }
  return { size, open: () => openUploadBody(ctx, size, chunked, checksum) };
}

function openUploadBody(
  ctx: S3RequestContext,
  size: number,
  chunked: AwsChunkedDecoderOptions | undefined,
  checksum: { algorithm: ChecksumAlgorithm; expected?: string; inTrailer: boolean } | undefined,
): UploadBody {
  const { incoming, verified } = ctx;
  const payload = verified.payload;
  const decoder = chunked ? createAwsChunkedDecoder(chunked) : undefined;

  // Nothing to verify (UNSIGNED-PAYLOAD, no checksum): the bytes go to the backend as they are.
  // Still through a stage of their own, never the request itself: a backend that fails partway
  // destroys the stream it reads, and destroying the request would destroy its socket and with it
  // the error response (see linkStreams' keepSource). The backend checks the length and Content-MD5.
  if (payload.kind === 'unsigned' && !checksum) {
    return { body: detachableBody(incoming), size };
  }

  const verifier = createPayloadVerifier({
    expectedSha256: payload.kind === 'sha256' ? payload.hash : undefined,
    checksum: checksum ? { algorithm: checksum.algorithm, expected: checksum.expected } : undefined,
    trailerChecksum: checksum?.inTrailer && decoder ? () => decoder.trailers[`x-amz-checksum-${checksum.algorithm.toLowerCase()}`] : undefined,
    expectedLength: size,
  });

  // Any stage failing (client gone, bad chunk signature) destroys the others, so the backend's
  // read of `verifier` errors and it discards the partial object.
  // The request itself is only detached, never destroyed, so the failure can still be answered.
  if (decoder) {
    linkStreams(incoming, decoder, { keepSource: true });
    linkStreams(decoder, verifier);
  } else {
    linkStreams(incoming, verifier, { keepSource: true });
  }

  if (!checksum) return { body: verifier, size };
  // Settled by the verifier itself: 'end' is emitted only after its flush verified every byte
  // (and the trailer); an error or a close before that means the body failed.
  const verifiedChecksum = new Promise<string>((resolve, reject) => {
    verifier.once('end', () => resolve(verifier.computedChecksum ?? checksum.expected ?? ''));
    verifier.once('error', reject);
    verifier.once('close', () => reject(new S3Error('IncompleteBody', 'The request body ended before it was verified.')));
  });
  // Nobody may ask (a backend that failed first): an unobserved rejection must not crash the process.
  verifiedChecksum.catch(() => undefined);
  return { body: verifier, size, checksum: { algorithm: checksum.algorithm, type: 'FULL_OBJECT', result: () => verifiedChecksum } };
}

const continued = new WeakSet<ServerResponse>();

/** Answers `Expect: 100-continue` only once the request was authenticated and validated. */
export function sendContinue(ctx: S3RequestContext): void {
  if (awaitsContinue(ctx.incoming, ctx.outgoing) && !ctx.outgoing.headersSent) {
    continued.add(ctx.outgoing);
    ctx.outgoing.writeContinue();
  }
}

/** The client sent `Expect: 100-continue` and still waits for the `100 Continue` (its body held back). */
export function awaitsContinue(incoming: IncomingMessage, outgoing: ServerResponse): boolean {
  return header(incoming.headers, 'expect')?.toLowerCase() === '100-continue' && !continued.has(outgoing);
}
