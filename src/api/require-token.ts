/** Bearer-token guard for every `/api` route: reading results needs the same token as writing. */
import { createMiddleware } from "hono/factory";
import { timingSafeEqual } from "hono/utils/buffer";
import { ApiError } from "./api-error";

export const requireToken = createMiddleware<{ Bindings: Env }>(async (c, next) => {
  const expected = c.env.API_TOKEN;
  if (!expected) throw new ApiError("unauthorized", "the Worker has no API_TOKEN secret set");
  const header = c.req.header("Authorization") ?? "";
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match?.[1]) {
    throw new ApiError("unauthorized", "send the API token as `Authorization: Bearer <token>`");
  }
  if (!(await timingSafeEqual(match[1], expected))) {
    throw new ApiError("unauthorized", "the API token is not valid");
  }
  await next();
});
