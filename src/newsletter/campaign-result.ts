/**
 * A campaign's progress, counted from the e-mail log and the finished batches, so a redelivered
 * batch never counts twice. It is built in SQL so the run's result can be patched in one atomic
 * statement while several batches finish at once.
 */
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../db/client";

export interface CampaignProgress {
  status: "sending" | "complete";
  results: { emailsSent: number; errors: number; skippedAtSend: number };
  performance: {
    totalSubscribers: number;
    successRate: number | null;
    deliveryTime: number | null;
    batchesProcessed: number;
    batchesTotal: number;
  };
}

function progressJson(campaignId: string): SQL {
  const count = (status: string) =>
    sql`(SELECT count(*) FROM emails e WHERE e.campaign_id = c.id AND e.status = ${status})`;
  return sql`(SELECT json_object(
      'status', iif(c.finished_at IS NULL, 'sending', 'complete'),
      'results', json_object('emailsSent', ${count("sent")}, 'errors', ${count("failed")},
        'skippedAtSend', ${count("skipped")}),
      'performance', json_object(
        'totalSubscribers', c.total_subscribers,
        'successRate', iif(${count("sent")} + ${count("failed")} = 0, NULL,
          round(${count("sent")} * 100.0 / (${count("sent")} + ${count("failed")}), 1)),
        'deliveryTime', c.finished_at - c.started_at,
        'batchesProcessed',
          (SELECT count(*) FROM campaign_batches b WHERE b.campaign_id = c.id),
        'batchesTotal', c.batches_total))
    FROM campaigns c WHERE c.id = ${campaignId})`;
}

export async function campaignResult(db: Database, campaignId: string): Promise<CampaignProgress> {
  const [row] = await db.all<{ progress: string | null }>(
    sql`SELECT ${progressJson(campaignId)} AS progress`,
  );
  if (!row?.progress) throw new Error(`campaign ${campaignId} does not exist`);
  return JSON.parse(row.progress) as CampaignProgress;
}

/** Merges the campaign's current progress into the result of the run that started it. */
export async function patchCampaignRun(
  db: Database,
  campaignId: string,
  runId: number,
): Promise<void> {
  await db.run(sql`UPDATE runs SET result = json_patch(result, ${progressJson(campaignId)})
    WHERE id = ${runId} AND result IS NOT NULL`);
}
