/**
 * Wraps a D1 binding to count the statements a task sends (each statement of a batch counts,
 * as it does against D1's per-invocation limit), so every run records what it cost.
 */
export interface CountedD1 {
  d1: D1Database;
  statements(): number;
}

export function countStatements(d1: D1Database): CountedD1 {
  let statements = 0;
  const counted = new Proxy(d1, {
    get(target, property) {
      if (property === "prepare") {
        return (query: string) => {
          statements += 1;
          return target.prepare(query);
        };
      }
      if (property === "exec") {
        return (query: string) => {
          statements += 1;
          return target.exec(query);
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { d1: counted, statements: () => statements };
}
