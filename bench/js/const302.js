// The platform's ceiling for a redirect: a JS worker that answers every request with the same
// 302, with the same headers mlink sends (location, cache-control). Nothing is parsed or read.
const LOCATION = "https://t.me/BenchBotB?start=AAAAAAAAAAAAAAAAAAAAAA";

export default {
  fetch() {
    return new Response(null, {
      status: 302,
      headers: { location: LOCATION, "cache-control": "no-store" },
    });
  },
};
