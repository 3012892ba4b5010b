/** Formats integer minor units for display only; sums and averages stay in minor units. */
export function formatMoney(minorUnits: number, currency: string): string {
  const format = new Intl.NumberFormat("en-GB", { style: "currency", currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(minorUnits / 10 ** digits);
}

/** Integer division rounded half away from zero, for averages of minor units. */
export function divideRounded(total: number, count: number): number {
  if (count === 0) return 0;
  return Math.sign(total) * Math.round(Math.abs(total) / count);
}
