/** Query-string validation that names the parameter and the reason when it fails. */
import type { MiddlewareHandler } from "hono";
import { z } from "zod";
import { ApiError } from "./api-error";

export function parseQuery<T extends z.ZodType>(
  schema: T,
  queries: Record<string, string[]>,
): z.output<T> {
  refuseRepeated(queries);
  const query = Object.fromEntries(
    Object.entries(queries).map(([name, values]) => [name, values[0] ?? ""]),
  );
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => ({
    // An unknown parameter has no path of its own: name it by its keys.
    parameter:
      issue.path.join(".") ||
      (issue.code === "unrecognized_keys" ? issue.keys.join(", ") : "(query)"),
    problem: issue.message,
  }));
  const summary = problems.map((p) => `${p.parameter}: ${p.problem}`).join("; ");
  throw new ApiError("bad_request", `invalid query parameters: ${summary}`, problems);
}

/** `limit=5&limit=7` is ambiguous: say so rather than pick one. */
export function refuseRepeated(queries: Record<string, string[]>): void {
  const repeated = Object.keys(queries).filter((name) => (queries[name]?.length ?? 0) > 1);
  if (repeated.length === 0) return;
  const problems = repeated.map((parameter) => ({ parameter, problem: "is given more than once" }));
  const summary = problems.map((p) => `${p.parameter}: ${p.problem}`).join("; ");
  throw new ApiError("bad_request", `invalid query parameters: ${summary}`, problems);
}

/** Every API route, with a query schema or none, refuses a parameter given twice. */
export const singleValuedQuery: MiddlewareHandler = async (c, next) => {
  refuseRepeated(c.req.queries());
  await next();
};

/** A positive integer id as it appears in a path or a query: digits only, at most 16. */
export function positiveId(what = "a positive whole number") {
  return z
    .string()
    .regex(/^[1-9]\d{0,15}$/, { error: `must be ${what}`, abort: true })
    .refine((id) => Number.isSafeInteger(Number(id)), `must be ${what} below 2^53`)
    .transform(Number);
}

/** The `limit` and `cursor` every listing takes; the cursor is the id of a page's last row. */
export const pageFields = {
  limit: z
    .string()
    .regex(/^(100|[1-9]\d?)$/, "must be a whole number from 1 to 100")
    .transform(Number)
    .default(20),
  cursor: z
    .string()
    .regex(/^[1-9]\d{0,15}$/, { error: "must be the nextCursor of an earlier page", abort: true })
    .refine((id) => Number.isSafeInteger(Number(id)), "must be the nextCursor of an earlier page")
    .transform(Number)
    .optional(),
};

/** Cuts `rows` (read with one extra row) to a page and names the cursor of the next one. */
export function pageOf<Row extends { id: number }>(rows: Row[], limit: number) {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, nextCursor: rows.length > limit && last ? String(last.id) : null };
}
