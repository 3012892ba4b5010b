/**
 * Imports the sample store (data/online-retail and data/rees46-carts) as store events.
 *
 *   npx tsx scripts/import-sample.ts [--url http://127.0.0.1:8787] [--token T]
 *     [--only online-retail|rees46] [--keep-dates] [--out events.jsonl]
 *
 * Posts the events, oldest first, to `POST {url}/api/events` in requests of at most 1,000 events,
 * or writes them as JSON lines with `--out`. Event ids are fixed, so importing again only counts
 * duplicates. Exits non-zero when an event was rejected or a request failed.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gunzipSync } from "node:zlib";
import { parseEvent } from "../src/events/contract";
import { mapOnlineRetail } from "../src/sample/online-retail";
import { mapRees46 } from "../src/sample/rees46";
import {
  countByType,
  type DataSetName,
  type SampleEvent,
  type SampleImport,
  type SampleImportOptions,
  type SampleImportStats,
  sortByTime,
} from "../src/sample/sample-event";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));

const dataSets: Record<DataSetName, { file: string; map: typeof mapOnlineRetail }> = {
  "online-retail": { file: "data/online-retail/online_retail.csv.gz", map: mapOnlineRetail },
  rees46: {
    file: "data/rees46-carts/rees46_2019-10-01_first_17434_events.csv.gz",
    map: mapRees46,
  },
};

const maxEventsPerRequest = 1000;
/** The API takes bodies up to 8 MiB; a request of big wholesale orders is split below that. */
const maxBodyBytes = 6 * 1024 * 1024;
const concurrentRequests = 3;
const attemptsPerRequest = 4;

interface IngestOutcome {
  accepted: number;
  duplicates: number;
  rejected: Array<{ index: number; id: string | null; error: string }>;
}

interface PostTotals extends IngestOutcome {
  requests: number;
  failures: string[];
}

async function main(): Promise<number> {
  const startedAt = performance.now();
  const { values } = parseArgs({
    options: {
      "keep-dates": { type: "boolean", default: false },
      out: { type: "string" },
      url: { type: "string", default: `http://127.0.0.1:${process.env.PORT ?? "8787"}` },
      token: { type: "string" },
      only: { type: "string" },
    },
  });
  const only = values.only;
  if (only !== undefined && !isDataSetName(only)) {
    console.error(`--only takes online-retail or rees46, not ${only}`);
    return 2;
  }

  // Map each data set; both shift against the same "now".
  const options: SampleImportOptions = { now: Date.now(), keepDates: values["keep-dates"] };
  const names = only ? [only] : (Object.keys(dataSets) as DataSetName[]);
  const imports: SampleImport[] = names.map((name) => {
    const { file, map } = dataSets[name];
    const csvText = gunzipSync(readFileSync(`${projectRoot}/${file}`)).toString("utf8");
    return map(csvText, options);
  });
  for (const { stats } of imports) printStats(stats);
  const events = sortByTime(imports.flatMap((result) => result.events));
  console.log(`events: ${events.length} (${describeCounts(countByType(events))})`);

  // The API validates again; checking here first says what is wrong without a Worker.
  const invalid = events.flatMap((event) => {
    const parsed = parseEvent(event);
    return parsed.ok ? [] : [`${event.id}: ${parsed.error}`];
  });
  if (invalid.length > 0) {
    console.log(`invalid events: ${invalid.length}`);
    for (const reason of invalid.slice(0, 5)) console.log(`  ${withoutAddresses(reason)}`);
  }

  if (values.out !== undefined) {
    writeFileSync(values.out, events.map((event) => `${JSON.stringify(event)}\n`).join(""));
    console.log(`wrote ${events.length} events to ${values.out}`);
    console.log(`took ${seconds(startedAt)} s`);
    return invalid.length > 0 ? 1 : 0;
  }

  const token = values.token ?? process.env.API_TOKEN ?? tokenFromDevVars();
  if (!token) {
    console.error("no API token: pass --token, set API_TOKEN, or put API_TOKEN in .dev.vars");
    return 2;
  }
  const endpoint = `${values.url.replace(/\/+$/, "")}/api/events`;
  const totals = await postAll(endpoint, token, events);

  console.log(
    `posted to ${endpoint} in ${totals.requests} requests: accepted ${totals.accepted}, ` +
      `duplicates ${totals.duplicates}, rejected ${totals.rejected.length}`,
  );
  for (const { id, error } of totals.rejected.slice(0, 5)) {
    console.log(`  rejected ${id ?? "(no id)"}: ${withoutAddresses(error)}`);
  }
  for (const failure of totals.failures.slice(0, 5)) console.log(`  failed ${failure}`);
  if (totals.failures.length > 0) console.log(`failed requests: ${totals.failures.length}`);
  console.log(`took ${seconds(startedAt)} s`);
  return totals.rejected.length > 0 || totals.failures.length > 0 ? 1 : 0;
}

