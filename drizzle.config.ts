import { defineConfig } from "drizzle-kit";

// drizzle-kit only writes SQL files; wrangler applies them and tracks what ran.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
