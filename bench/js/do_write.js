// The storage ceiling for a webhook: the edge worker forwards each request to one SQLite
// Durable Object (as mlink sends a project's webhooks to that project's object), which inserts
// the body in one statement and answers. No parsing, no transaction beyond the implicit one.
import { DurableObject } from "cloudflare:workers";

export class Writer extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS updates (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    );
  }

  async fetch(request) {
    const body = await request.text();
    this.ctx.storage.sql.exec("INSERT INTO updates (body) VALUES (?)", body);
    return new Response("{}", { headers: { "content-type": "application/json" } });
  }
}

export default {
  fetch(request, env) {
    return env.WRITER.get(env.WRITER.idFromName("bench")).fetch(request);
  },
};
