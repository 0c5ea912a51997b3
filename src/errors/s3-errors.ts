/**
 * The one catalog of S3 error codes the service emits. Backends throw `S3Error` with a code
 * from here; the gateway renders it as S3 XML (gateway/s3/xml.ts). Status and default message
 * live here so that a code always carries the same status, whichever layer raised it.
 */
export const S3_ERRORS = {
  AccessDenied: [403, 'Access Denied'],
  AuthorizationHeaderMalformed: [400, 'The authorization header is malformed.'],
  AuthorizationQueryParametersError: [400, 'Error parsing the X-Amz-Credential parameter.'],
  BadDigest: [400, 'The Content-MD5 or checksum you specified did not match what we received.'],
  BucketAlreadyExists: [409, 'The requested bucket name is not available.'],
  BucketAlreadyOwnedByYou: [409, 'Your previous request to create the named bucket succeeded and you already own it.'],
  BucketNotEmpty: [409, 'The bucket you tried to delete is not empty.'],
  EntityTooLarge: [400, 'Your proposed upload exceeds the maximum allowed object size.'],
  EntityTooSmall: [400, 'Your proposed upload is smaller than the minimum allowed object size.'],
  ExpiredToken: [400, 'The provided token has expired.'],
  IncompleteBody: [400, 'You did not provide the number of bytes specified by the Content-Length HTTP header.'],
  InternalError: [500, 'We encountered an internal error. Please try again.'],
  // Not an AWS code (S3 never runs out of space): HTTP's 507, under the name clients show.
  InsufficientStorage: [507, 'There is not enough free space to store this data. Delete objects to free space, then retry.'],
  InvalidAccessKeyId: [403, 'The AWS access key Id you provided does not exist in our records.'],
  InvalidArgument: [400, 'Invalid Argument'],
  InvalidBucketName: [400, 'The specified bucket is not valid.'],
  InvalidChunkSizeError: [403, 'Only the last chunk is allowed to have a size less than 8192 bytes'],
  InvalidDigest: [400, 'The Content-MD5 or checksum you specified is not valid.'],
  InvalidPart: [400, 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.'],
  InvalidPartOrder: [400, 'The list of parts was not in ascending order. Parts must be ordered by part number.'],
  InvalidRange: [416, 'The requested range is not satisfiable'],
  InvalidRequest: [400, 'Invalid Request'],
  InvalidURI: [400, 'Couldn\'t parse the specified URI.'],
  InvalidStorageClass: [400, 'The storage class you specified is not valid.'],
  InvalidTag: [400, 'The tag provided was not a valid tag.'],
  KeyTooLongError: [400, 'Your key is too long.'],
  MalformedXML: [400, 'The XML you provided was not well-formed or did not validate against our published schema.'],
  MetadataTooLarge: [400, 'Your metadata headers exceed the maximum allowed metadata size.'],
  MethodNotAllowed: [405, 'The specified method is not allowed against this resource.'],
  MissingContentLength: [411, 'You must provide the Content-Length HTTP header.'],
  MissingSecurityHeader: [400, 'Your request is missing a required header.'],
  NoSuchBucket: [404, 'The specified bucket does not exist.'],
  NoSuchKey: [404, 'The specified key does not exist.'],
  NoSuchUpload: [404, 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.'],
  NotImplemented: [501, 'A header or query you provided implies functionality that is not implemented.'],
  NotModified: [304, 'Not Modified'],
  PreconditionFailed: [412, 'At least one of the pre-conditions you specified did not hold.'],
  QuotaExceeded: [403, 'Upload would exceed your storage quota.'],
  RequestTimeTooSkewed: [403, 'The difference between the request time and the current time is too large.'],
  ServiceUnavailable: [503, 'Please reduce your request rate.'],
  SlowDown: [503, 'Please reduce your request rate.'],
  SignatureDoesNotMatch: [403, 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'],
  TooManyBuckets: [400, 'You have attempted to create more buckets than allowed.'],
  TooManyRequests: [429, 'Please reduce your request rate.'],
  XAmzContentSHA256Mismatch: [400, 'The provided \'x-amz-content-sha256\' header does not match what was computed.'],
} as const satisfies Record<string, readonly [number, string]>;

export type S3ErrorCode = keyof typeof S3_ERRORS;

export class S3Error extends Error {
  readonly status: number;
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
    this.details = options.details ?? {};
    this.headers = options.headers ?? {};
  }
}

export function isS3Error(error: unknown, code?: S3ErrorCode): error is S3Error {
  return error instanceof S3Error && (code === undefined || error.code === code);
}
