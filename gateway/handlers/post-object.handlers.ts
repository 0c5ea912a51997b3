/**
 * POST Object: the browser form upload (`<form method=post enctype=multipart/form-data
 * action=https://gateway/bucket>`). The request carries no Authorization header: its credentials
 * are form fields (`policy`, `x-amz-credential`, `x-amz-signature`…, src/s3-protocol/post-policy.ts),
 * so the gateway hands the request here before its anonymous refusal, and this handler
 * authenticates from the form. The file part is the last one read: every field before it is
 * known (and checked) before a byte of the file is accepted, and the file is streamed into the
 * objects service's putObject like any PUT (scope, bucket in the signer's account, quota, event).
 */
import { createPendingSecret } from '../s3/authenticate.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { openFormStream, type FormStream } from '../../src/http/form-stream.ts';
import type { ResolvedKey } from '../../src/keys/key-store.ts';
import { parseCannedAcl } from '../../src/objects/acl.ts';
import { keyPrincipal } from '../../src/objects/principal.ts';
import { checkPostPolicy, createPostSignatureVerifier, parsePostPolicy, type FormFields } from '../../src/s3-protocol/post-policy.ts';
import { createSigningKeyCache } from '../../src/s3-protocol/sigv4/signing-key-cache.ts';
import { document, text } from '../../src/s3-protocol/xml.ts';
import { header, parseObjectMetadata, parseTaggingXml } from '../s3/headers.ts';
import type { OperationOf } from './context.ts';
import type { GatewayDeps, S3RequestContext } from './context.ts';
import { MAX_KEY_BYTES, type RequestTarget } from '../s3/request-target.ts';
import { enforceAnonymousRateLimit } from '../s3/rate-limits.ts';
import { emptyResponse, xmlResponse, type S3Reply } from '../s3/responses.ts';
import { MAX_SINGLE_UPLOAD_BYTES, sendContinue } from '../s3/upload-body.ts';

/** S3's limit on the form fields that precede the file. */
const MAX_FIELDS_BYTES = 20 * 1024;
/** A refused form's unread rest is read and dropped up to this size (so a browser sees the answer); beyond it the connection closes. */
const DRAIN_LIMIT_BYTES = 1024 * 1024;

export interface PostObjectRequest {
  requestId: string;
  incoming: IncomingMessage;
  outgoing: ServerResponse;
  target: RequestTarget;
  operation: OperationOf<'PostObject'>;
  signal: AbortSignal;
}

export interface PostObjectOptions {
  /**
   * Called once the form's signature named its signer, before any file byte is accepted: counts
   * the request against the signer's account (access log, rate limit) and takes one of its upload
   * slots. Answers the slot's release.
   */
  admitSigner(request: PostObjectRequest, key: ResolvedKey): Promise<() => void>;
}

/** The form up to its file part. */
interface PostForm {
  fields: Map<string, string>;
  file: Readable;
  /** The file part's name (base name), for `${filename}` in the key. */
  filename: string;
  /** Settles when the whole request body was parsed (fields after the file are ignored, as S3 does). */
  finished: Promise<void>;
  /** Stops parsing (a refused request): the rest of the body is not parsed. */
  discard(): void;
  /** Why the body failed after the file began (truncated, malformed), if it did. */
  failure(): Error | undefined;
}

/**
 * Reads fields until the part named `file` (busboy, streaming): resolves with the fields and the
 * file's byte stream, not yet flowing. A field named `file` (a text value, no file name) is the file.
 */
