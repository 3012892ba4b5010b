/** The signed unsubscribe link every marketing e-mail carries, and its one-click headers. */
import { signLink } from "../links";

export async function unsubscribeLink(
  publicUrl: string,
  secret: string,
  address: string,
  issuedAt: number,
): Promise<{ link: string; headers: Record<string, string> }> {
  const token = await signLink(secret, "unsubscribe", address, issuedAt);
  const link = `${publicUrl}/unsubscribe?token=${token}`;
  // RFC 8058 one-click unsubscribe, which mail clients show as a button.
  const headers = {
    "List-Unsubscribe": `<${link}>`,
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
  };
  return { link, headers };
}
