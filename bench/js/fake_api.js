// Every outbound request of the mlink under test lands here (it is the worker's globalOutbound):
// Telegram's Bot API (sendMessage), the owner's callback receiver, anything. It answers 200 with
// `{"ok":true,"result":true}` at once, so an upstream costs no more than a fast one would, and
// counts what it got (GET /__bench/count on its socket) for builds that do not report the outbox.
let received = 0;

export default {
  fetch(request) {
    if (new URL(request.url).pathname === "/__bench/count") {
      return Response.json({ received });
    }
    received += 1;
    return Response.json({ ok: true, result: true });
  },
};
