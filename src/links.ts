/**
 * Links in e-mails carry a token signed with LINK_SECRET (HS256 JWT through Hono's helper), so
 * nobody can unsubscribe someone else or open another shopper's cart by guessing ids. A cart
 * recovery token is signed for a random link id, never for a cart or customer id, since a JWT's
 * payload is only encoded, not hidden.
 */
import { sign, verify } from "hono/jwt";

export type LinkPurpose = "unsubscribe" | "cart-recovery";

export type LinkCheck =
  | { ok: true; subject: string }
  | { ok: false; reason: "expired" | "invalid" };

export async function signLink(
  secret: string,
  purpose: LinkPurpose,
  subject: string,
  issuedAt: number,
  expiresAt?: number,
): Promise<string> {
  const payload: Record<string, string | number> = {
    sub: subject,
    purpose,
    iat: Math.floor(issuedAt / 1000),
  };
  if (expiresAt !== undefined) payload.exp = Math.floor(expiresAt / 1000);
  return sign(payload, secret, "HS256");
}

/**
 * What a token was signed for, or why it cannot be used. The signature is checked before the
 * expiry, so a forged token is "invalid" even when it claims to have expired.
 */
export async function checkLink(
  secret: string,
  purpose: LinkPurpose,
  token: string,
): Promise<LinkCheck> {
  let payload: Awaited<ReturnType<typeof verify>>;
  try {
    payload = await verify(token, secret, { alg: "HS256", exp: false });
  } catch {
    return { ok: false, reason: "invalid" };
  }
  if (payload.purpose !== purpose || typeof payload.sub !== "string") {
    return { ok: false, reason: "invalid" };
  }
  // A recovery link always expires: one signed without a numeric `exp` is not ours.
  if (purpose === "cart-recovery" && typeof payload.exp !== "number") {
    return { ok: false, reason: "invalid" };
  }
  if (typeof payload.exp === "number" && payload.exp * 1000 <= Date.now()) {
    return { ok: false, reason: "expired" };
  }
  return { ok: true, subject: payload.sub };
}

/** The subject a token was signed for, or null when it is forged, expired or for another use. */
export async function verifyLink(
  secret: string,
  purpose: LinkPurpose,
  token: string,
): Promise<string | null> {
  const check = await checkLink(secret, purpose, token);
  return check.ok ? check.subject : null;
}
