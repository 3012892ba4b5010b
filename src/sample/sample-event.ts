/**
 * What a sample-data mapping hands over: events as `POST /api/events` takes them, and counts of
 * what was read, mapped and skipped.
 */
import type { z } from "zod";
import type { EventType, eventData } from "../events/contract";

/** One event of the contract in its wire form: `occurredAt` is an ISO-8601 instant. */
export type SampleEvent = {
  [T in EventType]: {
    id: string;
    type: T;
    occurredAt: string;
    data: z.input<(typeof eventData)[T]>;
  };
}[EventType];

/** The sample data sets, by the name the importer's `--only` option takes. */
export type DataSetName = "online-retail" | "rees46";

export interface SampleImportOptions {
  /** "Now" for the time shift, in ms since the epoch; tests pass a fixed one. */
  now: number;
  /** Keep the data set's original dates instead of shifting them to recent weeks. */
  keepDates: boolean;
}

export interface SampleImportStats {
  dataSet: DataSetName;
  rowsRead: number;
  /** Whole weeks of store wall-clock time added to every instant (0 with `keepDates`). */
  shiftWeeks: number;
  eventsByType: Partial<Record<EventType, number>>;
  /** Rows or invoices not mapped to any event, by the reason (the key says which unit). */
  skipped: Record<string, number>;
  /** Values mapped with a deliberate change, by what was changed. */
  adjusted: Record<string, number>;
}

export interface SampleImport {
  /** Sorted by `occurredAt`; events of the same instant keep the order they were made in. */
  events: SampleEvent[];
  stats: SampleImportStats;
}

/** Adds one to `counts[key]`, creating it when absent. */
export function increment(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

/** Counts events by type. */
export function countByType(events: readonly SampleEvent[]): Partial<Record<EventType, number>> {
  const counts: Partial<Record<EventType, number>> = {};
  for (const event of events) counts[event.type] = (counts[event.type] ?? 0) + 1;
  return counts;
}

/** Sorts events by their instant, keeping the given order among events of the same instant. */
export function sortByTime(events: readonly SampleEvent[]): SampleEvent[] {
  return events
    .map((event) => ({ event, at: Date.parse(event.occurredAt) }))
    .sort((a, b) => a.at - b.at)
    .map(({ event }) => event);
}
