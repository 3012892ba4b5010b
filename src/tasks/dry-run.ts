/**
 * What the tasks share for dry runs: the shape a dry run adds to a task's normal result, and the
 * read that tells which e-mail keys are already taken without claiming any.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { jsonChunks } from "../db/json-chunks";
import type { EmailStatus as EmailKeyStatus } from "../email/email-log";

/**
 * A task's normal result marked as a dry run, with its own message and the plan of what a real
 * run would have done.
 */
export function dryRunResult<Result extends object, Plan extends object>(
  result: Result,
  message: string,
  plan: Plan,
) {
  return { ...result, message: `Dry run: ${message}`, dryRun: true as const, plan };
}

export type { EmailStatus as EmailKeyStatus } from "../email/email-log";

/**
 * The status of each key already in the e-mail log. A key found here, whatever its status,
 * would lose its claim in a real run, so its e-mail would not be sent again. Reads only.
 */
export async function takenEmailKeys(
  db: Database,
  keys: readonly string[],
): Promise<Map<string, EmailKeyStatus>> {
  const taken = new Map<string, EmailKeyStatus>();
  for (const json of jsonChunks(keys)) {
    const rows = await db.all<{ key: string; status: EmailKeyStatus }>(sql`
      SELECT idempotency_key AS key, status FROM emails
      WHERE idempotency_key IN (SELECT value FROM json_each(${json}))`);
    for (const row of rows) taken.set(row.key, row.status);
  }
  return taken;
}
