/**
 * Newsletter subscribers derived from the sample customers: neither data set has sign-ups, so
 * every customer is subscribed at a placeholder address with interests taken from what they
 * bought. Each event says `derived: true`.
 */
import type { SampleEvent } from "./sample-event";
import { toIsoInstant } from "./timeline";

/** How much a customer spent per category: line revenue in cents. */
export type SpendByCategory = Map<string, number>;

/** What a customer's derived subscription is built from. */
export interface CustomerInterests {
  /** The event id, e.g. `or-subscriber-17850`: fixed, so a re-import is a duplicate. */
  eventId: string;
  email: string;
  /** When the customer was first seen (already shifted): the subscription's instant. */
  since: number;
  /** Revenue of the customer's order lines, by category. */
  bought: SpendByCategory;
  /** Value of the customer's cart lines, by category; used only when nothing was bought. */
  carted: SpendByCategory;
}

/** How many categories a derived subscriber follows at most. */
export const maxSubscriberCategories = 3;

/**
 * The categories a customer most likely wants to hear about: the ones with the most revenue of
 * what they bought, or of what they put in carts when they bought nothing; at most three, ties
 * broken by name so the result never depends on input order.
 */
export function favouriteCategories(bought: SpendByCategory, carted: SpendByCategory): string[] {
  const spend = bought.size > 0 ? bought : carted;
  return [...spend.entries()]
    .sort(([nameA, centsA], [nameB, centsB]) => centsB - centsA || compareText(nameA, nameB))
    .slice(0, maxSubscriberCategories)
    .map(([name]) => name);
}

/** One `subscriber.subscribed` event per customer, in the given order. */
export function deriveSubscribers(customers: Iterable<CustomerInterests>): SampleEvent[] {
  const events: SampleEvent[] = [];
  for (const customer of customers) {
    events.push({
      id: customer.eventId,
      type: "subscriber.subscribed",
      occurredAt: toIsoInstant(customer.since),
      data: {
        email: customer.email,
        categories: favouriteCategories(customer.bought, customer.carted),
        derived: true,
      },
    });
  }
  return events;
}

/** Adds `cents` to a category's spend; lines without a category count for none. */
export function addSpend(spend: SpendByCategory, category: string | undefined, cents: number) {
  if (category === undefined) return;
  spend.set(category, (spend.get(category) ?? 0) + cents);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
