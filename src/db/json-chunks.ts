/**
 * D1 allows 100 bound parameters per statement, so set-based writes pass their rows as one
 * JSON array parameter read back with `json_each`. Arrays are cut to stay well under D1's
 * statement and value size limits.
 */
const maxChunkBytes = 400_000;

export function jsonChunks(rows: readonly unknown[]): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let size = 2;
  for (const row of rows) {
    const encoded = JSON.stringify(row);
    if (current.length > 0 && size + encoded.length + 1 > maxChunkBytes) {
      chunks.push(`[${current.join(",")}]`);
      current = [];
      size = 2;
    }
    current.push(encoded);
    size += encoded.length + 1;
  }
  if (current.length > 0) chunks.push(`[${current.join(",")}]`);
  return chunks;
}
