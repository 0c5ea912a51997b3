/**
 * Pass-through `Transform` that verifies a request payload (x-amz-content-sha256, a flexible
 * checksum from a header or an aws-chunked trailer, Content-MD5, the length) while streaming it,
 * and HOLDS BACK the most recent chunk: each chunk is pushed only when the next one arrives, the
 * last one only after every check passed in `_flush`. A downstream consumer that knows the
 * expected length (a remote S3 PUT with Content-Length, a temp file that is renamed into place on
 * a complete write) therefore never receives the complete body when verification fails.
 *
 * Wiring in the gateway (one request):
 *
 *   import { pipeline } from 'node:stream/promises';
 *
 *   const verified = sigv4.verify({ method: req.method!, rawUrl: req.url!, headers: req.headers, rawHeaders: req.rawHeaders });
 *   const chunked = awsChunkedOptionsFor(verified, req.headers);          // undefined unless STREAMING-*
 *   const decoder = chunked ? createAwsChunkedDecoder(chunked) : undefined;
 *   // checksum algorithm: x-amz-checksum-<alg> header, else x-amz-trailer, else x-amz-sdk-checksum-algorithm
 *   const trailerName = chunked?.expectTrailer?.find((n) => checksumAlgorithmFromHeader(n));
 *   const verifier = createPayloadVerifier({
 *     expectedSha256: verified.payload.kind === 'sha256' ? verified.payload.hash : undefined,
 *     checksum: algorithm ? { algorithm, expected: req.headers[`x-amz-checksum-${algorithm.toLowerCase()}`] } : undefined,
 *     trailerChecksum: decoder && trailerName ? () => decoder.trailers[trailerName] : undefined,
 *     contentMd5: req.headers['content-md5'],
 *     expectedLength: chunked ? chunked.decodedContentLength : Number(req.headers['content-length']),
 *   });
 *   await pipeline(decoder ? [req, decoder, verifier, sink] : [req, verifier, sink]);
 *   // verifier.computedChecksum (base64) / verifier.computedMd5Hex are now available.
 *
 * `createPayloadVerifier` validates the header-supplied checksum / Content-MD5 synchronously
 * (throws InvalidRequest / InvalidDigest before any body is read).
 *
 * Errors: sha256 mismatch → XAmzContentSHA256Mismatch; checksum mismatch → BadDigest; malformed
 * checksum value → InvalidRequest ("Value for x-amz-checksum-crc32 header is invalid.");
 * Content-MD5 malformed → InvalidDigest, mismatch → BadDigest; length differs → IncompleteBody.
 */
