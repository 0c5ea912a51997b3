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
