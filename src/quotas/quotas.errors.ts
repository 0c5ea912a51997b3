import { S3Error } from '../errors/s3-errors.ts';

export function quotaExceededError(detail: { usedBytes: number; reservedBytes: number; quotaBytes: number; requestedBytes: number }): S3Error {
  return new S3Error(
    'QuotaExceeded',
    `Upload would exceed your storage quota: ${detail.usedBytes} bytes used, ${detail.reservedBytes} reserved by uploads in progress, ${detail.requestedBytes} requested, quota ${detail.quotaBytes}.`,
    {
      details: {
        UsedBytes: String(detail.usedBytes),
        ReservedBytes: String(detail.reservedBytes),
        RequestedBytes: String(detail.requestedBytes),
        QuotaBytes: String(detail.quotaBytes),
      },
    },
  );
}

/** MAX_OBJECTS_PER_ACCOUNT / MAX_UPLOADS_PER_ACCOUNT: the same 403 code as the byte quota, with `Limit` telling which. */
export function countLimitError(detail: { what: 'objects' | 'uploads'; current: number; limit: number }): S3Error {
  const message =
    detail.what === 'objects'
      ? `The account already holds ${detail.current} objects (or uploads in progress that would add them); the limit is ${detail.limit}. Delete objects to store new ones.`
      : `The account already has ${detail.current} multipart uploads in progress; the limit is ${detail.limit}. Complete or abort some first.`;
  return new S3Error('QuotaExceeded', message, {
    details: { Limit: detail.what === 'objects' ? 'MaxObjects' : 'MaxUploads', Current: String(detail.current), Maximum: String(detail.limit) },
  });
}
