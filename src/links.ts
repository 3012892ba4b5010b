/**
 * Links in e-mails carry a token signed with LINK_SECRET (HS256 JWT through Hono's helper), so
 * nobody can unsubscribe someone else or open another shopper's cart by guessing ids.
 */
import { sign, verify } from "hono/jwt";

export type LinkPurpose = "unsubscribe" | "cart";

const cartLinkLifetimeSeconds = 30 * 24 * 3600;

export async function signLink(
  secret: string,
  purpose: LinkPurpose,
  subject: string,
  issuedAt: number,
): Promise<string> {
  const iat = Math.floor(issuedAt / 1000);
  const payload: Record<string, string | number> = { sub: subject, purpose, iat };
  if (purpose === "cart") payload.exp = iat + cartLinkLifetimeSeconds;
  return sign(payload, secret, "HS256");
}

/** The subject a token was signed for, or null when it is forged, expired or for another use. */
export async function verifyLink(
  secret: string,
  purpose: LinkPurpose,
  token: string,
): Promise<string | null> {
  try {
    const payload = await verify(token, secret, "HS256");
    if (payload.purpose !== purpose || typeof payload.sub !== "string") return null;
    return payload.sub;
  } catch {
    return null;
  }
}
