import Papa from "papaparse";

/** The rows of a CSV file, each looked up by column name. */
export interface CsvTable<Column extends string> {
  rows: Array<Record<Column, string>>;
  /** Rows whose field count differs from the header's; they are left out of `rows`. */
  malformedRows: number;
}

/**
 * Parses CSV text whose header must contain every column in `columns` (in any order), keeping
 * every value as text. Empty lines are ignored. Throws when a column is missing, since no row of
 * such a file could be mapped.
 */
export function readCsv<Column extends string>(
  text: string,
  columns: readonly Column[],
): CsvTable<Column> {
  const parsed = Papa.parse<string[]>(text, { skipEmptyLines: true });
  const [header, ...lines] = parsed.data;
  if (!header) throw new Error("the CSV file is empty");

  const positions = columns.map((column) => {
    const position = header.indexOf(column);
    if (position < 0) throw new Error(`the CSV header lacks the column ${column}`);
    return [column, position] as const;
  });

  const rows: Array<Record<Column, string>> = [];
  let malformedRows = 0;
  for (const line of lines) {
    if (line.length !== header.length) {
      malformedRows += 1;
      continue;
    }
    const row = {} as Record<Column, string>;
    for (const [column, position] of positions) row[column] = line[position] ?? "";
    rows.push(row);
  }
  return { rows, malformedRows };
}
