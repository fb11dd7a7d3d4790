// The mlink owner's console: sign in with a project's API key (kept in sessionStorage only), find
// client cards, unmerge dialogs, make merge links with their QR code, see the link funnel and the
// deliveries that have not gone out. No dependencies; qr.js draws the QR codes.
"use strict";
(() => {
  const MESSENGERS = { 1: "Telegram", 2: "Viber", 3: "Facebook Messenger", 6: "WhatsApp", 10: "Instagram" };
  const SERIES = [["created", "Created"], ["opened", "Opened"], ["completed", "Completed"]];
  const KEY_PROJECT = "mlink.project";
  const KEY_SECRET = "mlink.key";
  const $ = (id) => document.getElementById(id);
  const state = { bots: [], card: null };

  // ---------------------------------------------------------------------------------------------
  // Small helpers

  // An element: h("p", {class: "x"}, "text", child, ...); attributes with null are skipped.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  function svgEl(tag, attrs, ...children) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    for (const c of children) el.append(c instanceof Node ? c : String(c));
    return el;
  }

  const dateTime = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" });
  const dateOnly = new Intl.DateTimeFormat("en", { dateStyle: "medium" });

  function when(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : h("time", { datetime: iso }, dateTime.format(d));
  }

  const NAMES = { telegram: 1, viber: 2, facebook: 3, whatsapp: 6, instagram: 10 };
  const messengerName = (code, name) => MESSENGERS[code] || MESSENGERS[NAMES[name]] || name || "messenger " + code;
  const percent = (rate) => Math.round((Number(rate) || 0) * 100) + "%";
  const clientLink = (id) => h("a", { href: "#client/" + id }, "client " + id);

  function say(el, text) {
    el.textContent = "";
    if (text) el.append(...[].concat(text));
  }

  function sayError(el, err) {
    const detail = err.status ? ` (${err.code}, HTTP ${err.status})` : "";
    say(el, (err.message || String(err)) + detail);
  }

  // ---------------------------------------------------------------------------------------------
  // The API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function session() {
    const project = sessionStorage.getItem(KEY_PROJECT);
    const key = sessionStorage.getItem(KEY_SECRET);
    return project && key ? { project, key } : null;
  }

  // `path` follows /api/v1/projects/<project>; answers the parsed JSON or throws an ApiError.
  async function api(method, path, body) {
    const s = session();
    if (!s) throw new ApiError(0, "signed_out", "Sign in first.");
    const init = { method, cache: "no-store", headers: { Authorization: "Bearer " + s.key } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch("/api/v1/projects/" + encodeURIComponent(s.project) + path, init);
    } catch (e) {
      throw new ApiError(0, "network", "The server could not be reached. Check the connection and try again.");
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (e) {
      json = null;
    }
    if (response.ok) return json;
    const error = (json && json.error) || {};
    throw new ApiError(
      response.status,
      error.code || "http_" + response.status,
      error.message || text.slice(0, 200) || response.statusText || "The request failed."
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Signing in and out

  async function signIn(event) {
    event.preventDefault();
    const project = $("signin-project").value.trim();
    const key = $("signin-key").value.trim();
    const error = $("signin-error");
    if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(project)) {
      say(error, "The project name is 1 to 32 lowercase letters, digits, _ or -.");
      $("signin-project").focus();
      return;
    }
    if (!key) {
      say(error, "Enter the project's API key.");
      $("signin-key").focus();
      return;
    }
    sessionStorage.setItem(KEY_PROJECT, project);
    sessionStorage.setItem(KEY_SECRET, key);
    say(error, "Signing in…");
    await enter(true);
  }

  // Checks the stored key and opens the console; back to the sign-in form if it is refused.
  async function enter(focus) {
    const s = session();
    if (!s) return;
    try {
      await api("GET", "");
    } catch (err) {
      signOut();
      sayError($("signin-error"), err.status === 401 ? new ApiError(401, err.code, "The project name or API key is wrong.") : err);
      return;
    }
    say($("signin-error"), "");
    $("signin-key").value = "";
    $("signin").hidden = true;
    $("app").hidden = false;
    $("nav").hidden = false;
    $("who").hidden = false;
    $("who-project").textContent = s.project;
    await loadBots();
    route();
    if (focus && !cardIdFromHash()) $("find-h").focus();
    await Promise.all([showFunnel(), refreshHealth()]);
  }

  function signOut() {
    sessionStorage.removeItem(KEY_PROJECT);
    sessionStorage.removeItem(KEY_SECRET);
    state.bots = [];
    state.card = null;
    $("app").hidden = true;
    $("nav").hidden = true;
    $("who").hidden = true;
    $("signin").hidden = false;
    $("signin-key").value = "";
    $("who-project").textContent = "";
    $("card").hidden = true;
    for (const id of ["card-dialogs", "health-list", "health-facts", "funnel-chart", "contact-bot", "link-bot", "link-qr"]) {
      $(id).textContent = "";
    }
    for (const id of ["find-error", "card-notice", "health-notice", "health-error", "funnel-error", "link-error"]) say($(id), "");
    $("link-result").hidden = true;
    $("funnel-out").hidden = true;
    document.querySelectorAll("#app form").forEach((f) => f.reset());
    if (location.hash) history.replaceState(null, "", location.pathname);
  }

  // ---------------------------------------------------------------------------------------------
  // Bots

  function botLabel(bot) {
    const handle = bot.username || bot.uri || bot.page || bot.phone || bot.phone_number || "";
    return `${bot.group} (${messengerName(bot.client_type, bot.messenger)}${handle ? " " + handle : ""})`;
  }

  async function loadBots() {
    try {
      const answer = await api("GET", "/bots");
      state.bots = (answer && answer.bots) || [];
    } catch (err) {
      state.bots = [];
      sayError($("find-error"), err);
    }
    const select = $("contact-bot");
    select.textContent = "";
    if (!state.bots.length) select.append(h("option", { value: "" }, "No bots connected"));
    for (const bot of state.bots) select.append(h("option", { value: bot.group }, botLabel(bot)));
    fillLinkBots();
  }

  function fillLinkBots() {
    const type = Number($("link-messenger").value);
    const select = $("link-bot");
    const bots = state.bots.filter((b) => Number(b.client_type) === type);
    select.textContent = "";
    if (!bots.length) {
      select.append(h("option", { value: "" }, `No ${messengerName(type)} bot connected`));
      return;
    }
    select.append(h("option", { value: "" }, `The first ${messengerName(type)} bot connected`));
    for (const bot of bots) select.append(h("option", { value: bot.group }, botLabel(bot)));
  }

  // ---------------------------------------------------------------------------------------------
  // Finding and showing a card (#client/<id> is the card's address)

  function cardIdFromHash() {
    const m = /^#client\/(\d+)$/.exec(location.hash);
    return m ? m[1] : null;
  }

  function route() {
    const id = cardIdFromHash();
    if (id && session()) loadCard("/clients/" + id, $("card-h"));
  }

  async function loadCard(path, focusTarget, keepNotice) {
    const error = $("find-error");
    say(error, "");
    try {
      const card = await api("GET", path);
      renderCard(card, keepNotice);
      if (cardIdFromHash() !== String(card.client_id)) history.pushState(null, "", "#client/" + card.client_id);
      if (focusTarget) focusTarget.focus();
      return card;
    } catch (err) {
      sayError(error, err);
      $("find-h").focus();
      return null;
    }
  }

  function findById(event) {
    event.preventDefault();
    const id = $("client-id").value.trim();
    if (!/^[1-9]\d*$/.test(id)) {
      say($("find-error"), "A client id is a positive whole number.");
      $("client-id").focus();
      return;
    }
    loadCard("/clients/" + id, $("card-h"));
  }

  function findByContact(event) {
    event.preventDefault();
    const group = $("contact-bot").value;
    const user = $("contact-user").value.trim();
    if (!group) {
      say($("find-error"), "Connect a bot first: there is none to search in.");
      return;
    }
    if (!user) {
      say($("find-error"), "Enter the user id the messenger gave the contact.");
      $("contact-user").focus();
      return;
    }
    const path = "/contacts/" + encodeURIComponent(group) + "/" + encodeURIComponent(user);
    loadCard(path, $("card-h"));
  }

  const dialogText = (c) =>
    `${messengerName(c.client_type, c.messenger)} user ${c.user_id} in bot ${c.group}`;

  function renderCard(card, keepNotice) {
    const changed = !state.card || state.card.client_id !== card.client_id;
    state.card = card;
    $("card").hidden = false;
    $("card-h").textContent = "Client " + card.client_id;
    if (!keepNotice) say($("card-notice"), "");
    if (changed) {
      $("link-result").hidden = true;
      say($("link-error"), "");
    }
    const merged = $("card-merged");
    merged.hidden = !card.merged_into;
    say(merged, card.merged_into ? ["This card was merged into ", clientLink(card.merged_into), ": its dialogs live there now."] : "");
    say($("card-dates"), ["Created ", when(card.created_at), ", updated ", when(card.updated_at)]);

    const contacts = card.contacts || [];
    const list = $("card-dialogs");
    list.textContent = "";
    if (!contacts.length) list.append(h("li", { class: "mu" }, "No dialogs."));
    for (const c of contacts) {
      const button = h("button", { type: "button", class: "secondary", "data-group": c.group, "data-user": c.user_id }, "Unmerge…");
      button.setAttribute("aria-label", "Unmerge the dialog of " + dialogText(c));
      if (contacts.length < 2) {
        button.disabled = true;
        button.title = "The only dialog of this card: nothing to split";
      }
      button.addEventListener("click", () => confirmUnmerge(c));
      list.append(
        h("li", { "data-group": c.group, "data-user": c.user_id },
          h("h4", {}, messengerName(c.client_type, c.messenger), c.name ? " · " + c.name : ""),
          h("dl", {},
            h("dt", {}, "Bot"), h("dd", {}, c.group),
            h("dt", {}, "User id"), h("dd", {}, h("code", {}, c.user_id)),
            h("dt", {}, "Name"), h("dd", {}, c.name || "—"),
            h("dt", {}, "Linked"), h("dd", {}, when(c.linked_at)),
            h("dt", {}, "Last message"), h("dd", {}, when(c.last_message_at))),
          button)
      );
    }

    const vars = $("card-vars").tBodies[0];
    vars.textContent = "";
    const entries = Object.entries(card.variables || {});
    if (!entries.length) vars.append(h("tr", {}, h("td", { colspan: 2, class: "mu" }, "No variables.")));
    for (const [name, value] of entries) {
      vars.append(h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, typeof value === "string" ? value : JSON.stringify(value))));
    }

    const history = $("card-history").tBodies[0];
    history.textContent = "";
    const events = (card.history || []).slice().reverse();
    if (!events.length) history.append(h("tr", {}, h("td", { colspan: 3, class: "mu" }, "No history.")));
    for (const e of events) {
      const [label, detail] = describe(e.event, e.detail || {});
      history.append(h("tr", { "data-event": e.event }, h("td", {}, when(e.at)), h("td", {}, label), h("td", {}, detail)));
    }
  }

  // A history entry in words: [event label, detail (text and links)].
  function describe(event, d) {
    const dialog = (c) => (c ? dialogText(c) : "a dialog");
    const dialogs = (list) => (list && list.length ? list.map(dialog).join("; ") : "no dialogs");
    const by = d.cause && d.cause.by === "api" ? " (by the API)" : d.cause && d.cause.by === "client" ? " (the client followed a link)" : "";
    switch (event) {
      case "created":
        return ["Card created", ["First message from ", dialog(d.contact)]];
      case "merge_link_created":
        return ["Merge link created", [`To ${messengerName(null, d.messenger)} bot ${d.group || "?"}, expires `, when(d.expires_at)]];
      case "contact_linked":
        return ["Dialog joined", [dialog(d.contact), " came through a merge link"]];
      case "merged":
        return ["Card merged in", [clientLink(d.from_client_id), " joined this card with ", dialogs(d.contacts), by]];
      case "merged_away":
        return ["Merged into another card", ["Moved to ", clientLink(d.into_client_id), " with ", dialogs(d.contacts), by]];
      case "merge_refused":
        return ["Merge refused", [dialog(d.contact), ": ", refusal(d)]];
      case "unmerged":
        return ["Dialog unmerged", [dialog(d.contact), " left for ", clientLink(d.to_client_id), by]];
      case "unmerged_here":
        return ["Dialog arrived by unmerge", [dialog(d.contact), " came from ", clientLink(d.from_client_id), by]];
      default:
        return [event, summarize(d)];
    }
  }

  function refusal(d) {
    if (d.reason === "wrong_code") return `a wrong code${d.failures ? " (" + d.failures + " in 24 h)" : ""}`;
    if (d.reason === "too_many_codes") return "too many wrong codes; codes are refused for now";
    return d.reason || "refused";
  }

  // Any other detail: "key: value" pairs, nested objects flattened.
  function summarize(value, prefix) {
    if (value === null || typeof value !== "object") return String(value);
    return Object.entries(value)
      .map(([k, v]) => (v && typeof v === "object" ? summarize(v, (prefix || "") + k + ".") : `${prefix || ""}${k}: ${v}`))
      .join(", ");
  }

  // ---------------------------------------------------------------------------------------------
  // Unmerge behind a confirmation <dialog>

  function confirmUnmerge(contact) {
    const dialog = $("unmerge-dialog");
    const card = state.card;
    say($("unmerge-text"), [
      `The ${dialogText(contact)} leaves client ${card.client_id}. `,
      "It goes back to the card it came from, or to a new card of its own. The other dialogs stay here.",
    ]);
    dialog.returnValue = "";
    dialog.addEventListener(
      "close",
      () => {
        if (dialog.returnValue === "unmerge") unmerge(card.client_id, contact);
        else $("card-h").focus();
      },
      { once: true }
    );
    dialog.showModal();
  }

  async function unmerge(cardId, contact) {
    const notice = $("card-notice");
    try {
      const path = `/contacts/${encodeURIComponent(contact.group)}/${encodeURIComponent(contact.user_id)}/unmerge`;
      const answer = await api("POST", path);
      say(notice, answer.changed
        ? [`The ${dialogText(contact)} left this card: it is now `, clientLink(answer.client_id), "."]
        : "Nothing changed: that dialog was already alone in its card.");
    } catch (err) {
      sayError(notice, err);
    }
    await loadCard("/clients/" + cardId, $("card-h"), true);
  }

  // ---------------------------------------------------------------------------------------------
  // Merge links

  async function createLink(event) {
    event.preventDefault();
    const card = state.card;
    if (!card) return;
    const error = $("link-error");
    say(error, "");
    $("link-result").hidden = true;
    const body = { client_type: Number($("link-messenger").value) };
    const group = $("link-bot").value;
    if (group) body.group = group;
    const tag = $("link-tag").value;
    if (tag.trim()) body.tag = tag;
    let link;
    try {
      link = await api("POST", `/clients/${card.client_id}/merge-links`, body);
    } catch (err) {
      sayError(error, err);
      return;
    }
    $("link-url").value = link.link;
    say($("link-copied"), "");
    $("link-code-row").hidden = !link.code;
    $("link-code").textContent = link.code || "";
    say($("link-expires"), link.expires_at ? dateTime.format(new Date(link.expires_at)) : "—");
    $("link-expires").setAttribute("datetime", link.expires_at || "");
    const qr = $("link-qr");
    qr.textContent = "";
    try {
      qr.append(window.MlinkQR.svg(link.link, "QR code of the link"));
    } catch (e) {
      qr.append(h("p", { class: "mu" }, "The link is too long for a QR code."));
    }
    $("link-result").hidden = false;
    $("link-url").focus();
    $("link-url").select();
    // The card's history (and, for codes, its variables) changed, and so did the funnel.
    try {
      renderCard(await api("GET", "/clients/" + card.client_id), true);
    } catch (e) {
      /* the link stands; the card refreshes next time */
    }
    showFunnel();
  }

  async function copyLink() {
    const input = $("link-url");
    let done = false;
    try {
      await navigator.clipboard.writeText(input.value);
      done = true;
    } catch (e) {
      input.select();
      try {
        done = document.execCommand("copy");
      } catch (e2) {
        done = false;
      }
    }
    say($("link-copied"), done ? "Copied" : "Selected: copy it with your keyboard");
  }

  // ---------------------------------------------------------------------------------------------
  // Funnel

  const isoDate = (d) =>
    `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

  // Local midnight of a yyyy-mm-dd input, plus `days`.
  function midnight(value, days) {
    const [y, m, d] = value.split("-").map(Number);
    return new Date(y, m - 1, d + (days || 0));
  }

  function defaultPeriod() {
    const today = new Date();
    $("funnel-to").value = isoDate(today);
    $("funnel-from").value = isoDate(new Date(today.getFullYear(), today.getMonth(), today.getDate() - 6));
  }

  async function showFunnel(event) {
    if (event) event.preventDefault();
    const error = $("funnel-error");
    if (!$("funnel-from").value || !$("funnel-to").value) defaultPeriod();
    const from = midnight($("funnel-from").value);
    const to = midnight($("funnel-to").value, 1);
    if (isNaN(from) || isNaN(to) || from >= to) {
      say(error, "The period must start on or before the day it ends.");
      return;
    }
    say(error, "");
    try {
      const query = `?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
      renderFunnel(await api("GET", "/stats" + query), from, midnight($("funnel-to").value));
    } catch (err) {
      sayError(error, err);
    }
  }

  function renderFunnel(stats, from, lastDay) {
    const rows = (stats.messengers || []).slice();
    const period = `${dateOnly.format(from)} to ${dateOnly.format(lastDay)}`;
    $("funnel-out").hidden = false;
    say($("funnel-caption"), `Merge links per messenger, ${period}: created, opened and completed.`);

    // The table: the same numbers as text.
    const body = $("funnel-table").tBodies[0];
    body.textContent = "";
    const row = (r, name, tag) =>
      h("tr", { "data-client-type": r.client_type === undefined ? "total" : r.client_type },
        h("th", { scope: "row" }, name),
        ...SERIES.map(([k]) => h(tag || "td", { "data-series": k }, String(r[k] || 0))),
        h("td", { "data-series": "completion_rate" }, percent(r.completion_rate)));
    for (const r of rows) body.append(row(r, messengerName(r.client_type, r.messenger)));
    const foot = $("funnel-table").tFoot;
    foot.textContent = "";
    if (stats.total) foot.append(row(stats.total, "All messengers"));

    // The chart: per messenger a group of three horizontal bars.
    const width = 420;
    const barH = 14;
    const gap = 3;
    const groupH = 20 + 3 * (barH + gap) + 12;
    const legendH = 28;
    const height = legendH + rows.length * groupH;
    const max = Math.max(1, ...rows.map((r) => Math.max(r.created || 0, r.opened || 0, r.completed || 0)));
    const barMax = width - 48;
    const svg = svgEl("svg", {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": "funnel-svg-title funnel-svg-desc",
      class: "funnel-svg",
    });
    svg.append(svgEl("title", { id: "funnel-svg-title" }, `Merge link funnel, ${period}`));
    svg.append(svgEl("desc", { id: "funnel-svg-desc" }, rows.map(describeRow).join(" ")));
    SERIES.forEach(([k, name], i) => {
      const x = i * 120;
      svg.append(svgEl("rect", { x, y: 6, width: 12, height: 12, class: "s-" + k }));
      svg.append(svgEl("text", { x: x + 18, y: 16, class: "legend" }, name));
    });
    rows.forEach((r, g) => {
      const y0 = legendH + g * groupH;
      const group = svgEl("g", { "data-client-type": r.client_type, "aria-hidden": "true" });
      group.append(svgEl("text", { x: 0, y: y0 + 13, class: "name" },
        `${messengerName(r.client_type, r.messenger)} · ${percent(r.completion_rate)} completed`));
      SERIES.forEach(([k], i) => {
        const value = r[k] || 0;
        const y = y0 + 20 + i * (barH + gap);
        const w = Math.round((value / max) * barMax);
        group.append(svgEl("rect", { x: 0, y, width: Math.max(w, 1), height: barH, class: "s-" + k }));
        group.append(svgEl("text", { x: Math.max(w, 1) + 6, y: y + barH - 3, class: "value", "data-series": k }, String(value)));
      });
      svg.append(group);
    });
    const chart = $("funnel-chart");
    chart.textContent = "";
    chart.append(svg);
  }

  function describeRow(r) {
    return `${messengerName(r.client_type, r.messenger)}: ${r.created || 0} created, ${r.opened || 0} opened, ` +
      `${r.completed || 0} completed (${percent(r.completion_rate)}).`;
  }

  // ---------------------------------------------------------------------------------------------
  // Delivery health

  async function refreshHealth() {
    const error = $("health-error");
    say(error, "");
    try {
      renderHealth(await api("GET", ""));
      const [pending, failed] = await Promise.all([
        api("GET", "/deliveries?status=pending"),
        api("GET", "/deliveries?status=failed"),
      ]);
      renderDeliveries([...(failed.deliveries || []), ...(pending.deliveries || [])]);
    } catch (err) {
      sayError(error, err);
    }
  }

  function renderHealth(project) {
    const facts = $("health-facts");
    facts.textContent = "";
    const endpoint = project.endpoint || {};
    const counts = project.deliveries || {};
    const disabled = endpoint.status === "disabled";
    facts.append(
      h("dt", {}, "Callback URL"), h("dd", {}, h("code", {}, project.callback_url || "—")),
      h("dt", {}, "Endpoint"),
      h("dd", { id: "health-endpoint", class: disabled ? "bad" : "good" },
        disabled ? ["Disabled since ", when(endpoint.disabled_at), endpoint.reason ? ": " + endpoint.reason : ""] : "Active"),
      h("dt", {}, "Pending"), h("dd", { id: "health-pending" }, String(counts.pending || 0)),
      h("dt", {}, "Failed (gave up)"), h("dd", { id: "health-failed" }, String(counts.failed || 0))
    );
  }

  function renderDeliveries(items) {
    const list = $("health-list");
    list.textContent = "";
    $("health-empty").hidden = items.length > 0;
    for (const d of items) {
      const what = d.kind === "callback" ? `Callback ${d.type || ""}`.trim() : "Text to a client";
      const button = h("button", { type: "button", class: "secondary" }, "Re-send");
      button.setAttribute("aria-label", `Re-send delivery ${d.id} (${what})`);
      button.addEventListener("click", () => resend(d.id, button));
      list.append(
        h("li", { "data-id": d.id, "data-status": d.status },
          h("h3", {}, `#${d.id} ${what}`, " ", h("span", { class: "tag " + (d.status === "failed" ? "bad" : "") }, d.status)),
          h("dl", {},
            h("dt", {}, "Attempts"), h("dd", {}, String(d.attempts)),
            d.status === "pending" ? [h("dt", {}, "Next attempt"), h("dd", {}, when(d.next_attempt_at))] : null,
            h("dt", {}, "Created"), h("dd", {}, when(d.created_at)),
            d.webhook_id ? [h("dt", {}, "webhook-id"), h("dd", {}, h("code", {}, d.webhook_id))] : null,
            h("dt", {}, "Last error"), h("dd", {}, d.last_error || "—")),
          button)
      );
    }
  }

  async function resend(id, button) {
    button.disabled = true;
    const notice = $("health-notice");
    try {
      await api("POST", `/deliveries/${id}/resend`);
      say(notice, `Delivery ${id} is due again now.`);
    } catch (err) {
      sayError(notice, err);
    }
    await refreshHealth();
    $("health-h").setAttribute("tabindex", "-1");
    $("health-h").focus();
    // The worker sends it within a moment: look again.
    setTimeout(() => session() && refreshHealth(), 2000);
  }

  // ---------------------------------------------------------------------------------------------
  // Wiring

  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => {
    signOut();
    say($("signin-error"), "Signed out.");
    $("signin-project").focus();
  });
  $("by-id").addEventListener("submit", findById);
  $("by-contact").addEventListener("submit", findByContact);
  $("link-messenger").addEventListener("change", fillLinkBots);
  $("link-form").addEventListener("submit", createLink);
  $("link-copy").addEventListener("click", copyLink);
  $("funnel-form").addEventListener("submit", showFunnel);
  $("health-refresh").addEventListener("click", refreshHealth);
  window.addEventListener("hashchange", route);
  defaultPeriod();
  const s = session();
  if (s) {
    // A reload keeps the session: check the key again without showing the form meanwhile.
    $("signin-project").value = s.project;
    $("signin").hidden = true;
    enter(false);
  }
})();
