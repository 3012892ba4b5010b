import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { coveringUtcCron } from "../src/schedule/utc-crons";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { scheduledTasks, zoneOf } from "../src/tasks/registry";
import wranglerToml from "../wrangler.toml?raw";

describe("wrangler.toml and the task schedules", () => {
  it("carries the UTC crons that `npm run crons` computes from the schedules", () => {
    const from = Date.UTC(new Date().getUTCFullYear(), 0, 1);
    for (const entry of scheduledTasks) {
      const expected = coveringUtcCron(
        entry.schedule.expression,
        zoneOf(entry, env.STORE_TIMEZONE),
        from,
      );
      expect(utcCrons[entry.task.name], entry.task.name).toBe(expected);
    }
    const block = /crons\s*=\s*\[([^\]]*)\]/.exec(wranglerToml)?.[1] ?? "";
    const declared = [...block.matchAll(/"([^"]+)"/g)].map((match) => match[1]);
    expect(declared.sort()).toEqual([...new Set(Object.values(utcCrons))].sort());
  });

  it("names weekdays, since Cloudflare counts day-of-week 1 as Sunday", () => {
    for (const cron of Object.values(utcCrons)) expect(cron.split(" ")[4]).not.toMatch(/\d/);
  });
});
