/**
 * One rule, for every task, on who gets no marketing e-mail: an address that unsubscribed,
 * hard-bounced, or belongs to a customer without marketing consent.
 */
import { type SQL, sql } from "drizzle-orm";

/** SQL for why the address in column `address` is opted out, or NULL when it may be e-mailed. */
export function optOutReason(address: string): SQL {
  const column = sql.raw(address);
  return sql`CASE
    WHEN EXISTS (SELECT 1 FROM subscribers os
      WHERE os.email = ${column} AND os.status = 'unsubscribed') THEN 'unsubscribed'
    WHEN EXISTS (SELECT 1 FROM bounces ob
      WHERE ob.email = ${column} AND ob.kind = 'hard') THEN 'bounced'
    WHEN EXISTS (SELECT 1 FROM customers oc
      WHERE oc.email = ${column} AND oc.marketing_consent = 0) THEN 'unsubscribed'
  END`;
}
