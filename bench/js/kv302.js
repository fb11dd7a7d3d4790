// What a developer would typically write for mlink's redirect: the link lives in KV under its
// token, read on every click. The bench seeds KV with the token's record before the run.
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (!path.startsWith("/mlink/")) {
      return new Response("not found", { status: 404 });
    }
    const link = await env.LINKS.get(path.slice("/mlink/".length), "json");
    if (link === null) {
      return new Response("not found", { status: 404 });
    }
    return new Response(null, {
      status: 302,
      headers: { location: link.location, "cache-control": "no-store" },
    });
  },
};
