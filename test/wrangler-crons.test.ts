import { describe, expect, it } from "vitest";
import { tasks } from "../src/tasks/registry";
import wranglerToml from "../wrangler.toml?raw";

describe("wrangler.toml", () => {
  it("declares exactly the crons of the task registry", () => {
    const block = /crons\s*=\s*\[([^\]]*)\]/.exec(wranglerToml)?.[1] ?? "";
    const declared = [...block.matchAll(/"([^"]+)"/g)].map((match) => match[1]);
    expect(declared.sort()).toEqual(tasks.map((task) => task.cron).sort());
  });

  it("names the weekday, since Cloudflare counts day-of-week 1 as Sunday", () => {
    expect(tasks.find((task) => task.name === "weekly-newsletter")?.cron).toBe("0 9 * * MON");
  });
});
