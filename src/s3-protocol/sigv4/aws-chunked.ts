/**
 * Streaming decoder for `Content-Encoding: aws-chunked` request bodies (the three SigV4
 * streaming payload modes), as a Node `Transform`: aws-chunked bytes in, payload bytes out.
 *
 * Wire format (all line ends CRLF):
 *
 *   signed / signed-trailer:   <hex-size>;chunk-signature=<sig>\r\n<data>\r\n … 0;chunk-signature=<sig>\r\n
 *   unsigned-trailer:          <hex-size>\r\n<data>\r\n … 0\r\n
 *   then a trailer section:    [<name>:<value>\r\n]… [x-amz-trailer-signature:<sig>\r\n] \r\n
 *   (`signed` has an empty trailer section, i.e. the body ends `0;chunk-signature=<sig>\r\n\r\n`)
 *
 * Chunk signature (chained from the request's seed signature):
 *   HMAC(signingKey, "AWS4-HMAC-SHA256-PAYLOAD\n<amzDate>\n<scope>\n<previous sig>\n<sha256('')>\n<sha256(data)>")
 * Trailer signature (chained from the final, zero-length chunk's signature):
 *   HMAC(signingKey, "AWS4-HMAC-SHA256-TRAILER\n<amzDate>\n<scope>\n<previous sig>\n<sha256(trailers)>")
 *   where trailers = every trailer but the signature, sorted by name, as "<name>:<value>\n".
 *
 * Data is hashed and pushed downstream as it arrives (never a whole chunk buffered), so a bad
 * chunk signature is only detected at the chunk's end, after its bytes went downstream; put a
 * payload verifier (payload-verifier.ts) behind this decoder — it holds the final bytes back
 * until everything, including this decoder's end-of-stream checks, has passed.
 *
 * Errors (the stream is destroyed with an S3Error):
 * - chunk or trailer signature mismatch                → SignatureDoesNotMatch
 * - truncated body, wrong CRLFs, decoded length differs from x-amz-decoded-content-length
 *                                                      → IncompleteBody
 * - unparseable chunk header / trailer, oversized line, undeclared/missing/duplicate trailer,
 *   trailers on a `signed` stream, bytes after the end → InvalidRequest
 */
