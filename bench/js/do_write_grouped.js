// do_write.js with the requests that reach the object together committed together, as mlink's
// project object handles its webhooks (src/object.rs, `webhook`): the first of a group waits one
// timer tick, then every body that arrived meanwhile is inserted back to back, and the runtime
// commits them in one go. The storage ceiling for a writer that groups its commits.
import { DurableObject } from "cloudflare:workers";

export class Writer extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS updates (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    );
    this.waiting = [];
  }

  async fetch(request) {
    const body = await request.text();
    return new Promise((answer) => {
      this.waiting.push([body, answer]);
      if (this.waiting.length === 1) setTimeout(() => this.insertWaiting(), 0);
    });
  }

  insertWaiting() {
    const group = this.waiting;
    this.waiting = [];
    for (const [body, answer] of group) {
      this.ctx.storage.sql.exec("INSERT INTO updates (body) VALUES (?)", body);
      answer(new Response("{}", { headers: { "content-type": "application/json" } }));
    }
  }
}

export default {
  fetch(request, env) {
    return env.WRITER.get(env.WRITER.idFromName("bench")).fetch(request);
  },
};
