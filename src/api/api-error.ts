/**
 * The API's one error type: a code, an HTTP status and a message that says what was wrong and
 * where. `onApiError` turns it, and anything unexpected, into JSON without a stack trace.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { errorMessage, log } from "../lib/log";

export type ApiErrorCode =
  | "bad_request"
  | "unauthorized"
  | "not_found"
  | "conflict"
  | "gone"
  | "payload_too_large"
  | "unprocessable"
  | "internal_error";

const statusOf: Record<ApiErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  unprocessable: 422,
  internal_error: 500,
};

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }

  get status(): ContentfulStatusCode {
    return statusOf[this.code];
  }
}

export function onApiError(error: Error, c: Context) {
  if (error instanceof ApiError) {
    const body = { error: { code: error.code, message: error.message, details: error.details } };
    return c.json(body, error.status);
  }
  if (error instanceof HTTPException && error.status < 500) {
    return c.json({ error: { code: "bad_request", message: error.message } }, error.status);
  }
  log("error", "api.unexpected_error", { path: c.req.path, error: errorMessage(error) });
  return c.json({ error: { code: "internal_error", message: "internal error" } }, 500);
}
