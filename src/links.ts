/**
 * Links in e-mails carry a token signed with LINK_SECRET (HS256 JWT through Hono's helper), so
 * nobody can unsubscribe someone else or open another shopper's cart by guessing ids. A cart
 * recovery token is signed for a random link id, never for a cart or customer id, since a JWT's
 * payload is only encoded, not hidden.
 */
import { sign, verify } from "hono/jwt";
import { JwtTokenExpired } from "hono/utils/jwt/types";

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

/** What a token was signed for, or why it cannot be used: expired, or forged / for another use. */
export async function checkLink(
  secret: string,
  purpose: LinkPurpose,
  token: string,
): Promise<LinkCheck> {
  try {
    const payload = await verify(token, secret, "HS256");
    if (payload.purpose !== purpose || typeof payload.sub !== "string") {
      return { ok: false, reason: "invalid" };
    }
    return { ok: true, subject: payload.sub };
  } catch (error) {
    return { ok: false, reason: error instanceof JwtTokenExpired ? "expired" : "invalid" };
  }
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