function readPostForm(source: IncomingMessage, contentType: string): Promise<PostForm> {
  let form: FormStream;
  try {
    form = openFormStream(source, contentType, { fieldSize: MAX_FIELDS_BYTES, fields: 1000, parts: 1001 });
  } catch (error) {
    return Promise.reject(new S3Error('InvalidArgument', `The body of your POST request is not well-formed multipart/form-data: ${(error as Error).message}.`));
  }
  const { parser, finished, discard } = form;

  return new Promise((resolve, reject) => {
    const fields = new Map<string, string>();
    let fieldBytes = 0;
    let found = false;
    const refuse = (error: S3Error) => {
      if (found) return;
      found = true;
      discard();
      reject(error);
    };
    const accept = (file: Readable, filename: string) => {
      found = true;
      resolve({ fields, file, filename, finished, discard, failure: form.failure });
    };
    parser.on('field', (rawName, value, info) => {
      if (found) return; // after the file: ignored, as S3 does
      const name = rawName.toLowerCase();
      fieldBytes += Buffer.byteLength(rawName) + Buffer.byteLength(value);
      if (info.valueTruncated || fieldBytes > MAX_FIELDS_BYTES) return refuse(new S3Error('MaxPostPreDataLengthExceededError'));
      if (name === 'file') return accept(Readable.from([Buffer.from(value)]), '');
      if (fields.has(name)) {
        return refuse(new S3Error('InvalidArgument', `The form field '${rawName}' appears more than once.`, { details: { ArgumentName: rawName, ArgumentValue: value } }));
      }
      fields.set(name, value);
    });
    parser.on('file', (rawName, stream, info) => {
      if (found || rawName.toLowerCase() !== 'file') {
        // Another file part before the file is pre-data too (sent before any signature is
        // checked): its bytes count toward the fields' limit, so a form cannot stream unbounded.
        // A part the parser fails (a cut request, a refusal) must not be an uncaught error.
        stream.on('error', () => undefined);
        if (!found) {
          stream.on('data', (chunk: Buffer) => {
            fieldBytes += chunk.length;
            if (fieldBytes > MAX_FIELDS_BYTES) refuse(new S3Error('MaxPostPreDataLengthExceededError'));
          });
        }
        stream.resume();
        return;
      }
      // The parser fails the stream on a truncated body, maybe before anyone reads it: the
      // failure reaches the backend through the stream, the handler through failure().
      stream.on('error', () => undefined);
      accept(stream, info.filename ?? '');
    });
    parser.once('error', (error: Error) => refuse(new S3Error('InvalidArgument', `The body of your POST request is not well-formed multipart/form-data: ${error.message}.`)));
    parser.once('close', () =>
      refuse(new S3Error('InvalidArgument', 'POST requires exactly one file upload per request.', { details: { ArgumentName: 'file', ArgumentValue: '0' } })),
    );
    form.start();
  });
}

/** Counts the file's bytes against `content-length-range` as they stream: over or under, the stream fails and nothing is stored. */
class LengthRangeGuard extends Transform {
  private received = 0;
  refusal: S3Error | undefined;

  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.max) {
      this.refusal = new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', {
        details: { ProposedSize: String(this.received), MaxSizeAllowed: String(this.max) },
      });
      callback(this.refusal);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.received < this.min) {
      this.refusal = new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', {
        details: { ProposedSize: String(this.received), MinSizeAllowed: String(this.min) },
      });
      callback(this.refusal);
      return;
    }
    callback();
  }
}

/** The object fields S3 stores from a form, as the headers of a PUT would carry them. */
const METADATA_FIELDS = ['content-type', 'cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'];

function metadataOf(fields: FormFields) {
  const headers: Record<string, string> = {};
  for (const [name, value] of fields) {
    if (name.startsWith('x-amz-meta-') || METADATA_FIELDS.includes(name)) headers[name] = value;
  }
  return parseObjectMetadata(headers);
}

