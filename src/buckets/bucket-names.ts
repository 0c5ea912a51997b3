/**
 * S3's general-purpose bucket naming rules: 3–63 characters of lower-case letters, digits, dots
 * and hyphens, starting and ending with a letter or digit, no `..`, not an IP address, and none
 * of the prefixes/suffixes AWS reserves. Returns the reason a name is invalid, or undefined.
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'Bucket names must be between 3 and 63 characters long.';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) {
    return 'Bucket names may contain only lower-case letters, digits, dots and hyphens, and must begin and end with a letter or digit.';
  }
  if (name.includes('..') || name.includes('.-') || name.includes('-.')) return 'Bucket names must not contain two adjacent periods or a period next to a hyphen.';
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)) return 'Bucket names must not be formatted as an IP address.';
  if (name.startsWith('xn--') || name.startsWith('sthree-') || name.startsWith('amzn-s3-demo-')) return 'Bucket names must not start with a reserved prefix.';
  if (name.endsWith('-s3alias') || name.endsWith('--ol-s3') || name.endsWith('.mrap') || name.endsWith('--x-s3')) return 'Bucket names must not end with a reserved suffix.';
  return undefined;
}
