#!/usr/bin/env node
// `npm start`: makes the local secrets if missing, creates the local D1 database from
// migrations/, starts the Worker with `wrangler dev --test-scheduled` on $PORT (8787), loads the
// sample store when the database is empty, and stops wrangler cleanly on Ctrl-C.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { offlineEnv } from "./offline.mjs";

const port = process.env.PORT ?? "8787";
const baseUrl = `http://127.0.0.1:${port}`;

function say(line) {
  console.log(`[start] ${line}`);
}

function wrangler(args) {
  const run = spawnSync("wrangler", args, { env: offlineEnv, encoding: "utf8" });
  if (run.status !== 0) {
    console.error(run.stdout, run.stderr);
    throw new Error(`wrangler ${args.slice(0, 3).join(" ")} failed`);
  }
  return run.stdout;
}

// Local secrets: random values, written once, never committed (.gitignore).
if (!existsSync(".dev.vars")) {
  const secret = () => randomBytes(32).toString("hex");
  writeFileSync(".dev.vars", `API_TOKEN=${secret()}\nLINK_SECRET=${secret()}\n`, { mode: 0o600 });
  say("created .dev.vars with a random API_TOKEN and LINK_SECRET");
}

say("applying D1 migrations to the local database");
wrangler(["d1", "migrations", "apply", "DB", "--local"]);

const countOutput = wrangler([
  "d1",
  "execute",
  "DB",
  "--local",
  "--json",
  "--command",
  "SELECT count(*) AS events FROM events",
]);
const storedEvents = JSON.parse(countOutput)[0]?.results?.[0]?.events ?? 0;

say(`starting the Worker on ${baseUrl}`);
const dev = spawn(
  "wrangler",
  [
    "dev",
    "--test-scheduled",
    "--port",
    port,
    "--ip",
    "127.0.0.1",
    // Links in e-mails must point at the port this Worker really listens on.
    "--var",
    `PUBLIC_URL:http://localhost:${port}`,
    "--show-interactive-dev-session=false",
  ],
  { stdio: "inherit", env: offlineEnv },
);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    stopping = true;
    dev.kill("SIGINT");
  });
}
dev.on("exit", (code) => {
  say("the Worker stopped");
  process.exit(stopping ? 0 : (code ?? 1));
});

if (storedEvents > 0) {
  say(`the local store already holds ${storedEvents} events; not importing again`);
} else {
  await waitForHealth();
  say("the local store is empty: importing the sample store (see data/README.md)");
  const importer = spawn("tsx", ["scripts/import-sample.ts", "--url", baseUrl], {
    stdio: "inherit",
    env: offlineEnv,
  });
  importer.on("exit", (code) => {
    if (code === 0) say("sample store loaded; the Worker keeps running (Ctrl-C stops it)");
    else say(`the sample import failed (exit ${code}); the Worker keeps running`);
  });
}

async function waitForHealth() {
  for (let attempt = 0; attempt < 240; attempt++) {
    if (stopping) return;
    try {
      const response = await fetch(`${baseUrl}/health`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the Worker did not answer on ${baseUrl}/health within 2 minutes`);
}
