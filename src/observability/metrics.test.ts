import { describe, expect, it } from 'vitest';
import { createMetrics, statusClassOf } from './metrics.ts';

describe('request metrics', () => {
  it('renders cumulative histogram buckets, counts and bytes per label set in the Prometheus text format', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.s3Request('GetObject', 200, 0.0005, 0, 10);
    metrics.s3Request('GetObject', 206, 0.003, 0, 5);
    metrics.s3Request('GetObject', 200, 2, 0, 1);
    metrics.s3Request('GetObject', undefined, 0.2, 0, 0);
    const text = await metrics.render();
    const sample = (line: string) => expect(text.split('\n')).toContain(line);
    sample('# TYPE cloudstorage_s3_request_duration_seconds histogram');
    sample('cloudstorage_s3_request_duration_seconds_bucket{operation="GetObject",status_class="2xx",le="0.001"} 1');
    sample('cloudstorage_s3_request_duration_seconds_bucket{operation="GetObject",status_class="2xx",le="0.005"} 2');
    sample('cloudstorage_s3_request_duration_seconds_bucket{operation="GetObject",status_class="2xx",le="1"} 2');
    sample('cloudstorage_s3_request_duration_seconds_bucket{operation="GetObject",status_class="2xx",le="2.5"} 3');
    sample('cloudstorage_s3_request_duration_seconds_bucket{operation="GetObject",status_class="2xx",le="+Inf"} 3');
    sample('cloudstorage_s3_request_duration_seconds_count{operation="GetObject",status_class="2xx"} 3');
    sample('cloudstorage_s3_requests_total{operation="GetObject",status_class="2xx"} 3');
    sample('cloudstorage_s3_requests_total{operation="GetObject",status_class="aborted"} 1');
    sample('cloudstorage_s3_sent_bytes_total{operation="GetObject",status_class="2xx"} 16');
    expect(text).toMatch(/^cloudstorage_s3_request_duration_seconds_sum\{operation="GetObject",status_class="2xx"\} 2\.0035/m);
  });

  it('classes statuses, with `aborted` for a client gone before any status', () => {
    expect([statusClassOf(undefined), statusClassOf(101), statusClassOf(204), statusClassOf(304), statusClassOf(404), statusClassOf(503)]).toEqual([
      'aborted',
      '1xx',
      '2xx',
      '3xx',
      '4xx',
      '5xx',
    ]);
  });
});
