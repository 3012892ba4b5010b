/** Query-string validation that names the parameter and the reason when it fails. */
import type { z } from "zod";
import { ApiError } from "./api-error";

export function parseQuery<T extends z.ZodType>(
  schema: T,
  query: Record<string, string>,
): z.output<T> {
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
