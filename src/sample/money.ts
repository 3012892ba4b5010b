/** A decimal amount read exactly from its text, in integer minor units (pence, cents). */
export interface ParsedAmount {
  cents: number;
  /** True when the text had digits below one cent, which were rounded half away from zero. */
  rounded: boolean;
}

const decimal = /^(-?)(\d+)(?:\.(\d*))?$/;

/**
 * Reads a decimal such as `2.55`, `-11062.06` or `0.001` as integer cents without going through
 * a float, so `2.55` is always 255. Digits below a cent are rounded half away from zero and
 * reported. Returns undefined for text that is not a plain decimal.
 */
export function parseAmount(text: string): ParsedAmount | undefined {
  const match = decimal.exec(text.trim());
  if (!match) return undefined;
  const [, sign = "", units = "0", fraction = ""] = match;

  const cents = Number(units) * 100 + Number(fraction.slice(0, 2).padEnd(2, "0"));
  const below = fraction.slice(2);
  const roundUp = below !== "" && Number(below[0]) >= 5;
  const magnitude = cents + (roundUp ? 1 : 0);
  if (!Number.isSafeInteger(magnitude)) return undefined;
  const signed = sign === "-" && magnitude !== 0 ? -magnitude : magnitude;
  return { cents: signed, rounded: /[1-9]/.test(below) };
}
