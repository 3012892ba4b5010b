/**
 * One JSON object per line. Callers pass ids and counts, never a customer's address or name:
 * `maskEmail` is the only form in which an address may appear.
 */
type Level = "debug" | "info" | "warn" | "error";

export function log(level: Level, event: string, fields: Record<string, unknown> = {}): void {
  // A last guard: an address that slipped into a field (an e-mail key, an error) is masked.
  const line = JSON.stringify(
    { level, event, time: new Date().toISOString(), ...fields },
    (_key, value: unknown) => (typeof value === "string" ? maskAddressesIn(value) : value),
  );
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

/** `jane@example.test` → `j***@example.test`. */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 1) return "***";
  return `${address.slice(0, 1)}***${address.slice(at)}`;
}

/**
 * The root cause's message. drizzle wraps D1 errors in one that quotes the whole query and its
 * parameters, which may hold addresses, so the wrapper's text is never used.
 */
// A local part may hold an apostrophe (o'connell@…); a domain may not.
const addressPattern = /[^\s<>",;:()[\]]+@[^\s<>"',;:()[\]]+\.[^\s<>"',;:()[\]]+/g;

/** Masks every e-mail address inside a text: `newsletter:n1:jane@x.test` → `…:j***@x.test`. */
export function maskAddressesIn(text: string): string {
  return text.includes("@") ? text.replace(addressPattern, maskEmail) : text;
}

export function errorMessage(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
