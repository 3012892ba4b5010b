/**
 * How a person hears of an alert: an e-mail to each of `ALERT_RECIPIENTS`, sent through the
 * outbox under the key `alert:<id>:<recipient>`, and, when `ALERT_WEBHOOK_URL` is set, a JSON
 * POST to it. The webhook is tried once: the alert log keeps what went wrong.
 */
import type { Database } from "../db/client";
import { claimEmails, sendClaimedEmails } from "../email/outbox";
import { errorMessage } from "../lib/log";
import { addressList, storeFrom } from "../store";
import type { AlertKind } from "./incidents";

export interface AlertNotice {
  id: number;
  state: "raised" | "recovered";
  key: string;
  kind: AlertKind;
  summary: string;
  detail: Record<string, unknown>;
  at: number;
}

/** E-mails and POSTs the alert; answers how many got the e-mail, and how the POST went. */
export async function notifyAlert(
  env: Env,
  db: Database,
  notice: AlertNotice,
): Promise<{ emailed: number; webhook: string }> {
  const store = storeFrom(env);
  const recipients = addressList(env.ALERT_RECIPIENTS);
  const headline = notice.state === "raised" ? "ALERT" : "Recovered";
  const subject = `[${store.name}] ${headline}: ${notice.summary}`;
  const at = new Date(notice.at).toISOString();
  const text = [
    notice.summary,
    "",
    `Incident: ${notice.key} (${notice.kind}), ${notice.state} at ${at}`,
    `Details: ${JSON.stringify(notice.detail)}`,
    "",
    `Runs, e-mails, failed items and alerts: ${store.publicUrl}/api/alerts`,
  ].join("\n");
  const html = `<pre>${escapeHtml(text)}</pre>`;

  const claims = recipients.map((recipient) => ({
    key: `alert:${notice.id}:${recipient}`,
    task: "alerts",
    runId: null,
    template: `alert-${notice.state}`,
    recipient,
  }));
  const won = await claimEmails(db, claims, Date.now());
  const messages = claims
    .filter((claim) => won.has(claim.key))
    .map((claim) => ({ key: claim.key, to: claim.recipient, subject, html, text }));
  const delivery = await sendClaimedEmails(env, db, store.senderAddress, messages);
  const emailed = delivery.outcomes.filter((outcome) => outcome.status === "sent").length;

  return { emailed, webhook: await postWebhook(env.ALERT_WEBHOOK_URL, notice) };
}

async function postWebhook(url: string, notice: AlertNotice): Promise<string> {
  if (url.trim() === "") return "not configured";
  const body = {
    alertId: notice.id,
    incident: notice.key,
    kind: notice.kind,
    state: notice.state,
    summary: notice.summary,
    detail: notice.detail,
    at: new Date(notice.at).toISOString(),
  };
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    return response.ok ? "sent" : `failed: HTTP ${response.status}`;
  } catch (error) {
    return `failed: ${errorMessage(error)}`;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