/** `success_action_redirect` when it is an absolute http(s) URL; S3 ignores anything else and answers the status. */
function redirectTarget(fields: FormFields): URL | undefined {
  const value = fields.get('success_action_redirect') ?? fields.get('redirect');
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Where the object is, addressed as the request addressed its bucket. */
function locationOf(request: PostObjectRequest, key: string): string {
  const scheme = (request.incoming.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  const host = header(request.incoming.headers, 'host') ?? 'localhost';
  const path = key.split('/').map(encodeURIComponent).join('/');
  return request.target.addressing === 'virtual-host' ? `${scheme}://${host}/${path}` : `${scheme}://${host}/${encodeURIComponent(request.operation.bucket)}/${path}`;
}

/** Reads and drops a refused form's small unread rest, so the client (a browser still sending) reads the answer. */
async function drainSmallRest(incoming: IncomingMessage, declared: number | undefined): Promise<void> {
  if (incoming.readableEnded || incoming.destroyed || declared === undefined || declared > DRAIN_LIMIT_BYTES) return;
  await new Promise<void>((resolve) => {
    incoming.once('end', resolve);
    incoming.once('close', resolve);
    incoming.resume();
  });
}

export function createPostObjectHandler(deps: GatewayDeps, options: PostObjectOptions) {
  const secret = createPendingSecret();
  const signatures = createPostSignatureVerifier({
    lookupSecret: secret.lookupSecret,
    region: deps.config.S3_REGION,
    regionStrict: deps.config.S3_REGION_STRICT,
    signingKeyCache: createSigningKeyCache({ maxEntries: 1000 }),
    sigV2: deps.config.S3_SIGV2,
  });

  async function store(request: PostObjectRequest, form: PostForm, declared: number | undefined): Promise<S3Reply> {
    const { fields } = form;
    // No policy: an anonymous upload, which only a public-write bucket would take (not supported).
    if (!fields.has('policy')) throw new S3Error('AccessDenied', 'Access Denied: a POST upload must be signed (policy and x-amz-signature fields).');
    // The key the form names is looked up first (asynchronously); the verifier then runs over it.
    const namedId = fields.get('awsaccesskeyid') ?? fields.get('x-amz-credential')?.split('/')[0];
    const named = namedId ? await deps.keyStore.lookup(namedId) : undefined;
    const credential = secret.with(named, () => signatures.verify(fields));
    const key = named?.accessKeyId === credential.accessKeyId ? named : undefined;
    if (!key) throw new S3Error('InvalidAccessKeyId', undefined, { details: { AWSAccessKeyId: credential.accessKeyId } });
    // The signer is known: from here the request counts against its account.
    const release = await options.admitSigner(request, key);
    try {
      return await storeAs(request, form, declared, key, credential.signatureFields);
    } finally {
      release();
    }
  }

  async function storeAs(request: PostObjectRequest, form: PostForm, declared: number | undefined, key: ResolvedKey, signatureFields: readonly string[]): Promise<S3Reply> {
    const { fields } = form;
    const bucket = request.operation.bucket;
    const range = checkPostPolicy(parsePostPolicy(fields.get('policy')!), fields, bucket, deps.clock.now().getTime(), signatureFields);

    const keyTemplate = fields.get('key');
    if (keyTemplate === undefined) {
      throw new S3Error('InvalidArgument', "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.", {
        details: { ArgumentName: 'key', ArgumentValue: '' },
      });
    }
    // biome-ignore lint/suspicious/noTemplateCurlyInString: S3's literal placeholder for the file's name.
    const objectKey = keyTemplate.replaceAll('${filename}', form.filename);
    if (objectKey === '') throw new S3Error('InvalidArgument', 'User key must have a length greater than 0.', { details: { ArgumentName: 'key', ArgumentValue: '' } });
    if (Buffer.byteLength(objectKey) > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError');
    // As PutObject's x-amz-acl: the objects service applies it (and refuses public ACLs when ALLOW_PUBLIC_ACCESS=false).
    const acl = parseCannedAcl(fields.get('acl'), 'acl');
    const metadata = metadataOf(fields);
    const tagging = fields.get('tagging');
    const tags = tagging === undefined ? undefined : parseTaggingXml(tagging);

    const max = Math.min(range?.max ?? MAX_SINGLE_UPLOAD_BYTES, MAX_SINGLE_UPLOAD_BYTES);
    // The whole request is an upper bound of the file: the quota holds before any byte is stored.
    const reserveBytes = Math.min(max, declared ?? max);
    if (declared === undefined && range === undefined) throw new S3Error('MissingContentLength');
    const guard = new LengthRangeGuard(range?.min ?? 0, max);

    const result = await deps.objects
      .putObject(keyPrincipal(key, request.incoming.socket.remoteAddress), {
        signal: request.signal,
        bucket,
        key: objectKey,
        metadata,
        tags,
        acl,
        reserveBytes,
        open: () => {
          // The client may have gone while the form was being checked: the part already failed.
          if (form.file.errored || form.file.destroyed) guard.destroy(form.file.errored ?? new Error('the request ended before the file was complete'));
          else form.file.pipe(guard);
          // Any failure of the part (a truncated body) fails the guard, so the backend drops what it wrote.
          form.file.once('error', (error) => guard.destroy(error));
          return { body: guard };
        },
      })
      .catch((error: unknown) => {
        throw guard.refusal ?? (form.failure() ? new S3Error('IncompleteBody', 'The request body ended before the file was complete; nothing was stored.') : error);
      });
    // The file is stored once its part ended; what follows it in the form changes nothing.
    await form.finished.catch(() => undefined);
    return successReply(request, fields, objectKey, result.etag, result.versionId);
  }

  function successReply(request: PostObjectRequest, fields: FormFields, key: string, etag: string, versionId: string | undefined): S3Reply {
    const location = locationOf(request, key);
    // The new version's id in a versioned bucket, on every form of the answer (as S3).
    const version: Record<string, string> = versionId === undefined ? {} : { 'x-amz-version-id': versionId };
    const redirect = redirectTarget(fields);
    if (redirect) {
      redirect.searchParams.append('bucket', request.operation.bucket);
      redirect.searchParams.append('key', key);
      redirect.searchParams.append('etag', etag);
      return emptyResponse(303, { Location: redirect.toString(), ETag: etag, ...version });
    }
    const status = fields.get('success_action_status');
    if (status === '201') {
      return xmlResponse(document('PostResponse', text('Location', location), text('Bucket', request.operation.bucket), text('Key', key), text('ETag', etag)), 201, {
        ETag: etag,
        Location: location,
        ...version,
      });
    }
    return emptyResponse(status === '200' ? 200 : 204, { ETag: etag, Location: location, ...version });
  }

  return async function postObject(request: PostObjectRequest): Promise<S3Reply> {
    const { incoming } = request;
    const contentType = header(incoming.headers, 'content-type') ?? '';
    if (!contentType.toLowerCase().startsWith('multipart/form-data')) {
      throw new S3Error('PreconditionFailed', 'Bucket POST must be of the enclosure-type multipart/form-data', {
        details: { Condition: 'Bucket POST must be of the enclosure-type-multipart/form-data' },
      });
    }
    // Until the form names its signer the request is unsigned: counted per client address, as anonymous requests are.
    await enforceAnonymousRateLimit(deps.rateLimiter, deps.config.RATE_LIMIT_ANONYMOUS, incoming.socket.remoteAddress);
    const lengthHeader = header(incoming.headers, 'content-length');
    const declared = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    // The credentials are in the body: it must be read to authenticate at all.
    sendContinue({ incoming, outgoing: request.outgoing } as S3RequestContext);
    let form: PostForm;
    try {
      form = await readPostForm(incoming, contentType);
    } catch (error) {
      await drainSmallRest(incoming, declared);
      throw error;
    }
    try {
      return await store(request, form, declared);
    } catch (error) {
      form.discard();
      form.file.resume();
      await drainSmallRest(incoming, declared);
      throw error;
    }
  };
}
