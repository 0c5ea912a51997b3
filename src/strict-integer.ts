/**
 * Decimal integers from protocol text (query parameters, XML elements, headers), parsed
 * strictly: ASCII digits only. `Number()` would also accept `1e3`, ` 1 `, `0x10`, `+1` and
 * `1.0`, so two readers of the same text (this server and a store or proxy behind it) could
 * disagree about which part or how many keys was meant.
 */
export function parseStrictInteger(value: string | null | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === null || value === undefined || value.length === 0 || value.length > 16) return undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  const parsed = Number(value);
  return parsed <= max ? parsed : undefined;
}