/** Posts every batch, a few at a time in time order; stops starting new ones after a failure. */
async function postAll(
  endpoint: string,
  token: string,
  events: SampleEvent[],
): Promise<PostTotals> {
  const batches = toBatches(events);
  const totals: PostTotals = {
    accepted: 0,
    duplicates: 0,
    rejected: [],
    requests: 0,
    failures: [],
  };
  let next = 0;
  let stop = false;

  const worker = async () => {
    while (!stop && next < batches.length) {
      const batchIndex = next;
      next += 1;
      const batch = batches[batchIndex] ?? [];
      const result = await postBatch(endpoint, token, batch);
      totals.requests += 1;
      if ("failure" in result) {
        // A bad token or a server down fails every later request the same way.
        totals.failures.push(`request ${batchIndex + 1} of ${batches.length}: ${result.failure}`);
        stop = true;
        continue;
      }
      totals.accepted += result.accepted;
      totals.duplicates += result.duplicates;
      totals.rejected.push(...result.rejected);
    }
  };
  await Promise.all(Array.from({ length: concurrentRequests }, worker));
  return totals;
}

type BatchResult = IngestOutcome | { failure: string };

/** One request, tried again on a connection error or a 5xx; the ids make a retry harmless. */
async function postBatch(
  endpoint: string,
  token: string,
  batch: SampleEvent[],
): Promise<BatchResult> {
  const body = JSON.stringify({ events: batch });
  let failure = "not sent";
  for (let attempt = 1; attempt <= attemptsPerRequest; attempt++) {
    if (attempt > 1) await sleep(500 * 2 ** (attempt - 2));
    try {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body,
      });
      const answer: unknown = await response.json().catch(() => undefined);
      // A request whose events were all rejected is a 400 that still carries the outcome.
      if (isOutcome(answer)) return answer;
      failure = `HTTP ${response.status} ${describeError(answer)}`;
      if (response.status < 500) return { failure };
    } catch (error) {
      failure = `connection error: ${describeFetchError(error)}`;
    }
  }
  return { failure };
}

/** Batches of at most 1,000 events whose request body stays under `maxBodyBytes`. */
function toBatches(events: readonly SampleEvent[]): SampleEvent[][] {
  const batches: SampleEvent[][] = [];
  let batch: SampleEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = JSON.stringify(event).length + 1;
    if (batch.length >= maxEventsPerRequest || (batch.length > 0 && bytes + size > maxBodyBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(event);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

function isDataSetName(name: string): name is DataSetName {
  return Object.hasOwn(dataSets, name);
}

function isOutcome(answer: unknown): answer is IngestOutcome {
  if (typeof answer !== "object" || answer === null) return false;
  return "accepted" in answer && "duplicates" in answer && "rejected" in answer;
}

/** Node's fetch says only "fetch failed"; the cause names the socket error (ECONNREFUSED, ...). */
function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  const code = cause instanceof Error && "code" in cause ? String(cause.code) : undefined;
  return code ? `${error.message} (${code})` : error.message;
}

function describeError(answer: unknown): string {
  if (typeof answer !== "object" || answer === null) return "(no JSON body)";
  return withoutAddresses(JSON.stringify(answer).slice(0, 300));
}

/** Reads `API_TOKEN` from the project's `.dev.vars` (lines `KEY=value`). */
function tokenFromDevVars(): string | undefined {
  const path = `${projectRoot}/.dev.vars`;
  if (!existsSync(path)) return undefined;
  for (const line of readFileSync(path, "utf8").split(/\r?\n/)) {
    const match = /^\s*API_TOKEN\s*=\s*(.*?)\s*$/.exec(line);
    if (match?.[1]) return match[1].replace(/^(["'])(.*)\1$/, "$2");
  }
  return undefined;
}

function printStats(stats: SampleImportStats): void {
  const shift = stats.shiftWeeks === 0 ? "dates kept" : `shifted ${stats.shiftWeeks} weeks`;
  console.log(`${stats.dataSet}: ${stats.rowsRead} rows read, ${shift}`);
  console.log(`  events: ${describeCounts(stats.eventsByType)}`);
  for (const [reason, count] of Object.entries(stats.skipped)) {
    console.log(`  skipped: ${reason}: ${count}`);
  }
  for (const [change, count] of Object.entries(stats.adjusted)) {
    console.log(`  adjusted: ${change}: ${count}`);
  }
}

function describeCounts(counts: Partial<Record<string, number>>): string {
  return Object.entries(counts)
    .map(([type, count]) => `${type} ${count ?? 0}`)
    .join(", ");
}

/** Log lines never carry an e-mail address, even one echoed back in an error. */
function withoutAddresses(text: string): string {
  return text.replace(/[^\s"'<>@]+@[^\s"'<>@]+/g, "<address>");
}

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(1);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

process.exitCode = await main();
