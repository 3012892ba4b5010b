/**
 * Runs several SQL statements as one D1 batch: one round trip, one transaction. drizzle's own
 * `batch` cannot take raw `sql` statements that carry parameters (it loses their prepared
 * statement), so this builds them with drizzle's SQLite dialect and hands them to D1 directly.
 */
import type { SQL } from "drizzle-orm";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import type { Database } from "./client";

const dialect = new SQLiteAsyncDialect();

export async function runBatch(db: Database, statements: readonly SQL[]): Promise<D1Result[]> {
  if (statements.length === 0) return [];
  const d1 = db.$client;
  const prepared = statements.map((statement) => {
    const query = dialect.sqlToQuery(statement);
    return d1.prepare(query.sql).bind(...query.params);
  });
  return d1.batch(prepared);
}

/** Reads: the rows of each statement, in order. */
export async function readBatch<T extends unknown[]>(
  db: Database,
  statements: { [K in keyof T]: SQL },
): Promise<{ [K in keyof T]: T[K][] }> {
  const results = await runBatch(db, statements as SQL[]);
  return results.map((result) => result.results) as { [K in keyof T]: T[K][] };
}
