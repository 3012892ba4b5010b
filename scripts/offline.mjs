#!/usr/bin/env node
// Runs a command with everything that phones home turned off: wrangler's telemetry and update
// check, and Miniflare's download of request.cf data. Usage: node scripts/offline.mjs <cmd> ...
import { spawn } from "node:child_process";

export const offlineEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_HIDE_BANNER: "true",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  DO_NOT_TRACK: "1",
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const [command, ...args] = process.argv.slice(2);
  if (!command) {
    console.error("usage: node scripts/offline.mjs <command> [args...]");
    process.exit(2);
  }
  const child = spawn(command, args, { stdio: "inherit", env: offlineEnv });
  child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
}
