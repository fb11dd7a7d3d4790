// A local KV namespace for bare workerd. workerd's `kvNamespace` binding turns each KV call
// into an HTTP request to the service it names (the protocol Miniflare's KV worker serves):
//   GET /<key>?urlencoded=true   -> 200 value | 404
//   PUT /<key>?urlencoded=true   <- value (expiration and metadata ignored here)
//   DELETE /<key>?urlencoded=true
//   GET /?prefix=&key_count_limit=  -> list
// Values live in this isolate's memory for the life of the process, which is all a benchmark
// needs. The same service also answers on a socket so the bench can seed it with curl.
const values = new Map();

function keyOf(url) {
  const raw = url.pathname.slice(1);
  return url.searchParams.get("urlencoded") === "true" ? decodeURIComponent(raw) : raw;
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const key = keyOf(url);
    switch (request.method) {
      case "GET": {
        if (key === "") {
          const prefix = url.searchParams.get("prefix") ?? "";
          const limit = Number(url.searchParams.get("key_count_limit") ?? 1000);
          const keys = [...values.keys()]
            .filter((k) => k.startsWith(prefix))
            .sort()
            .slice(0, limit)
            .map((name) => ({ name }));
          return Response.json({ keys, list_complete: true, cacheStatus: null });
        }
        const value = values.get(key);
        return value === undefined ? new Response(null, { status: 404 }) : new Response(value);
      }
      case "PUT":
        values.set(key, await request.arrayBuffer());
        return new Response();
      case "DELETE":
        values.delete(key);
        return new Response();
      default:
        return new Response(null, { status: 405 });
    }
  },
};
