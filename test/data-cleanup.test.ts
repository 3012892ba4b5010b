import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { nextSlot } from "../src/schedule/task-schedule";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { event, fireOne, postEvents } from "./helpers/worker";

const cron = utcCrons["data-cleanup"] ?? "";
// 12:00 in London (BST): one of the 6-hourly local slots.
const slot = "2024-06-10T11:00:00Z";
const at = (iso: string) => Date.parse(iso);

describe("data-cleanup", () => {
  it("deletes what is past its limit and keeps everything else", async () => {
    await postEvents([
      // Expired at 11:00.
      event("session.touched", "2024-06-10T09:00:00Z", {
        sessionId: "expired",
        expiresAt: "2024-06-10T10:59:00Z",
      }),
      // Not expired, but idle for 24 h exactly.
      event("session.touched", "2024-06-09T11:00:00Z", {
        sessionId: "idle",
        expiresAt: "2024-06-20T00:00:00Z",
      }),
      // Idle 23 h 59 min and not expired: kept.
      event("session.touched", "2024-06-09T11:01:00Z", {
        sessionId: "live",
        expiresAt: "2024-06-20T00:00:00Z",
      }),
    ]);
    // R2 stamps uploads with the real clock, so the slot is set relative to it.
    await env.FILES.put("tmp/old-a.csv", "x".repeat(1000));
    await env.FILES.put("tmp/old-b.csv", "y".repeat(24));
    await env.FILES.put("reports/keep.html", "z".repeat(50));
    const uploaded = Date.now();
    const insertLog = env.DB.prepare(
      "INSERT INTO app_logs (at, level, event) VALUES (?, 'info', 'test')",
    );
    await env.DB.batch([
      insertLog.bind(at(slot) - 31 * 86_400_000),
      insertLog.bind(at(slot) - 30 * 86_400_000 + 1),
    ]);
    await env.FILES.put("uploads/failed.bin", "f".repeat(300));
    await env.DB.prepare(
      `INSERT INTO uploads (id, object_key, status, size_bytes, created_at) VALUES
        ('u1', 'uploads/failed.bin', 'failed', 300, ?),
        ('u2', 'uploads/recent.bin', 'failed', 10, ?),
        ('u3', 'uploads/done.bin', 'complete', 10, ?)`,
    )
      .bind(at(slot) - 25 * 3_600_000, at(slot) - 23 * 3_600_000, at(slot) - 48 * 3_600_000)
      .run();

    // An hour and a minute after the uploads, by the slot's clock: tmp files are stale.
    const run = await fireOne(cron, slot, { ...env });
    expect(run.status).toBe("succeeded");
    // The tmp files were uploaded now, so at the 2024 slot they are not yet an hour old.
    expect(run.result.results).toMatchObject({
      expiredSessions: 2,
      temporaryFiles: 0,
      oldLogs: 1,
      failedUploads: 1,
    });
    expect(run.result.systemHealth.sessionTableRows).toBe(1);
    expect(run.result.systemHealth.nextCleanupDue).toBe("2024-06-10T17:00:00.000Z");
    expect(await env.FILES.head("uploads/failed.bin")).toBeNull();

    // The first 6-hourly London slot at least an hour after the uploads.
    const laterSlot = nextSlot("rate(6 hours)", "Europe/London", uploaded + 61 * 60_000) ?? 0;
    const later = new Date(laterSlot).toISOString();
    const second = await fireOne(cron, later, { ...env });
    expect(second.result.results.temporaryFiles).toBe(2);
    // By the real clock the recent failed upload is old too: 1,000 + 24 tmp bytes + 10 bytes.
    expect(second.result.results.failedUploads).toBe(1);
    expect(second.result.results.spaceFreedBreakdown.fileBytes).toBe(1034);
    expect(await env.FILES.head("reports/keep.html")).not.toBeNull();
    const sessions = await env.DB.prepare("SELECT id FROM sessions").all();
    // The later slot is real time, when the 2024 session has long expired.
    expect(sessions.results).toEqual([]);
  });
});
