export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * Request authentication parameters: in a presigned URL's query (SigV4 `X-Amz-*`, SigV2
 * `Signature`/`AWSAccessKeyId`) or an `Authorization` header (`Credential=…, Signature=…`). A
 * signature is a bearer credential for up to 7 days, so no log line may carry one.
 */
const AUTH_PARAMETER = /(^|[?&;,\s"])((?:X-Amz-)?(?:Signature|Credential|Security-Token)|AWSAccessKeyId)=[^&;,\s"#\\]*/gi;
const REDACTED = 'REDACTED';

/** `text` with the value of every authentication parameter replaced by `REDACTED`. */
export function redactSecrets(text: string): string {
  return text.replace(AUTH_PARAMETER, (_match, before: string, name: string) => `${before}${name}=${REDACTED}`);
}

/**
 * JSON lines on stderr: stdout stays clean for the CLI's JSON output. Every line is passed
 * through `redactSecrets` as it is written, so a URL or header logged anywhere (an error's
 * message included) cannot leak a signature or credential.
 */
export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const threshold = ORDER[level];
  const log = (at: Exclude<LogLevel, 'silent'>) => (message: string, fields?: Record<string, unknown>) => {
    if (ORDER[at] < threshold) return;
    write(`${redactSecrets(JSON.stringify({ time: new Date().toISOString(), level: at, message, ...fields }))}\n`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}
