import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { api } from "./helpers/worker";

const claim = (
  key: string,
  task: string,
  runId: number,
  recipient: string,
  status: string,
  claimedAt: string,
  sentAt: string | null = null,
  error: string | null = null,
) =>
  env.DB.prepare(
    `INSERT INTO emails (idempotency_key, task, run_id, campaign_id, template, recipient, status,
      attempts, claimed_at, sent_at, error) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)`,
  ).bind(
    key,
    task,
    runId,
    task === "daily-sales-report" ? "daily-sales-report" : "cart-reminder-1",
    recipient,
    status,
    status === "claimed" ? 0 : 1,
    Date.parse(claimedAt),
    sentAt === null ? null : Date.parse(sentAt),
    error,
  );

async function list(query = "") {
  const response = await api(`/api/emails${query}`);
  return { status: response.status, body: (await response.json()) as any };
}

describe("GET /api/emails", () => {
  beforeEach(async () => {
    await env.DB.batch([
      claim(
        "cart-reminder:A:stage-1",
        "abandoned-cart-recovery",
        1,
        "jane@example.test",
        "sent",
        "2024-06-10T12:00:00Z",
        "2024-06-10T12:00:01Z",
      ),
      claim(
        "cart-reminder:B:stage-1",
        "abandoned-cart-recovery",
        1,
        "bob@example.test",
        "failed",
        "2024-06-10T12:00:00Z",
        null,
        "invalid recipient <bob@example.test>",
      ),
      claim(
        "daily-report:2024-06-09:owner@example.test",
        "daily-sales-report",
        2,
        "owner@example.test",
        "claimed",
        "2024-06-10T07:00:00Z",
      ),
    ]);
  });

  it("lists e-mails newest claim first with the recipient masked, in its key too", async () => {
    const { status, body } = await list();

    expect(status).toBe(200);
    expect(body.nextCursor).toBeNull();
    expect(body.emails.map((e: { idempotencyKey: string }) => e.idempotencyKey)).toEqual([
      "daily-report:2024-06-09:o***@example.test",
      "cart-reminder:B:stage-1",
      "cart-reminder:A:stage-1",
    ]);
    expect(body.emails[2]).toEqual({
      idempotencyKey: "cart-reminder:A:stage-1",
      task: "abandoned-cart-recovery",
      runId: 1,
      campaignId: null,
      template: "cart-reminder-1",
      status: "sent",
      attempts: 1,
      claimedAt: "2024-06-10T12:00:00.000Z",
      sentAt: "2024-06-10T12:00:01.000Z",
      error: null,
      recipient: "j***@example.test",
    });
    expect(JSON.stringify(body)).not.toContain("jane@");
    expect(JSON.stringify(body)).not.toContain("bob@");
  });

  it("filters by task, run and status", async () => {
    const byTask = await list("?task=daily-sales-report");
    expect(byTask.body.emails.map((e: { recipient: string }) => e.recipient)).toEqual([
      "o***@example.test",
    ]);

    const byRun = await list("?runId=1&status=failed");
    expect(byRun.body.emails).toHaveLength(1);
    expect(byRun.body.emails[0]).toMatchObject({
      idempotencyKey: "cart-reminder:B:stage-1",
      recipient: "b***@example.test",
      error: "invalid recipient <b***@example.test>",
    });
  });

  it("pages with the cursor until the last page", async () => {
    const first = await list("?limit=2");
    expect(first.body.emails).toHaveLength(2);
    expect(first.body.nextCursor).toBe("2");

    const second = await list(`?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.emails.map((e: { idempotencyKey: string }) => e.idempotencyKey)).toEqual([
      "cart-reminder:A:stage-1",
    ]);
    expect(second.body.nextCursor).toBeNull();
  });

  it("answers 400 naming the parameter at fault", async () => {
    const badStatus = await list("?status=lost");
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.error.details[0].parameter).toBe("status");

    const badRun = await list("?runId=abc");
    expect(badRun.status).toBe(400);
    expect(badRun.body.error.details).toEqual([
      { parameter: "runId", problem: "must be a run id (a positive integer)" },
    ]);

    const unknown = await list("?recipient=jane");
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain("recipient");
  });

  it("needs the API token", async () => {
    const response = await api("/api/emails", { headers: { Authorization: "Bearer wrong" } });
    expect(response.status).toBe(401);
  });
});
