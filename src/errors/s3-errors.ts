import type { ErrorKind } from './error-kind.ts';

/**
 * The one catalog of S3 error codes the service emits. Backends throw `S3Error` with a code
 * from here; the gateway renders it as S3 XML (src/errors/render-s3.ts). Status and default
 * message live here so that a code always carries the same status, whichever layer raised it;
 * the domain kind is how the JSON doors answer it (src/errors/render-json.ts): a backend's
 * ServiceUnavailable is `unavailable` there too (503 + Retry-After), never a 500.
 */
export const S3_ERRORS = {
  AccessDenied: [403, 'Access Denied', 'forbidden'],
  // A CORS preflight no rule of the bucket allows (gateway/s3/cors.ts); AWS's code for it.
  AccessForbidden: [403, 'CORSResponse: This CORS request is not allowed.', 'forbidden'],
  AuthorizationHeaderMalformed: [400, 'The authorization header is malformed.', 'invalid_input'],
  AuthorizationQueryParametersError: [400, 'Error parsing the X-Amz-Credential parameter.', 'invalid_input'],
  BadRequest: [400, 'Bad Request', 'invalid_input'],
  BadDigest: [400, 'The Content-MD5 or checksum you specified did not match what we received.', 'invalid_input'],
  BucketAlreadyExists: [409, 'The requested bucket name is not available.', 'conflict'],
  BucketAlreadyOwnedByYou: [409, 'Your previous request to create the named bucket succeeded and you already own it.', 'conflict'],
  BucketNotEmpty: [409, 'The bucket you tried to delete is not empty.', 'conflict'],
  // A conditional write (If-Match / If-None-Match) met another write of the same key being committed: retry.
  ConditionalRequestConflict: [409, 'The conditional request cannot succeed due to a conflicting operation against this resource.', 'conflict'],
  EntityTooLarge: [400, 'Your proposed upload exceeds the maximum allowed object size.', 'too_large'],
  EntityTooSmall: [400, 'Your proposed upload is smaller than the minimum allowed object size.', 'invalid_input'],
  ExpiredToken: [400, 'The provided token has expired.', 'unauthenticated'],
  IncompleteBody: [400, 'You did not provide the number of bytes specified by the Content-Length HTTP header.', 'invalid_input'],
  InternalError: [500, 'We encountered an internal error. Please try again.', 'internal'],
  // Not an AWS code (S3 never runs out of space): HTTP's 507, under the name clients show.
  InsufficientStorage: [507, 'There is not enough free space to store this data. Delete objects to free space, then retry.', 'insufficient_storage'],
  InvalidAccessKeyId: [403, 'The AWS access key Id you provided does not exist in our records.', 'unauthenticated'],
  InvalidArgument: [400, 'Invalid Argument', 'invalid_input'],
  InvalidBucketName: [400, 'The specified bucket is not valid.', 'invalid_input'],
  InvalidChunkSizeError: [403, 'Only the last chunk is allowed to have a size less than 8192 bytes', 'invalid_input'],
  InvalidDigest: [400, 'The Content-MD5 or checksum you specified is not valid.', 'invalid_input'],
  InvalidPart: [
    400,
    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
    'invalid_input',
  ],
  InvalidPartOrder: [400, 'The list of parts was not in ascending order. Parts must be ordered by part number.', 'invalid_input'],
  // POST Object (browser form uploads, src/s3-protocol/post-policy.ts): a policy document that does not parse.
  InvalidPolicyDocument: [400, 'The content of the form does not meet the conditions specified in the policy document.', 'invalid_input'],
  InvalidRange: [416, 'The requested range is not satisfiable', 'range_not_satisfiable'],
  InvalidPartNumber: [416, 'The requested partnumber is not satisfiable', 'range_not_satisfiable'],
  InvalidRequest: [400, 'Invalid Request', 'invalid_input'],
  InvalidURI: [400, "Couldn't parse the specified URI.", 'invalid_input'],
  InvalidStorageClass: [400, 'The storage class you specified is not valid.', 'invalid_input'],
  InvalidTag: [400, 'The tag provided was not a valid tag.', 'invalid_input'],
  KeyTooLongError: [400, 'Your key is too long.', 'invalid_input'],
  MalformedACLError: [400, 'The XML you provided was not well-formed or did not validate against our published schema.', 'invalid_input'],
  MalformedXML: [400, 'The XML you provided was not well-formed or did not validate against our published schema.', 'invalid_input'],
  MaxPostPreDataLengthExceededError: [400, 'Your POST request fields preceding the upload file were too large.', 'invalid_input'],
  MetadataTooLarge: [400, 'Your metadata headers exceed the maximum allowed metadata size.', 'invalid_input'],
  MethodNotAllowed: [405, 'The specified method is not allowed against this resource.', 'method_not_allowed'],
  MissingContentLength: [411, 'You must provide the Content-Length HTTP header.', 'length_required'],
  MissingSecurityHeader: [400, 'Your request is missing a required header.', 'invalid_input'],
  NoSuchBucket: [404, 'The specified bucket does not exist.', 'not_found'],
  NoSuchCORSConfiguration: [404, 'The CORS configuration does not exist', 'not_found'],
  NoSuchKey: [404, 'The specified key does not exist.', 'not_found'],
  NoSuchVersion: [404, 'The specified version does not exist.', 'not_found'],
  NoSuchUpload: [404, 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', 'not_found'],
  NotImplemented: [501, 'A header or query you provided implies functionality that is not implemented.', 'not_implemented'],
  NotModified: [304, 'Not Modified', 'not_modified'],
  PreconditionFailed: [412, 'At least one of the pre-conditions you specified did not hold.', 'precondition_failed'],
  QuotaExceeded: [403, 'Upload would exceed your storage quota.', 'quota_exceeded'],
  RequestTimeTooSkewed: [403, 'The difference between the request time and the current time is too large.', 'unauthenticated'],
  ServiceUnavailable: [503, 'Please reduce your request rate.', 'unavailable'],
  // The service (a backend or the upload gate) is saturated: retry after a pause, as for an outage.
  SlowDown: [503, 'Please reduce your request rate.', 'unavailable'],
  SignatureDoesNotMatch: [403, 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', 'unauthenticated'],
  TooManyBuckets: [400, 'You have attempted to create more buckets than allowed.', 'invalid_input'],
  TooManyRequests: [429, 'Please reduce your request rate.', 'rate_limited'],
  XAmzContentSHA256Mismatch: [400, "The provided 'x-amz-content-sha256' header does not match what was computed.", 'invalid_input'],
} as const satisfies Record<string, readonly [number, string, ErrorKind]>;

export type S3ErrorCode = keyof typeof S3_ERRORS;

export class S3Error extends Error {
  readonly status: number;
  readonly kind: ErrorKind;
  /** Extra elements rendered into the error XML (e.g. `BucketName`, `Key`). */
  readonly details: Record<string, string>;
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers: Record<string, string>;

  constructor(
    readonly code: S3ErrorCode,
    message?: string,
    options: { details?: Record<string, string>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message ?? S3_ERRORS[code][1], { cause: options.cause });
    this.name = 'S3Error';
    this.status = S3_ERRORS[code][0];
    this.kind = S3_ERRORS[code][2];
    this.details = options.details ?? {};
    this.headers = options.headers ?? {};
  }
}

export function isS3Error(error: unknown, code?: S3ErrorCode): error is S3Error {
  return error instanceof S3Error && (code === undefined || error.code === code);
}
