#!/usr/bin/env node
// Runs the fault-injection table (test/fault-table.test.ts) inside workerd and prints one row
// per fault: e-mails expected, sent, duplicates, lost, failed items, alerts. Exits non-zero if
// the tests failed, printed no rows, or any row shows a duplicate or a lost e-mail.
// Usage: npm run faults
import { spawn } from "node:child_process";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const testFile = "test/fault-table.test.ts";
const marker = "FAULT_ROW ";
// Vitest colours its output even through a pipe when asked; strip any escape codes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes on purpose
const ansi = /\u001b\[[0-9;]*m/g;

function runVitest() {
  return new Promise((resolve) => {
    // offline.mjs turns off everything that phones home; vitest comes from node_modules/.bin,
    // which npm puts on the PATH (added here too, for a run without npm).
    const PATH = [join(root, "node_modules", ".bin"), process.env.PATH].join(delimiter);
    const args = [join(root, "scripts", "offline.mjs"), "vitest", "run", testFile];
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: { ...process.env, PATH, NO_COLOR: "1", FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("close", (code, signal) =>
      resolve({ code: signal ? 1 : (code ?? 1), stdout, stderr }),
    );
  });
}

function parseRows(output) {
  const rows = [];
  for (const raw of output.split("\n")) {
    const line = raw.replace(ansi, "");
    const at = line.indexOf(marker);
    if (at === -1) continue;
    try {
      rows.push(JSON.parse(line.slice(at + marker.length)));
    } catch {
      console.error(`could not parse: ${line.trim()}`);
    }
  }
  return rows;
}

const columns = [
  { title: "fault", value: (row) => row.fault, align: "left" },
  { title: "expected", value: (row) => row.expected },
  { title: "sent", value: (row) => row.sent },
  { title: "duplicates", value: (row) => row.duplicates },
  { title: "lost", value: (row) => row.lost },
  { title: "failed items", value: (row) => row.failedItems },
  { title: "alerts", value: (row) => row.alerts },
];

function table(rows) {
  const cells = rows.map((row) => columns.map((column) => String(column.value(row) ?? "")));
  const widths = columns.map((column, i) =>
    Math.max(column.title.length, ...cells.map((line) => line[i].length)),
  );
  const pad = (text, i) =>
    columns[i].align === "left" ? text.padEnd(widths[i]) : text.padStart(widths[i]);
  const line = (values) => values.map(pad).join(" | ");
  const rule = widths.map((width) => "-".repeat(width)).join("-|-");
  return [line(columns.map((column) => column.title)), rule, ...cells.map(line)].join("\n");
}

const { code, stdout, stderr } = await runVitest();
const rows = parseRows(stdout);

if (rows.length > 0) {
  console.log(table(rows));
  const notes = rows.filter((row) => row.note);
  if (notes.length > 0) {
    console.log("\nnotes:");
    for (const row of notes) console.log(`  ${row.fault}: ${row.note}`);
  }
}

const bad = rows.filter((row) => row.duplicates > 0 || row.lost > 0);
if (code !== 0) {
  console.error(`\nvitest failed (exit ${code}):\n`);
  console.error(stdout.replace(ansi, "").split("\n").slice(-60).join("\n"));
  console.error(stderr.replace(ansi, "").split("\n").slice(-20).join("\n"));
}
if (rows.length === 0) console.error("no FAULT_ROW lines were printed");
for (const row of bad) {
  console.error(`${row.fault}: ${row.duplicates} duplicates, ${row.lost} lost`);
}
const ok = code === 0 && rows.length > 0 && bad.length === 0;
console.log(`\n${rows.length} faults, ${ok ? "nothing lost or doubled" : "FAILED"}`);
process.exit(ok ? 0 : 1);
