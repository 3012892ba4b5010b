/**
 * `npm run bench`: measures, on the whole sample store in a throw-away local database, how long
 * the import takes and what each task costs (wall time and D1 statements, as the run ledger
 * records them). Prints the figures; it asserts nothing. Loopback only.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { mapRees46 } from "../src/sample/rees46";
import { latestSlot } from "../src/schedule/task-schedule";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { scheduledTasks } from "../src/tasks/registry";
// @ts-expect-error: a plain .mjs helper without types
import { offlineEnv } from "./offline.mjs";

const port = process.env.BENCH_PORT ?? "8796";
const baseUrl = `http://127.0.0.1:${port}`;
const token = "bench-token";
const state = mkdtempSync(join(tmpdir(), "shop-tasks-bench-"));

function run(command: string, args: string[]) {
  const result = spawnSync(command, args, { env: offlineEnv, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")}\n${result.stderr}`);
  return result.stdout;
}

async function waitForHealth() {
  for (let attempt = 0; attempt < 240; attempt++) {
    try {
      if ((await fetch(`${baseUrl}/health`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error("the Worker did not start");
}

async function main() {
  run("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state]);
  const dev: ChildProcess = spawn(
    "wrangler",
    [
      "dev",
      "--test-scheduled",
      "--port",
      port,
      "--ip",
      "127.0.0.1",
      "--persist-to",
      state,
      "--var",
      `API_TOKEN:${token}`,
      "--var",
      "LINK_SECRET:bench-link-secret",
      "--show-interactive-dev-session=false",
    ],
    { env: offlineEnv, stdio: "ignore" },
  );
  try {
    await waitForHealth();

    const importStarted = performance.now();
    run("tsx", ["scripts/import-sample.ts", "--url", baseUrl, "--token", token]);
    const importSeconds = (performance.now() - importStarted) / 1000;
    console.log(`import of the whole sample store: ${importSeconds.toFixed(1)} s (wall clock)`);

    console.log(
      "\ntask                      slot (UTC)                wall ms  D1 statements  status",
    );
    for (const { task, schedule } of scheduledTasks) {
      // The task's latest local slot, delivered as Cloudflare would: its UTC cron at that time.
      const zone = schedule.timeZone ?? "Europe/London";
      const slotTime = latestSlot(schedule.expression, zone, Date.now(), 8 * 86_400_000);
      if (slotTime === null) continue;
      const slot = new Date(slotTime);
      const cron = utcCrons[task.name] ?? "";
      const query = `cron=${encodeURIComponent(cron)}&time=${slot.getTime()}&format=json`;
      const url = `${baseUrl}/cdn-cgi/handler/scheduled?${query}`;
      const started = performance.now();
      await fetch(url);
      const wallMs = performance.now() - started;
      // The slot's own run (a fresh store also catches up earlier slots in the same tick).
      const { runs } = (await (
        await fetch(`${baseUrl}/api/runs?task=${task.name}&limit=20`, {
          headers: { Authorization: `Bearer ${token}` },
        })
      ).json()) as {
        runs: {
          slotTime: string;
          trigger: string;
          status: string;
          result: { message?: string } | null;
          metrics: { durationMs: number; d1Statements: number };
        }[];
      };
      const latest = runs.find((r) => r.slotTime === slot.toISOString() && r.trigger === "cron");
      if (!latest) throw new Error(`no run of ${task.name} for ${slot.toISOString()}`);
      console.log(
        [
          task.name.padEnd(25),
          slot.toISOString().padEnd(25),
          String(latest.metrics.durationMs).padStart(7),
          String(latest.metrics.d1Statements).padStart(14),
          ` ${latest.status}`,
          `  (request ${wallMs.toFixed(0)} ms)`,
        ].join(" "),
      );
      if (latest.result?.message) console.log(`  ${latest.result.message}`);
    }
    await cartsAtScale();
  } finally {
    dev.kill("SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    rmSync(state, { recursive: true, force: true });
  }
}

/**
 * Cart recovery on many carts: the real REES46 carts (their last contents) copied under new ids
 * and guest addresses, last active 3 h ago, so each is due its first stage. A dry run measures the
 * survey alone; the real run adds the claims and the sends to the local mail sink.
 */
async function cartsAtScale() {
  const copies = Number(process.env.BENCH_CART_COPIES ?? "40");
  const csv = gunzipSync(
    readFileSync("data/rees46-carts/rees46_2019-10-01_first_17434_events.csv.gz"),
  ).toString("utf8");
  const lastContents = new Map<string, Record<string, unknown>>();
  for (const event of mapRees46(csv, { now: Date.now(), keepDates: true }).events) {
    if (event.type === "cart.updated") lastContents.set(String(event.data.cartId), event.data);
  }
  const at = new Date(Date.now() - 3 * 3_600_000).toISOString();
  const events = [...lastContents.values()].flatMap((data, n) =>
    Array.from({ length: copies }, (_, copy) => ({
      id: `bench-cart-${copy}-${n}`,
      type: "cart.updated",
      occurredAt: at,
      data: {
        ...data,
        cartId: `bench-${copy}-${data.cartId}`,
        customerId: undefined,
        email: `bench-${copy}-${n}@example.test`,
      },
    })),
  );
  for (let i = 0; i < events.length; i += 1000) {
    const response = await fetch(`${baseUrl}/api/events`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ events: events.slice(i, i + 1000) }),
    });
    if (!response.ok) throw new Error(`import of bench carts: ${response.status}`);
  }
  console.log(
    `\ncart recovery on ${events.length} more carts (${copies} copies of each real cart)`,
  );
  for (const dryRun of [true, false]) {
    const response = await fetch(
      `${baseUrl}/api/tasks/abandoned-cart-recovery/run?dryRun=${dryRun}`,
      { method: "POST", headers: { Authorization: `Bearer ${token}` } },
    );
    const run = (await response.json()) as {
      result: { message: string };
      metrics: { durationMs: number; d1Statements: number };
    };
    console.log(
      `  ${dryRun ? "dry run" : "real run"}: ${run.metrics.durationMs} ms, ` +
        `${run.metrics.d1Statements} D1 statements. ${run.result.message}`,
    );
  }
}

await main();
