import { ConfigError, loadConfig } from './src/config/config.ts';
import { startCloudStorage } from './server.ts';

try {
  const running = await startCloudStorage({ config: loadConfig() });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.core.logger.info('shutting down', { signal });
    await running.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(78);
  }
  throw error;
}
