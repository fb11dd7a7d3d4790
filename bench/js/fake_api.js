// Every outbound request of the mlink under test lands here (it is the worker's globalOutbound):
// Telegram's Bot API (sendMessage), the owner's callback receiver, anything. It answers 200 with
// `{"ok":true,"result":true}` at once, so an upstream costs no more than a fast one would, and
// counts what it got (GET /__bench/count on its socket): every request, and the texts sent
// through a bot (`.../sendMessage`), which bench/run compares with the merges completed, one
// welcome text each. A request for `/gone` is answered 410 Gone: a project whose callback URL is
// that has its endpoint switched off by its first callback, and its later callbacks stay parked.
let received = 0;
let texts = 0;

export default {
  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/__bench/count") {
      return Response.json({ received, texts });
    }
    received += 1;
    if (path.endsWith("/sendMessage")) texts += 1;
    if (path === "/gone") {
      return Response.json({ ok: false, error: "gone" }, { status: 410 });
    }
    return Response.json({ ok: true, result: true });
  },
};
