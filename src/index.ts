/** The Worker: the HTTP API, the cron dispatcher and the Queue consumer. */
import { app } from "./api/app";
import { consumeBatch } from "./queue/consumer";
import { dispatchCron } from "./scheduled";

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    await dispatchCron(controller, env);
  },
  async queue(batch, env) {
    await consumeBatch(batch, env);
  },
} satisfies ExportedHandler<Env>;
