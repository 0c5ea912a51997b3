import pino from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

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
 * Every parameter `AUTH_PARAMETER` matches contains a literal `=`: a line without one (most access
 * lines: JSON has no `=` of its own) skips the regex. Same result as `redactSecrets`, cheaper.
 */
const redactLine = (line: string): string => (line.includes('=') ? redactSecrets(line) : line);

/**
 * Structured JSON lines (pino) on stderr: stdout stays clean for the CLI's JSON output. A line is
 * `{"level":"info","time":"<ISO 8601>","pid":…,"message":"…",…fields}`. Every line is passed
 * through `redactSecrets` as it is written, so a URL or header logged anywhere (an error's message
 * included) cannot leak a signature or credential. `write` receives each finished line (tests
 * capture lines with it); without it lines go to fd 2.
 */
export function createLogger(level: LogLevel = 'info', write?: (line: string) => void): Logger {
  const target = write ?? stderrWriter();
  const destination = { write: (line: string) => target(redactLine(line)) };
  const log = pino(
    {
      level,
      messageKey: 'message',
      // `"level":"info"` rather than pino's numbers: the lines stay readable and greppable, as before.
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      // The pid tells apart the lines of several processes (WORKERS, two gateways on one DATA_DIR); no hostname.
      base: { pid: process.pid },
    },
    destination,
  );
  // Bound once: the per-line cost is pino's (a level check, then serialisation only when enabled).
  return {
    debug: (message, fields) => log.debug(fields ?? {}, message),
    info: (message, fields) => log.info(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, fields) => log.error(fields ?? {}, message),
  };
}

/** Largest batch: a pipe takes a write of up to PIPE_BUF (4 KiB on Linux) whole, so processes sharing one stderr (WORKERS) do not interleave within a line. */
const MAX_BATCH_CHARS = 4000;

/**
 * Lines to fd 2, batched per turn of the event loop: the lines the requests of one turn produce
 * (one access line each) go out in one blocking write(2) of at most ~4 KiB after the turn (a
 * `setImmediate`), instead of a syscall per line. On the S3 hot path pino's asynchronous
 * destination cost more CPU than a write per line (nearly every line went through the thread pool
 * on its own), and a write per line more than this. A line is never split; lines still pending are
 * written synchronously on `exit` (process.exit, an uncaught exception), so none is lost.
 *
 * One per process, shared by every logger writing to stderr (the CLI's, the server's, a worker's):
 * fd 2 is the process's, and one batcher keeps their lines in order with one `exit` hook.
 */
let processStderr: ((line: string) => void) | undefined;
function stderrWriter(): (line: string) => void {
  processStderr ??= createBatchedWriter(2);
  return processStderr;
}

function createBatchedWriter(fd: number): (line: string) => void {
  const stream = pino.destination({ dest: fd, sync: true });
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === '') return;
    const batch = pending;
    pending = '';
    stream.write(batch);
  };
  process.on('exit', flush);
  return (line) => {
    if (pending.length + line.length > MAX_BATCH_CHARS) flush();
    pending += line;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}
