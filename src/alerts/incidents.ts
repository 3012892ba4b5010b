/**
 * Alerts, one per incident: raising an incident that is already open does nothing, and its
 * recovery is announced once, by whoever closes it first. Both are atomic claims in D1, so two
 * invocations racing over the same incident send one alert between them.
 */
import { desc, lt, sql } from "drizzle-orm";
import { type Database, database } from "../db/client";
import { alerts } from "../db/schema";
import { errorMessage, log } from "../lib/log";
import { notifyAlert } from "./notify";

export type AlertKind = (typeof alerts.$inferSelect)["kind"];

export interface Incident {
  /** What is wrong, one key per thing that can be wrong: `run-failed:<task>`, `dead-letters`. */
  key: string;
  kind: AlertKind;
  summary: string;
  detail: Record<string, unknown>;
}

export interface AlertView {
  id: number;
  incident: string;
  kind: AlertKind;
  state: "raised" | "recovered";
  summary: string;
  detail: unknown;
  at: string;
  emailed: number;
  webhook: string | null;
}

/** Opens the incident and sends its alert, unless it is open already. Answers whether it sent. */
export async function raiseIncident(env: Env, incident: Incident): Promise<boolean> {
  const db = database(env);
  const now = Date.now();
  const [opened] = await db.all<{ key: string }>(sql`
    INSERT INTO incidents (key, opened_at) VALUES (${incident.key}, ${now})
    ON CONFLICT (key) DO UPDATE SET opened_at = excluded.opened_at, resolved_at = NULL
      WHERE incidents.resolved_at IS NOT NULL
    RETURNING key`);
  if (!opened) return false;
  await recordAndNotify(env, db, incident, "raised", now);
  return true;
}

/** Closes the incident if it is open and announces the recovery once. */
export async function resolveIncident(
  env: Env,
  incident: Omit<Incident, "detail"> & { detail?: Record<string, unknown> },
): Promise<boolean> {
  const db = database(env);
  const now = Date.now();
  const [closed] = await db.all<{ key: string }>(sql`
    UPDATE incidents SET resolved_at = ${now}
    WHERE key = ${incident.key} AND resolved_at IS NULL
    RETURNING key`);
  if (!closed) return false;
  await recordAndNotify(env, db, { ...incident, detail: incident.detail ?? {} }, "recovered", now);
  return true;
}

async function recordAndNotify(
  env: Env,
  db: Database,
  incident: Incident,
  state: "raised" | "recovered",
  at: number,
): Promise<void> {
  const [row] = await db
    .insert(alerts)
    .values({
      incident: incident.key,
      kind: incident.kind,
      state,
      summary: incident.summary,
      detail: JSON.stringify(incident.detail),
      at,
    })
    .returning({ id: alerts.id });
  if (!row) throw new Error("the alert log did not return the new alert's id");
  log(state === "raised" ? "error" : "info", `alert.${state}`, {
    alertId: row.id,
    incident: incident.key,
  });

  // A notice that cannot go out is recorded on the alert; it never fails the caller's work.
  try {
    const sent = await notifyAlert(env, db, { id: row.id, state, ...incident, at });
    await db.run(sql`UPDATE alerts SET emailed = ${sent.emailed}, webhook = ${sent.webhook}
      WHERE id = ${row.id}`);
  } catch (error) {
    log("error", "alert.notify_failed", { alertId: row.id, error: errorMessage(error) });
  }
}

/** A page of the alert log, newest first, older than `before` when given. */
export async function listAlerts(
  db: Database,
  filter: { before?: number; limit: number },
): Promise<AlertView[]> {
  const rows = await db
    .select()
    .from(alerts)
    .where(filter.before === undefined ? undefined : lt(alerts.id, filter.before))
    .orderBy(desc(alerts.id))
    .limit(filter.limit);
  return rows.map((row) => ({
    ...row,
    detail: JSON.parse(row.detail),
    at: new Date(row.at).toISOString(),
  }));
}