import { createHash, timingSafeEqual, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { CHECKSUM_DIGEST_BYTES, checksumHeaderName, createChecksummer, type ChecksumAlgorithm, type Checksummer } from '../../checksums/checksums.ts';
import { S3Error } from '../../errors/s3-errors.ts';

export interface PayloadVerifierOptions {
  /** Hex sha256 the client declared (payload mode 'sha256'). */
  expectedSha256?: string;
  /**
   * Flexible checksum to compute; `expected` (base64, from the `x-amz-checksum-*` header) is
   * verified when given, else the value from `trailerChecksum` is, else it is only computed.
   */
  checksum?: { algorithm: ChecksumAlgorithm; expected?: string };
  /**
   * Read in `_flush`, i.e. after the upstream (the aws-chunked decoder) has ended; used when
   * `checksum.expected` is absent. Pass it only when a checksum trailer was declared: returning
   * undefined is an error (InvalidRequest).
   */
  trailerChecksum?: () => string | undefined;
  /** Content-MD5 header value (base64). */
  contentMd5?: string;
  /** Compute the MD5 even without Content-MD5 (e.g. for the ETag). */
  computeMd5?: boolean;
  /** Exact payload length (Content-Length or x-amz-decoded-content-length). */
  expectedLength?: number;
}

export interface PayloadVerifier extends Transform {
  /** Bytes seen so far. */
  readonly receivedLength: number;
  /** base64 of the computed flexible checksum; set once the stream has been verified. */
  readonly computedChecksum: string | undefined;
  /** Hex sha256 of the payload (only when expectedSha256 was given); set after verification. */
  readonly computedSha256: string | undefined;
  /** Hex MD5 (only with contentMd5 / computeMd5); set after verification. */
  readonly computedMd5Hex: string | undefined;
}

/**
 * Decodes a base64 checksum value and checks its digest length; undefined when invalid.
 * Exported so the gateway can validate header values itself.
 */
export function decodeChecksumValue(algorithm: ChecksumAlgorithm, value: string): Buffer | undefined {
  const trimmed = value.trim();
  const bytes = CHECKSUM_DIGEST_BYTES[algorithm];
  // Canonical padded base64 of exactly `bytes` bytes.
  if (trimmed.length !== Math.ceil(bytes / 3) * 4) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return undefined;
  const decoded = Buffer.from(trimmed, 'base64');
  if (decoded.length !== bytes) return undefined;
  return decoded;
}

function invalidChecksumValue(algorithm: ChecksumAlgorithm, trailer: boolean): S3Error {
  return new S3Error('InvalidRequest', `Value for ${checksumHeaderName(algorithm)} ${trailer ? 'trailing header' : 'header'} is invalid.`);
}

function decodeMd5(value: string): Buffer | undefined {
  const trimmed = value.trim();
  if (trimmed.length !== 24 || !/^[A-Za-z0-9+/]{22}==$/.test(trimmed)) return undefined;
  return Buffer.from(trimmed, 'base64');
}

function equalBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

class Verifier extends Transform implements PayloadVerifier {
  receivedLength = 0;
  computedChecksum: string | undefined;
  computedSha256: string | undefined;
  computedMd5Hex: string | undefined;

  private held: Buffer | null = null;
  private readonly sha256: Hash | null;
  private readonly md5: Hash | null;
  private readonly checksummer: Checksummer | null;
  private readonly expectedHeaderChecksum: Buffer | undefined;
  private readonly expectedMd5: Buffer | undefined;

  constructor(private readonly options: PayloadVerifierOptions) {
    super();
    if (options.expectedSha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(options.expectedSha256)) {
      throw new S3Error('InvalidArgument', 'x-amz-content-sha256 is not a valid sha256 value.', {
        details: { ArgumentName: 'x-amz-content-sha256', ArgumentValue: options.expectedSha256.slice(0, 128) },
      });
    }
    this.sha256 = options.expectedSha256 !== undefined ? createHash('sha256') : null;
    if (options.checksum) {
      this.checksummer = createChecksummer(options.checksum.algorithm);
      if (options.checksum.expected !== undefined) {
        this.expectedHeaderChecksum = decodeChecksumValue(options.checksum.algorithm, options.checksum.expected);
        if (this.expectedHeaderChecksum === undefined) throw invalidChecksumValue(options.checksum.algorithm, false);
      }
    } else {
      this.checksummer = null;
    }
    if (options.contentMd5 !== undefined) {
      this.expectedMd5 = decodeMd5(options.contentMd5);
      if (this.expectedMd5 === undefined) throw new S3Error('InvalidDigest');
    }
    this.md5 = options.contentMd5 !== undefined || options.computeMd5 ? createHash('md5') : null;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length === 0) {
      callback();
      return;
    }
    this.receivedLength += chunk.length;
    const expectedLength = this.options.expectedLength;
    if (expectedLength !== undefined && this.receivedLength > expectedLength) {
      callback(new S3Error('IncompleteBody', `The body is longer than the declared ${expectedLength} bytes.`));
      return;
    }
    if (this.sha256 !== null) this.sha256.update(chunk);
    if (this.checksummer !== null) this.checksummer.update(chunk);
    if (this.md5 !== null) this.md5.update(chunk);
    const previous = this.held;
    this.held = chunk;
    if (previous !== null) this.push(previous);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.verify();
    } catch (error) {
      this.held = null;
      callback(error as Error);
      return;
    }
    const last = this.held;
    this.held = null;
    if (last !== null) this.push(last);
    callback();
  }

  private verify(): void {
    const { options } = this;
    if (options.expectedLength !== undefined && this.receivedLength !== options.expectedLength) {
      throw new S3Error('IncompleteBody', undefined, {
        details: { ExpectedLength: String(options.expectedLength), ReceivedLength: String(this.receivedLength) },
      });
    }
    if (this.sha256 !== null) {
      const computed = this.sha256.digest('hex');
      const expected = options.expectedSha256!.toLowerCase();
      if (computed !== expected) {
        throw new S3Error('XAmzContentSHA256Mismatch', undefined, {
          details: { ClientComputedContentSHA256: expected, S3ComputedContentSHA256: computed },
        });
      }
      this.computedSha256 = computed;
    }
    if (this.md5 !== null) {
      const digest = this.md5.digest();
      if (this.expectedMd5 !== undefined && !equalBytes(digest, this.expectedMd5)) {
        throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', {
          details: {
            ExpectedDigest: this.expectedMd5.toString('base64'),
            CalculatedDigest: digest.toString('base64'),
          },
        });
      }
      this.computedMd5Hex = digest.toString('hex');
    }
    if (this.checksummer !== null) {
      const algorithm = options.checksum!.algorithm;
      const digest = this.checksummer.digest();
      let expected = this.expectedHeaderChecksum;
      if (expected === undefined && options.trailerChecksum) {
        const fromTrailer = options.trailerChecksum();
        if (fromTrailer === undefined) {
          throw new S3Error('InvalidRequest', `The ${checksumHeaderName(algorithm)} trailing header is missing.`);
        }
        expected = decodeChecksumValue(algorithm, fromTrailer);
        if (expected === undefined) throw invalidChecksumValue(algorithm, true);
      }
      if (expected !== undefined && !equalBytes(digest, expected)) {
        throw new S3Error('BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`, {
          details: { Algorithm: algorithm, ExpectedChecksum: expected.toString('base64'), CalculatedChecksum: digest.toString('base64') },
        });
      }
      this.computedChecksum = digest.toString('base64');
    }
  }
}

export function createPayloadVerifier(options: PayloadVerifierOptions): PayloadVerifier {
  return new Verifier(options);
}
