#!/usr/bin/env node
// The HAsync server CLI: serve (default), verify-native, rotate-token.
import { fs } from '../src/builtins.js';
import { ConfigError, ensureDataDir, loadConfig } from '../src/config.js';
import { DataDirLocked, lockDataDir } from '../src/datalock.js';
import { openDatabase } from '../src/db.js';
import { announce } from '../src/discovery.js';
import { createHasher } from '../src/hasher.js';
import { createLogger, errorText } from '../src/logger.js';
import { loadNativeModules, selfTestBcrypt, verifyNative } from '../src/native.js';
import { createApp, SHUTDOWN_BOUND_MS } from '../src/server.js';
import { rotateToken, tokenBanner } from '../src/tokens.js';
import { VERSION } from '../src/version.js';

const USAGE = `HAsync server ${VERSION}

Usage: node bin/hasync.js [command]

Commands:
  serve           run the server (default)
  verify-native   load bcrypt and better-sqlite3 and self-test them (image build check); exit 1 on failure
  rotate-token    replace the API token stored in HASYNC_DATA_DIR and print the new one
  --help          show this help
  --version       print the version

Environment:
  HASYNC_HOST (0.0.0.0)  HASYNC_PORT (8099)  HASYNC_DATA_DIR (/data)  HASYNC_LOG_LEVEL (info)
  HASYNC_RETENTION_DAYS (7, 1-365)  HASYNC_SAMPLE_INTERVAL_S (10, 1-3600)
  HASYNC_TOKEN (optional fixed token)  HASYNC_FRONTEND_DIR
  Under Supervisor: SUPERVISOR_TOKEN, HASYNC_SUPERVISOR_URL, HASYNC_ADVERTISE_HOST, HASYNC_INGRESS_PROXY
`;

const commands = {
  serve,
  'verify-native': verifyNativeCommand,
  'rotate-token': rotateTokenCommand,
  '--help': () => process.stdout.write(USAGE),
  '-h': () => process.stdout.write(USAGE),
  help: () => process.stdout.write(USAGE),
  '--version': () => process.stdout.write(`${VERSION}\n`),
  '-v': () => process.stdout.write(`${VERSION}\n`),
};

const [name = 'serve', ...extra] = process.argv.slice(2);
const command = Object.hasOwn(commands, name) ? commands[name] : null;
if (!command || extra.length > 0) {
  process.stderr.write(`hasync: ${command ? `unexpected argument ${JSON.stringify(extra[0])}` : `unknown command ${JSON.stringify(name)}`}\n\n${USAGE}`);
  process.exit(2);
}
await command();

/**
 * Config from the environment, with a writable data dir; exit 2 naming the variable otherwise.
 * @returns {[import('../src/config.js').Config, string|null]} the config and a warning (a full disk)
 */
function configOrExit() {
  try {
    const config = loadConfig(process.env);
    return [config, ensureDataDir(config.dataDir)];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`hasync: configuration error: ${err.message}\n`);
    process.exit(2);
  }
}

async function serve() {
  const [config, diskWarning] = configOrExit();
  const logger = createLogger({ level: config.logLevel });
  if (diskWarning) logger.warning(diskWarning);
  // A monitoring server that dies takes the report of what went wrong with it; log and keep serving.
  // These would end any other process, so they are fatal records (the status document counts them).
  process.on('uncaughtException', (err) => logger.fatal(`uncaught exception: ${errorText(err)}`));
  process.on('unhandledRejection', (err) => logger.fatal(`unhandled rejection: ${errorText(err)}`));

  const app = createApp(config, { logger });
  let shuttingDown = false;
  const shutdown = (signal) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info(`${signal} received; shutting down`);
    setTimeout(() => {
      logger.warning(`shutdown took longer than ${SHUTDOWN_BOUND_MS / 1000} s; exiting now`);
      process.exit(0);
    }, SHUTDOWN_BOUND_MS).unref();
    app.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err) => {
        logger.error(`shutdown failed: ${errorText(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    await app.start();
  } catch (err) {
    logger.fatal(`cannot start: ${errorText(err)}`);
    await app.stop().catch(() => {}); // also stores the count of that record
    process.exit(1);
  }
}

async function verifyNativeCommand() {
  const result = await verifyNative();
  for (const line of result.lines) process.stdout.write(`${line}\n`);
  if (!result.ok) {
    process.stderr.write(`verify-native: failed: ${result.failing.join(', ')}\n`);
    process.exit(1);
  }
}

async function rotateTokenCommand() {
  const [config] = configOrExit();
  const logger = createLogger({ level: config.logLevel });
  const native = loadNativeModules();
  const sqlite = native['better-sqlite3'];
  if (!sqlite.loaded) {
    logger.error(`rotate-token: better-sqlite3 failed to load: ${sqlite.error}`);
    process.exit(1);
  }
  // Native bcrypt only if it passes its self-test; bcryptjs writes the same $2b$ hashes.
  let bcrypt = native.bcrypt.loaded ? native.bcrypt.module : null;
  if (bcrypt) await selfTestBcrypt(bcrypt).catch(() => (bcrypt = null));

  let token;
  let lock = null;
  try {
    // A running server has created the database at its start. Without one, there may be none yet:
    // only the holder of the data directory's lock may create it.
    if (!fs.existsSync(config.dbPath)) {
      try {
        lock = lockDataDir(sqlite.module, config.dataDir);
      } catch (err) {
        if (!(err instanceof DataDirLocked)) throw err;
      }
    }
    const db = openDatabase(sqlite.module, config.dbPath, { create: lock !== null });
    try {
      token = await rotateToken(db, createHasher(() => bcrypt));
    } finally {
      db.close();
    }
  } catch (err) {
    logger.error(`rotate-token: ${errorText(err)}`);
    process.exit(1);
  } finally {
    lock?.release();
  }
  logger.redact(token);
  process.stdout.write(tokenBanner(token));
  if (config.token) {
    logger.warning('HASYNC_TOKEN is set: the server accepts only that token, not the stored one, until it is unset');
  } else if (config.supervisor) {
    try {
      await announce(config.supervisor, { port: config.port, token });
      logger.info('new token announced to Home Assistant through Supervisor discovery');
    } catch (err) {
      logger.warning(`${errorText(err)}; enter the token above in the integration`);
    }
  }
}