import { createHash, createHmac, timingSafeEqual, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from '../../errors/s3-errors.ts';
import { EMPTY_SHA256 } from './canonical.ts';
import type { VerifiedRequest } from './verify.ts';

export type AwsChunkedMode = 'signed' | 'signed-trailer' | 'unsigned-trailer';

export interface AwsChunkedDecoderOptions {
  mode: AwsChunkedMode;
  /** Required for the signed modes. */
  signingKey?: Buffer;
  seedSignature?: string;
  amzDate?: string;
  scope?: string;
  /** `x-amz-decoded-content-length`; enforced when given. */
  decodedContentLength?: number;
  /**
   * Lower-case trailer names from `x-amz-trailer`. When given, exactly these trailers must
   * arrive; when undefined, any trailers are accepted and none is required.
   */
  expectTrailer?: string[];
  /** Longest accepted chunk-header or trailer line, CRLF included. Default 4 KiB. */
  maxLineLength?: number;
}

export interface AwsChunkedDecoder extends Transform {
  /** Trailer values by lower-case name (signature excluded); complete once the stream ends. */
  readonly trailers: Record<string, string>;
  /** Payload bytes emitted so far. */
  readonly decodedLength: number;
}

const enum State {
  Header,
  Data,
  DataCr,
  DataLf,
  Trailer,
  Done,
}

const MAX_TRAILER_LINES = 64;
const MAX_TRAILER_BYTES = 16 * 1024;
const CHUNK_SIGNATURE_PREFIX = 'chunk-signature=';
const TRAILER_SIGNATURE = 'x-amz-trailer-signature';

function incomplete(message = 'The aws-chunked body ended before the final chunk.'): S3Error {
  return new S3Error('IncompleteBody', message);
}

function invalid(message: string): S3Error {
  return new S3Error('InvalidRequest', message);
}

function sameHex(expected: string, provided: string): boolean {
  if (provided.length !== expected.length) return false;
  const a = Buffer.from(expected, 'latin1');
  const b = Buffer.from(provided.toLowerCase(), 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Parses 1–14 hex digits (≤ 2^53); -1 if malformed. */
function parseHexSize(s: string): number {
  if (s.length === 0 || s.length > 13) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
    else return -1;
    n = n * 16 + d;
  }
  return n;
}

class Decoder extends Transform implements AwsChunkedDecoder {
  readonly trailers: Record<string, string> = {};
  decodedLength = 0;

  private readonly signed: boolean;
  private readonly mode: AwsChunkedMode;
  private readonly signingKey: Buffer | undefined;
  private readonly payloadPrefix: string;
  private readonly trailerPrefix: string;
  private readonly decodedContentLength: number | undefined;
  private readonly expectTrailer: string[] | undefined;
  private readonly maxLineLength: number;

  private state = State.Header;
  private prevSignature: string;
  private pendingLine: Buffer[] = [];
  private pendingLineLength = 0;
  private remaining = 0;
  private hash: Hash | null = null;
  private chunkSignature = '';
  private trailerLines = 0;
  private trailerBytes = 0;
  private trailerSignature: string | undefined;

  constructor(options: AwsChunkedDecoderOptions) {
    super();
    this.mode = options.mode;
    this.signed = options.mode !== 'unsigned-trailer';
    if (this.signed) {
      if (!options.signingKey || !options.seedSignature || !options.amzDate || !options.scope) {
        throw new TypeError('aws-chunked: signed modes need signingKey, seedSignature, amzDate and scope');
      }
    }
    this.signingKey = options.signingKey;
    this.prevSignature = options.seedSignature ?? '';
    this.payloadPrefix = 'AWS4-HMAC-SHA256-PAYLOAD\n' + options.amzDate + '\n' + options.scope + '\n';
    this.trailerPrefix = 'AWS4-HMAC-SHA256-TRAILER\n' + options.amzDate + '\n' + options.scope + '\n';
    this.decodedContentLength = options.decodedContentLength;
    this.expectTrailer = options.expectTrailer?.map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
    this.maxLineLength = options.maxLineLength ?? 4096;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(chunk);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.mode === 'unsigned-trailer' && this.state === State.Trailer && this.pendingLineLength === 0 && this.trailerLines === 0) {
        // EOF right after the zero-length chunk's header line: the AWS JS SDK ends an
        // unsigned aws-chunked body that carries no trailer with "0\r\n" and no final CRLF.
        this.finishTrailers();
      }
      if (this.state !== State.Done) throw incomplete();
      if (this.decodedContentLength !== undefined && this.decodedLength !== this.decodedContentLength) {
        throw incomplete(`The decoded body is ${this.decodedLength} bytes; x-amz-decoded-content-length says ${this.decodedContentLength}.`);
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  private consume(chunk: Buffer): void {
    const length = chunk.length;
    let pos = 0;
    while (pos < length) {
      switch (this.state) {
        case State.Data: {
          const n = Math.min(this.remaining, length - pos);
          const slice = chunk.subarray(pos, pos + n);
          if (this.hash !== null) this.hash.update(slice);
          this.decodedLength += n;
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) this.state = State.DataCr;
          this.push(slice);
          break;
        }
        case State.DataCr:
          if (chunk[pos] !== 0x0d) throw incomplete('A chunk is longer than its declared size.');
          pos++;
          this.state = State.DataLf;
          break;
        case State.DataLf:
          if (chunk[pos] !== 0x0a) throw incomplete('A chunk is longer than its declared size.');
          pos++;
          this.endChunk();
          this.state = State.Header;
          break;
        case State.Header:
        case State.Trailer: {
          const nl = chunk.indexOf(0x0a, pos);
          const end = nl === -1 ? length : nl;
          this.pendingLineLength += end - pos;
          if (this.pendingLineLength + (nl === -1 ? 0 : 1) > this.maxLineLength) {
            throw invalid('An aws-chunked header or trailer line is too long.');
          }
          if (nl === -1) {
            // Partial line: copy, the producer may reuse its buffer.
            this.pendingLine.push(Buffer.from(chunk.subarray(pos, end)));
            pos = length;
            break;
          }
          let line: Buffer;
          if (this.pendingLine.length === 0) line = chunk.subarray(pos, end);
          else {
            this.pendingLine.push(chunk.subarray(pos, end));
            line = Buffer.concat(this.pendingLine, this.pendingLineLength);
            this.pendingLine = [];
          }
          this.pendingLineLength = 0;
          pos = nl + 1;
          if (this.state === State.Header) this.onHeaderLine(line);
          else this.onTrailerLine(line);
          break;
        }
        case State.Done:
          throw invalid('Unexpected data after the end of the aws-chunked body.');
      }
    }
  }

  private onHeaderLine(line: Buffer): void {
    if (line.length === 0 || line[line.length - 1] !== 0x0d) {
      throw invalid('Malformed aws-chunked chunk header (expected CRLF).');
    }
    const text = line.toString('latin1', 0, line.length - 1);
    const semi = text.indexOf(';');
    const size = parseHexSize(semi === -1 ? text : text.slice(0, semi));
    if (size < 0) throw invalid('Malformed aws-chunked chunk size.');
    if (this.signed) {
      if (semi === -1 || !text.startsWith(CHUNK_SIGNATURE_PREFIX, semi + 1)) {
        throw invalid('Missing chunk-signature in a signed aws-chunked body.');
      }
      this.chunkSignature = text.slice(semi + 1 + CHUNK_SIGNATURE_PREFIX.length);
    }
    if (size === 0) {
      if (this.signed) this.verifyChunk(EMPTY_SHA256);
      this.state = State.Trailer;
      return;
    }
    if (this.decodedContentLength !== undefined && this.decodedLength + size > this.decodedContentLength) {
      throw incomplete('The aws-chunked body is longer than x-amz-decoded-content-length.');
    }
    this.remaining = size;
    this.hash = this.signed ? createHash('sha256') : null;
    this.state = State.Data;
  }

  private endChunk(): void {
    if (this.hash !== null) {
      const digest = this.hash.digest('hex');
      this.hash = null;
      this.verifyChunk(digest);
    }
  }

  private verifyChunk(dataSha256: string): void {
    const stringToSign = this.payloadPrefix + this.prevSignature + '\n' + EMPTY_SHA256 + '\n' + dataSha256;
    const expected = createHmac('sha256', this.signingKey!).update(stringToSign).digest('hex');
    if (!sameHex(expected, this.chunkSignature)) {
      throw new S3Error('SignatureDoesNotMatch', 'The chunk signature we calculated does not match the signature you provided.');
    }
    this.prevSignature = expected;
  }

  private onTrailerLine(line: Buffer): void {
    let end = line.length;
    if (end > 0 && line[end - 1] === 0x0d) end--;
    if (end === 0) {
      this.finishTrailers();
      return;
    }
    this.trailerLines++;
    this.trailerBytes += line.length + 1;
    if (this.trailerLines > MAX_TRAILER_LINES || this.trailerBytes > MAX_TRAILER_BYTES) {
      throw invalid('Too many trailing headers.');
    }
    const text = line.toString('latin1', 0, end);
    const colon = text.indexOf(':');
    if (colon <= 0) throw invalid('Malformed trailing header.');
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (name === TRAILER_SIGNATURE) {
      if (this.trailerSignature !== undefined) throw invalid('Duplicate x-amz-trailer-signature.');
      this.trailerSignature = value;
      return;
    }
    if (Object.hasOwn(this.trailers, name)) throw invalid(`Duplicate trailing header ${name}.`);
    if (this.expectTrailer !== undefined && !this.expectTrailer.includes(name)) {
      throw invalid(`The trailing header ${name} was not declared in x-amz-trailer.`);
    }
    Object.defineProperty(this.trailers, name, { value, enumerable: true, writable: true, configurable: true });
  }

  private finishTrailers(): void {
    const names = Object.keys(this.trailers);
    if (this.mode === 'signed' && (names.length > 0 || this.trailerSignature !== undefined)) {
      throw invalid('Trailing headers are not allowed with STREAMING-AWS4-HMAC-SHA256-PAYLOAD.');
    }
    if (this.expectTrailer !== undefined) {
      for (const expected of this.expectTrailer) {
        if (!Object.hasOwn(this.trailers, expected)) {
          throw invalid(`The trailing header ${expected} declared in x-amz-trailer is missing.`);
        }
      }
    }
    if (this.mode === 'signed-trailer' && (names.length > 0 || this.trailerSignature !== undefined)) {
      if (this.trailerSignature === undefined) {
        throw new S3Error('SignatureDoesNotMatch', 'The trailing headers are missing x-amz-trailer-signature.');
      }
      names.sort();
      let canonical = '';
      for (const name of names) canonical += name + ':' + this.trailers[name] + '\n';
      const stringToSign = this.trailerPrefix + this.prevSignature + '\n' + createHash('sha256').update(canonical, 'latin1').digest('hex');
      const expected = createHmac('sha256', this.signingKey!).update(stringToSign).digest('hex');
      if (!sameHex(expected, this.trailerSignature)) {
        throw new S3Error('SignatureDoesNotMatch', 'The trailer signature we calculated does not match the signature you provided.');
      }
      this.prevSignature = expected;
    }
    this.state = State.Done;
  }
}

export function createAwsChunkedDecoder(options: AwsChunkedDecoderOptions): AwsChunkedDecoder {
  return new Decoder(options);
}

function headerString(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Decoder options for a verified request, or undefined when its payload is not aws-chunked
 * (`x-amz-content-sha256` is a hash or UNSIGNED-PAYLOAD). Reads `x-amz-decoded-content-length`
 * (InvalidArgument when malformed) and `x-amz-trailer`.
 */
export function awsChunkedOptionsFor(
  verified: Pick<VerifiedRequest, 'payload' | 'signingKey' | 'seedSignature' | 'amzDate' | 'scope'>,
  headers: IncomingHttpHeaders,
): AwsChunkedDecoderOptions | undefined {
  let mode: AwsChunkedMode;
  switch (verified.payload.kind) {
    case 'streaming-signed':
      mode = 'signed';
      break;
    case 'streaming-signed-trailer':
      mode = 'signed-trailer';
      break;
    case 'streaming-unsigned-trailer':
      mode = 'unsigned-trailer';
      break;
    default:
      return undefined;
  }
  let decodedContentLength: number | undefined;
  const decoded = headerString(headers['x-amz-decoded-content-length']);
  if (decoded !== undefined) {
    const trimmed = decoded.trim();
    if (!/^\d{1,16}$/.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) {
      throw new S3Error('InvalidArgument', 'x-amz-decoded-content-length is not a valid length.', {
        details: { ArgumentName: 'x-amz-decoded-content-length', ArgumentValue: decoded.slice(0, 64) },
      });
    }
    decodedContentLength = Number(trimmed);
  }
  const trailerHeader = headers['x-amz-trailer'];
  let expectTrailer: string[] | undefined;
  if (trailerHeader !== undefined) {
    const joined = Array.isArray(trailerHeader) ? trailerHeader.join(',') : trailerHeader;
    expectTrailer = joined
      .split(',')
      .map((n) => n.trim().toLowerCase())
      .filter((n) => n !== '');
    if (mode === 'signed' && expectTrailer.length > 0) {
      throw invalid('x-amz-trailer requires a STREAMING-*-TRAILER x-amz-content-sha256.');
    }
  }
  return {
    mode,
    signingKey: verified.signingKey,
    seedSignature: verified.seedSignature,
    amzDate: verified.amzDate,
    scope: verified.scope,
    decodedContentLength,
    expectTrailer,
  };
}
