/**
 * One rule, for every task, on who gets no marketing e-mail: an address that unsubscribed,
 * hard-bounced, or belongs to a customer who refused marketing consent. Where consent is
 * required, an address nobody consented for is left out too.
 */
import { type SQL, sql } from "drizzle-orm";

export type OptOutReason = "unsubscribed" | "bounced" | "noConsent";

export interface OptOutOptions {
  /** A column holding the customer id the e-mail is for, when there is one. */
  customerId?: string;
  /** `required`: only an address whose customer consented, or a live subscriber, may be mailed. */
  consent?: "unless-refused" | "required";
}

/** SQL for why the address in column `address` is opted out, or NULL when it may be e-mailed. */
export function optOutReason(address: string, options: OptOutOptions = {}): SQL {
  const column = sql.raw(address);
  const customer = options.customerId ? sql.raw(options.customerId) : sql`NULL`;
  const consentRequired = options.consent === "required";
  return sql`CASE
    WHEN EXISTS (SELECT 1 FROM subscribers os
      WHERE os.email = ${column} AND os.status = 'unsubscribed') THEN 'unsubscribed'
    WHEN EXISTS (SELECT 1 FROM bounces ob
      WHERE ob.email = ${column} AND ob.kind = 'hard') THEN 'bounced'
    WHEN EXISTS (SELECT 1 FROM customers oc
      WHERE (oc.email = ${column} OR oc.id = ${customer}) AND oc.marketing_consent = 0)
      THEN 'noConsent'
    WHEN ${consentRequired ? 1 : 0} AND NOT EXISTS (SELECT 1 FROM customers oc
        WHERE (oc.email = ${column} OR oc.id = ${customer}) AND oc.marketing_consent = 1)
      AND NOT EXISTS (SELECT 1 FROM subscribers os
        WHERE os.email = ${column} AND os.status = 'subscribed') THEN 'noConsent'
  END`;
}
