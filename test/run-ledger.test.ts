import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { api, fireCron, fireOne } from "./helpers/worker";

const cartCron = utcCrons["abandoned-cart-recovery"] ?? "";
const reportCron = utcCrons["daily-sales-report"] ?? "";
const cleanupCron = utcCrons["data-cleanup"] ?? "";

describe("the run ledger and results API", () => {
  it("records a cron that matches no task as a failed run", async () => {
    const [run] = await fireCron("15 3 * * *", "2024-06-10T03:15:00Z");
    expect(run).toMatchObject({
      task: "unmatched-cron",
      cron: "15 3 * * *",
      status: "failed",
      error: 'no task is scheduled by cron "15 3 * * *"',
    });
  });

  it("records a task that throws as failed, with its error", async () => {
    await env.DB.prepare("DROP TABLE carts").run();
    const run = await fireOne(cartCron, "2024-06-10T12:00:00Z");
    expect(run.status).toBe("failed");
    expect(run.error).toContain("no such table: carts");
    expect(run.finishedAt).not.toBeNull();
  });

  it("serves each run as JSON with instants in UTC", async () => {
    const run = await fireOne(cleanupCron, "2024-06-10T11:00:00Z");
    const response = await api(`/api/runs/${run.id}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(
      [
        "cron",
        "error",
        "finishedAt",
        "id",
        "result",
        "slotTime",
        "startedAt",
        "status",
        "task",
        "trigger",
        "metrics",
        "note",
        "dryRun",
        "invocationId",
        "lateByMs",
        "heartbeatAt",
      ].sort(),
    );
    expect(body).toMatchObject({
      task: "data-cleanup",
      slotTime: "2024-06-10T11:00:00.000Z",
      trigger: "cron",
      status: "succeeded",
      lateByMs: expect.any(Number),
      invocationId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(body.startedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it("pages runs newest first and filters by task and status", async () => {
    // Midnight, 06:00 and noon in London (BST).
    for (const slot of ["2024-06-09T23:00:00Z", "2024-06-10T05:00:00Z", "2024-06-10T11:00:00Z"]) {
      await fireOne(cleanupCron, slot);
    }
    await fireOne(cartCron, "2024-06-10T12:30:00Z");

    const first = (await (await api("/api/runs?task=data-cleanup&limit=2")).json()) as {
      runs: { slotTime: string }[];
      nextCursor: string | null;
    };
    expect(first.runs.map((r) => r.slotTime)).toEqual([
      "2024-06-10T11:00:00.000Z",
      "2024-06-10T05:00:00.000Z",
    ]);
    expect(first.nextCursor).not.toBeNull();
    const second = (await (
      await api(`/api/runs?task=data-cleanup&limit=2&cursor=${first.nextCursor}`)
    ).json()) as typeof first;
    expect(second.runs.map((r) => r.slotTime)).toEqual(["2024-06-09T23:00:00.000Z"]);
    expect(second.nextCursor).toBeNull();

    const failed = (await (await api("/api/runs?status=failed")).json()) as typeof first;
    expect(failed.runs).toEqual([]);
  });

  it("answers 400 naming the bad parameter, and 404 for what does not exist", async () => {
    const bad = await api("/api/runs?limit=0&status=done");
    expect(bad.status).toBe(400);
    const { error } = (await bad.json()) as { error: { message: string; details: unknown } };
    expect(error.details).toEqual([
      { parameter: "status", problem: expect.stringContaining("running") },
      { parameter: "limit", problem: expect.stringContaining("1") },
    ]);

    const unknownTask = await api("/api/runs?task=nope");
    expect(unknownTask.status).toBe(400);
    expect(await unknownTask.text()).toContain("task: must be one of abandoned-cart-recovery");
    expect((await api("/api/runs?limit=0x10")).status).toBe(400);

    const unknownParam = await api("/api/runs?colour=red");
    expect(unknownParam.status).toBe(400);
    const unknown = (await unknownParam.json()) as { error: { details: { parameter: string }[] } };
    expect(unknown.error.details[0]?.parameter).toBe("colour");

    expect((await api("/api/runs/999")).status).toBe(404);
    expect((await api("/api/runs/abc")).status).toBe(400);
    const task = await api("/api/tasks/send-spam");
    expect(task.status).toBe(404);
    expect(await task.text()).toContain("abandoned-cart-recovery");
  });

  it("lists the four tasks with their crons, next runs and last run", async () => {
    const run = await fireOne(reportCron, "2024-06-10T07:00:00Z");
    const { tasks } = (await (await api("/api/tasks")).json()) as {
      tasks: {
        name: string;
        schedule: { expression: string; timeZone: string; utcCron: string };
        lastRun: { id: number } | null;
      }[];
    };
    expect(tasks.map((t) => [t.name, t.schedule.expression, t.schedule.utcCron])).toEqual([
      ["abandoned-cart-recovery", "rate(30 minutes)", "*/30 * * * *"],
      ["daily-sales-report", "0 8 * * *", "0 7,8 * * *"],
      ["data-cleanup", "rate(6 hours)", "0 0,5,6,11,12,17,18,23 * * *"],
      ["weekly-newsletter", "0 9 * * MON", "0 8,9 * * MON"],
    ]);
    expect(tasks[1]?.lastRun?.id).toBe(run.id);

    const detail = (await (await api("/api/tasks/weekly-newsletter")).json()) as {
      nextRuns: { utc: string; local: string }[];
    };
    expect(detail.nextRuns).toHaveLength(5);
    for (const { utc, local } of detail.nextRuns) {
      // Mondays at 09:00 London time, whichever the offset.
      expect(new Date(utc).getUTCDay()).toBe(1);
      expect(local).toMatch(/T09:00:00\.000\+0[01]:00$/);
    }

    const latest = (await (await api("/api/tasks/daily-sales-report/latest")).json()) as {
      id: number;
      result: { date: string };
    };
    expect(latest.id).toBe(run.id);
    expect(latest.result.date).toBe("2024-06-09");
    expect((latest as unknown as { slotTime: string }).slotTime).toBe("2024-06-10T07:00:00.000Z");
    expect((await api("/api/tasks/data-cleanup/latest")).status).toBe(404);

    // A duplicate delivery is newer, but "latest" stays the run that did the work, also when
    // the KV cache has nothing and D1 answers.
    await fireCron(reportCron, "2024-06-10T07:00:00Z");
    await env.CACHE.delete("latest-run:daily-sales-report");
    const fromD1 = (await (await api("/api/tasks/daily-sales-report/latest")).json()) as {
      id: number;
      status: string;
    };
    expect(fromD1).toMatchObject({ id: run.id, status: "succeeded" });
  });
});
