//! Every messenger but Telegram through the service layer, on the real SQL: WhatsApp and
//! Instagram merge codes (and their limits), Viber's welcome message in the webhook response,
//! Meta batching and handshakes, the redirect's deep links, and cards spanning messengers.

mod support;

use mlink_core::domain::code::parse_code;
use mlink_core::domain::time::rfc3339;
use mlink_core::domain::token::LinkId;
use mlink_core::domain::{ClientId, ClientType};
use mlink_core::service::delivery;
use mlink_core::service::owner::{self, CODE_VARIABLE};
use mlink_core::service::redirect::{Decision, Device, EdgeMemory};
use mlink_core::service::webhook::{self, replies, CODE_WINDOW_MS, MAX_WRONG_CODES};
use mlink_core::service::{ApiError, Reply};
use mlink_core::store::OutboxKind;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use support::world::{
    contact_ref, group, hmac_hex, meta_echo, meta_postback_ref, meta_referral, meta_text, send,
    telegram_ref, user, viber_started, viber_text, World, FACEBOOK_PAGE, FACEBOOK_PAGE_ID,
    INSTAGRAM_USERNAME, T0, VIBER_SENDER, VIBER_URI, WHATSAPP_DIGITS, WHATSAPP_NUMBER,
    WHATSAPP_NUMBER_ID, WHATSAPP_SECRET,
};

use ClientType::{Facebook, Instagram, Viber, WhatsApp};

/// WhatsApp users are phone numbers; Instagram and Messenger users scoped ids; Viber users
/// base64 ids.
const WA_ANN: &str = "4915112345678";
const WA_BEN: &str = "4915187654321";
const IG_ANN: &str = "1234567890123401";
const IG_BEN: &str = "1234567890123402";
const FB_ANN: &str = "7100000000000001";
const FB_BEN: &str = "7100000000000002";
const VB_ANN: &str = "01234567890A=";
const VB_BEN: &str = "pttm25kSGUo1919sBORWyA==";
const VB_CAT: &str = "dx8aQ+mQpWrBnqcD8h4vUw==";

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn dialogs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(g, u)| (g.to_string(), u.to_string()))
        .collect()
}

/// Every messenger connected; user 111 wrote "hi" to Telegram bot A at T0: card X.
fn world_with_x() -> (World, ClientId) {
    let w = World::with_every_messenger();
    w.say("A", 111, "hi", T0);
    let x = w.card_of("A", "111");
    (w, x)
}

fn code_of(reply: &Reply) -> String {
    reply.body["code"]
        .as_str()
        .expect("a code link")
        .to_string()
}

/// The link's payload (its id) in a merge-link reply.
fn payload(w: &World, reply: &Reply) -> String {
    w.payload_of(reply).to_payload()
}

fn link_id(payload: &str) -> LinkId {
    LinkId::from_payload(payload).unwrap()
}

/// Another well-formed code: the same but for its last character.
fn other_code(code: &str) -> String {
    let (head, last) = code.split_at(code.len() - 1);
    let other = if last == "0" { "1" } else { "0" };
    format!("{head}{other}")
}

fn last_history(w: &World, id: ClientId) -> (String, i64, Value) {
    let entry = w.store.history_of(id).unwrap().pop().unwrap();
    (entry.event, entry.at, entry.detail)
}

// 1. WhatsApp: a link makes a code; sending it joins the card.

#[test]
fn a_whatsapp_link_carries_a_code_that_joins_the_card_when_sent() {
    let (w, x) = world_with_x();
    let reply = w.link_into(x, "W", "Hi on WhatsApp", T0 + 1000);
    let code = code_of(&reply);
    assert_eq!(code.len(), 13);
    assert!(code.starts_with("cli"), "{code}");
    assert_eq!(parse_code(&code).as_deref(), Some(code.as_str()));
    assert_eq!(
        (
            &reply.body["messenger"],
            &reply.body["client_type"],
            &reply.body["group"]
        ),
        (&json!("whatsapp"), &json!(6), &json!("W"))
    );
    let token = w.token_of(&reply);
    assert_eq!(token.code.as_deref(), Some(code.as_str()));
    assert_eq!(token.client_type, WhatsApp);
    assert_eq!(
        w.store.variables_of(x).unwrap(),
        vars(&[(CODE_VARIABLE, &code)])
    );
    assert_eq!(CODE_VARIABLE, "text_to_merge_contact");
    let id = token.link_id.to_payload();
    let link = w.store.link(&id).unwrap().unwrap();
    assert_eq!(link.code.as_deref(), Some(code.as_str()));
    assert_eq!(
        (link.client_type, link.group.as_str(), link.tag.as_str()),
        (WhatsApp, "W", "Hi on WhatsApp")
    );
    assert_eq!(link.from, Some(("A".into(), "111".into())));
    assert_eq!((link.retired_at, link.used_at), (None, None));

    // A new WhatsApp user sends it, retyped: spaces around, upper case.
    let typed = format!("  {}  ", code.to_uppercase());
    let outcome = w.whatsapp("W", WA_ANN, &typed, T0 + 2000);
    assert_eq!(outcome.reply, Reply::ok(json!({"ok": true})));
    assert_eq!(outcome.used_links, vec![token.link_id]);

    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("W", WA_ANN)]));
    let joined = w.contact("W", WA_ANN).unwrap();
    assert_eq!(joined.client_type, WhatsApp);
    assert_eq!((joined.client_id, joined.home_client_id), (x, x));
    assert_eq!(joined.name.as_deref(), Some("User4915112345678"));
    assert_eq!(w.store.client(ClientId(2)).unwrap(), None, "no new card");

    assert_eq!(w.sends(), vec![send("W", WA_ANN, "Hi on WhatsApp")]);
    let switches = w.callbacks_of("switch_to_whatsapp");
    assert_eq!(
        switches,
        vec![json!({
            "type": "switch_to_whatsapp",
            "timestamp": rfc3339(T0 + 2000),
            "data": {
                "client_id": x.0,
                "contact": contact_ref(WhatsApp, "W", WA_ANN),
                "from": telegram_ref("A", "111"),
                "note": "Hi on WhatsApp",
            },
        })]
    );
    assert_eq!(
        w.callbacks_of("message").len(),
        1,
        "the code is not passed on as a message"
    );
    assert_eq!(w.callbacks().len(), 2);

    let link = w.store.link(&id).unwrap().unwrap();
    assert_eq!(link.used_at, Some(T0 + 2000));
    assert_eq!(link.used_by, Some(("W".into(), WA_ANN.into())));
    assert_eq!(
        w.history_events(x),
        ["created", "merge_link_created", "contact_linked"]
    );
    assert_eq!(
        last_history(&w, x),
        (
            "contact_linked".into(),
            T0 + 2000,
            json!({"contact": contact_ref(WhatsApp, "W", WA_ANN), "link": id})
        )
    );
    assert_eq!(
        w.store.code_failures("W", WA_ANN, 0).unwrap(),
        0,
        "a right code is not a failure"
    );

    // The tag goes out through the number's Cloud API endpoint.
    let item = w
        .outbox()
        .into_iter()
        .find(|i| i.kind == OutboxKind::Send)
        .unwrap();
    let request = delivery::request_for(&w.store, &w.config, &item, T0 + 3000).unwrap();
    assert_eq!(
        request.url,
        format!("https://graph.facebook.com/v21.0/{WHATSAPP_NUMBER_ID}/messages")
    );
    assert!(request
        .headers
        .contains(&("authorization".into(), "Bearer EAAwa-W".into())));
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ANN,
            "type": "text", "text": {"body": "Hi on WhatsApp"},
        })
    );

    // The code is used: its sender hears they are connected, anyone else that it was used.
    let again = w.whatsapp("W", WA_ANN, &code, T0 + 4000);
    assert!(again.used_links.is_empty());
    let other = w.whatsapp("W", WA_BEN, &code, T0 + 5000);
    assert!(other.used_links.is_empty());
    assert_eq!(
        w.sends()[1..],
        [
            send("W", WA_ANN, replies::ALREADY_CONNECTED),
            send("W", WA_BEN, replies::LINK_USED)
        ]
    );
    assert_ne!(w.card_of("W", WA_BEN), x);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("W", WA_ANN)]));
    assert_eq!(w.callbacks_of("switch_to_whatsapp").len(), 1);
    assert_eq!(w.store.code_failures("W", WA_BEN, 0).unwrap(), 0);
}

// 2. A newer code replaces the card's older one.

#[test]
fn a_second_whatsapp_link_retires_the_first_code() {
    let (w, x) = world_with_x();
    let first = w.link_into(x, "W", "first", T0 + 1000);
    let second = w.link_into(x, "W", "second", T0 + 2000);
    let (old, new) = (code_of(&first), code_of(&second));
    assert_ne!(old, new);
    assert_eq!(
        w.store.variables_of(x).unwrap(),
        vars(&[(CODE_VARIABLE, &new)])
    );
    let (old_id, new_id) = (payload(&w, &first), payload(&w, &second));
    assert_eq!(
        w.store.link(&old_id).unwrap().unwrap().retired_at,
        Some(T0 + 2000)
    );
    assert_eq!(w.store.link(&new_id).unwrap().unwrap().retired_at, None);

    // The old code: refused, explained, and not counted as a wrong code.
    let outcome = w.whatsapp("W", WA_ANN, &old, T0 + 3000);
    assert!(outcome.used_links.is_empty());
    let y = w.card_of("W", WA_ANN);
    assert_ne!(y, x);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111")]));
    assert_eq!(w.dialogs(y), dialogs(&[("W", WA_ANN)]));
    assert_eq!(w.sends(), vec![send("W", WA_ANN, replies::LINK_REPLACED)]);
    assert!(w.callbacks_of("switch_to_whatsapp").is_empty());
    assert_eq!(w.callbacks_of("message").len(), 1, "only X's hi");
    assert_eq!(w.history_events(y), ["created", "merge_refused"]);
    assert_eq!(
        last_history(&w, y),
        (
            "merge_refused".into(),
            T0 + 3000,
            json!({
                "reason": replies::LINK_REPLACED, "link": old_id,
                "contact": contact_ref(WhatsApp, "W", WA_ANN),
            })
        )
    );
    assert_eq!(w.store.code_failures("W", WA_ANN, 0).unwrap(), 0);
    assert_eq!(w.store.link(&old_id).unwrap().unwrap().used_at, None);

    // The new code merges the card the old one made.
    let outcome = w.whatsapp("W", WA_ANN, &new, T0 + 4000);
    assert_eq!(outcome.used_links, vec![link_id(&new_id)]);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("W", WA_ANN)]));
    assert_eq!(w.store.client(y).unwrap().unwrap().merged_into, Some(x));
    assert_eq!(
        w.sends(),
        vec![
            send("W", WA_ANN, replies::LINK_REPLACED),
            send("W", WA_ANN, "second")
        ]
    );
    let switches = w.callbacks_of("switch_to_whatsapp");
    assert_eq!(switches.len(), 1);
    assert_eq!(switches[0]["data"]["note"], "second");
    assert_eq!(switches[0]["data"]["client_id"], x.0);
}

/// The card keeps one code, whichever messenger it is for; links without codes leave it be.
#[test]
fn an_instagram_link_retires_the_whatsapp_code_but_other_links_do_not() {
    let (w, x) = world_with_x();
    let wa = w.link_into(x, "W", "wa", T0 + 1000);
    let wa_code = code_of(&wa);
    let viber = w.link_into(x, "V", "vb", T0 + 2000);
    assert!(viber.body["code"].is_null());
    assert_eq!(w.token_of(&viber).code, None);
    let facebook = w.link_into(x, "F", "fb", T0 + 2000);
    assert!(facebook.body["code"].is_null());
    assert_eq!(
        w.store.link(&payload(&w, &wa)).unwrap().unwrap().retired_at,
        None
    );
    assert_eq!(
        w.store.variables_of(x).unwrap(),
        vars(&[(CODE_VARIABLE, &wa_code)])
    );

    let ig = w.link_into(x, "I", "ig", T0 + 3000);
    let ig_code = code_of(&ig);
    assert_eq!(
        w.store.variables_of(x).unwrap(),
        vars(&[(CODE_VARIABLE, &ig_code)])
    );
    assert_eq!(
        w.store.link(&payload(&w, &wa)).unwrap().unwrap().retired_at,
        Some(T0 + 3000)
    );
    assert_eq!(
        w.store
            .link(&payload(&w, &viber))
            .unwrap()
            .unwrap()
            .retired_at,
        None
    );

    w.whatsapp("W", WA_ANN, &wa_code, T0 + 4000);
    assert_eq!(w.sends(), vec![send("W", WA_ANN, replies::LINK_REPLACED)]);
    let outcome = w.dm("I", IG_ANN, &ig_code, T0 + 5000);
    assert_eq!(outcome.used_links, vec![w.payload_of(&ig)]);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("I", IG_ANN)]));
    // The Viber link still works.
    let vb = viber_started(1, VB_ANN, &payload(&w, &viber), true);
    let outcome = w.deliver_signed("V", &vb, T0 + 6000);
    assert_eq!(outcome.used_links, vec![w.payload_of(&viber)]);
}

/// A card's code made before it merged into another card is one of that card's codes now (it
/// merges into it): a new code for the merged card should replace it too.
///
/// FAILS: `retire_codes_of` retires links whose `client_id` is the live card only, so the code
/// of the merged-away card stays live next to the new one.
#[test]
fn a_new_code_retires_the_codes_of_cards_merged_into_the_card() {
    let w = World::with_every_messenger();
    w.connect_telegram("B", "BotB", "222:token-B");
    w.say("A", 111, "hi", T0);
    w.say("B", 777, "hi", T0);
    let (x, y) = (w.card_of("A", "111"), w.card_of("B", "777"));
    // Y gets a WhatsApp code, then merges into X.
    let y_code = code_of(&w.link_into(y, "W", "from y", T0 + 1000));
    let to_b = w.link_into(x, "B", "", T0 + 2000);
    w.say(
        "B",
        777,
        &format!("/start {}", payload(&w, &to_b)),
        T0 + 3000,
    );
    assert_eq!(w.store.live_client(y).unwrap().unwrap().id, x);
    assert_eq!(
        w.store.variables_of(x).unwrap(),
        vars(&[(CODE_VARIABLE, &y_code)])
    );
    // X's own new code replaces the one it inherited, in the variable...
    let x_code = code_of(&w.link_into(x, "W", "from x", T0 + 4000));
    assert_eq!(
        w.store.variables_of(x).unwrap(),
        vars(&[(CODE_VARIABLE, &x_code)])
    );

    // ...but the inherited code still merges.
    let outcome = w.whatsapp("W", WA_ANN, &y_code, T0 + 5000);
    assert!(
        outcome.used_links.is_empty(),
        "the code X inherited from Y still merged: {:?}",
        w.dialogs(x)
    );
    assert_eq!(w.sends(), vec![send("W", WA_ANN, replies::LINK_REPLACED)]);
}

// 3. Wrong codes.

#[test]
fn wrong_codes_are_counted_and_too_many_block_every_code_for_a_window() {
    let (w, x) = world_with_x();
    let link = w.link_into(x, "W", "Welcome", T0 + 1000);
    let code = code_of(&link);
    let me = contact_ref(WhatsApp, "W", WA_ANN);

    // Ordinary texts, even one that starts like a code, are messages and never count.
    w.whatsapp("W", WA_ANN, "hello", T0 + 2000);
    w.whatsapp("W", WA_ANN, "client", T0 + 2001);
    let y = w.card_of("W", WA_ANN);
    let texts: Vec<_> = w
        .callbacks_of("message")
        .iter()
        .map(|m| (m["data"]["client_id"].clone(), m["data"]["text"].clone()))
        .collect();
    assert_eq!(
        texts,
        [
            (json!(x.0), json!("hi")),
            (json!(y.0), json!("hello")),
            (json!(y.0), json!("client"))
        ]
    );
    assert_eq!(w.store.code_failures("W", WA_ANN, 0).unwrap(), 0);

    // Code-looking texts that match nothing: well-formed or not.
    let wrong = other_code(&code);
    let attempts = [
        wrong.clone(),
        "cli123".to_string(),
        format!(" {} ", wrong.to_uppercase()),
        "CLI42x".to_string(),
        wrong.clone(),
    ];
    assert_eq!(attempts.len() as i64, MAX_WRONG_CODES);
    let first_failure = T0 + 3000;
    for (n, attempt) in (1..).zip(&attempts) {
        let at = first_failure + (n - 1) * 1000;
        let outcome = w.whatsapp("W", WA_ANN, attempt, at);
        assert!(outcome.used_links.is_empty());
        let reply = if n < MAX_WRONG_CODES {
            replies::WRONG_CODE
        } else {
            replies::TOO_MANY_CODES
        };
        assert_eq!(w.sends().last(), Some(&send("W", WA_ANN, reply)), "{n}");
        assert_eq!(
            last_history(&w, y),
            (
                "merge_refused".into(),
                at,
                json!({"reason": "wrong_code", "failures": n, "contact": me})
            )
        );
        assert_eq!(w.store.code_failures("W", WA_ANN, 0).unwrap(), n);
    }
    assert_eq!(w.sends().len(), attempts.len());
    assert_eq!(
        w.callbacks_of("message").len(),
        3,
        "no message callback for a code"
    );
    assert_eq!(w.card_of("W", WA_ANN), y);

    // Blocked: even the right code is refused, unchecked and uncounted.
    let outcome = w.whatsapp("W", WA_ANN, &code, first_failure + 10_000);
    assert!(outcome.used_links.is_empty());
    assert_eq!(
        w.sends().last(),
        Some(&send("W", WA_ANN, replies::TOO_MANY_CODES))
    );
    assert_eq!(
        last_history(&w, y),
        (
            "merge_refused".into(),
            first_failure + 10_000,
            json!({"reason": "too_many_codes", "contact": me})
        )
    );
    assert_eq!(
        w.store.code_failures("W", WA_ANN, 0).unwrap(),
        MAX_WRONG_CODES
    );
    // Ordinary messages still pass, and do not count.
    w.whatsapp("W", WA_ANN, "hello again", first_failure + 11_000);
    let last = w.callbacks().pop().unwrap();
    assert_eq!(
        (
            &last["type"],
            &last["data"]["text"],
            &last["data"]["client_id"]
        ),
        (&json!("message"), &json!("hello again"), &json!(y.0))
    );
    assert_eq!(
        w.store.code_failures("W", WA_ANN, 0).unwrap(),
        MAX_WRONG_CODES
    );
    // Another sender is not blocked by this one's failures.
    assert_eq!(w.store.code_failures("W", WA_BEN, 0).unwrap(), 0);
    // The last instant of the window still blocks.
    w.whatsapp("W", WA_ANN, &code, first_failure + CODE_WINDOW_MS);
    assert_eq!(
        w.sends().last(),
        Some(&send("W", WA_ANN, replies::TOO_MANY_CODES))
    );
    let unused = w.store.link(&payload(&w, &link)).unwrap().unwrap();
    assert_eq!((unused.used_at, unused.used_by), (None, None));
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111")]));
    assert!(w.callbacks_of("switch_to_whatsapp").is_empty());

    // The window over, the right code merges.
    let outcome = w.whatsapp("W", WA_ANN, &code, first_failure + CODE_WINDOW_MS + 1);
    assert_eq!(outcome.used_links, vec![w.payload_of(&link)]);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("W", WA_ANN)]));
    assert_eq!(w.store.client(y).unwrap().unwrap().merged_into, Some(x));
    assert_eq!(w.sends().last(), Some(&send("W", WA_ANN, "Welcome")));
    assert_eq!(w.callbacks_of("switch_to_whatsapp").len(), 1);
    let merged = last_history(&w, x);
    assert_eq!(
        (merged.0.as_str(), merged.1),
        ("merged", first_failure + CODE_WINDOW_MS + 1)
    );
}

// 4. Instagram: by the ref, or by the code.

#[test]
fn instagram_arrives_by_the_links_ref_or_by_its_code() {
    let (w, x) = world_with_x();
    let reply = w.link_into(x, "I", "Hi on Instagram", T0 + 1000);
    let code = code_of(&reply);
    let token = w.token_of(&reply);
    assert_eq!(token.code.as_deref(), Some(code.as_str()));
    assert_eq!((token.client_type, token.group.as_str()), (Instagram, "I"));
    assert_eq!(
        w.store.variables_of(x).unwrap(),
        vars(&[(CODE_VARIABLE, &code)])
    );
    let id = token.link_id.to_payload();

    // An icebreaker tap carrying the link's ref.
    let outcome = w.messaging(
        "I",
        &[vec![meta_postback_ref(IG_ANN, "m_ig1", &id)]],
        T0 + 2000,
    );
    assert_eq!(outcome.reply, Reply::ok(json!({"ok": true})));
    assert_eq!(outcome.used_links, vec![token.link_id]);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("I", IG_ANN)]));
    assert_eq!(w.contact("I", IG_ANN).unwrap().client_type, Instagram);
    assert_eq!(w.sends(), vec![send("I", IG_ANN, "Hi on Instagram")]);
    assert_eq!(
        w.callbacks_of("switch_to_instagram"),
        vec![json!({
            "type": "switch_to_instagram",
            "timestamp": rfc3339(T0 + 2000),
            "data": {
                "client_id": x.0,
                "contact": contact_ref(Instagram, "I", IG_ANN),
                "from": telegram_ref("A", "111"),
                "note": "Hi on Instagram",
            },
        })]
    );
    let used = w.store.link(&id).unwrap().unwrap();
    assert_eq!(used.used_by, Some(("I".into(), IG_ANN.into())));

    // Another card, another link: its code typed in a DM.
    w.say("A", 222, "hi", T0 + 3000);
    let z = w.card_of("A", "222");
    let reply = w.link_into(z, "I", "", T0 + 4000);
    let z_code = code_of(&reply);
    assert_ne!(z_code, code);
    assert_eq!(w.token_of(&reply).code.as_deref(), Some(z_code.as_str()));
    assert_eq!(
        w.store.variables_of(z).unwrap(),
        vars(&[(CODE_VARIABLE, &z_code)])
    );
    assert_eq!(
        w.store.variables_of(x).unwrap(),
        vars(&[(CODE_VARIABLE, &code)]),
        "another card's code is left alone"
    );
    let outcome = w.dm("I", IG_BEN, &format!(" {z_code}\n"), T0 + 5000);
    assert_eq!(outcome.used_links, vec![w.payload_of(&reply)]);
    assert_eq!(w.dialogs(z), dialogs(&[("A", "222"), ("I", IG_BEN)]));
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("I", IG_ANN)]));
    assert_eq!(w.sends().len(), 1, "an empty tag sends nothing");
    let switches = w.callbacks_of("switch_to_instagram");
    assert_eq!(switches.len(), 2);
    assert_eq!(
        switches[1]["data"],
        json!({
            "client_id": z.0,
            "contact": contact_ref(Instagram, "I", IG_BEN),
            "from": telegram_ref("A", "222"),
            "note": "",
        })
    );
    assert_eq!(w.callbacks_of("message").len(), 2, "the two Telegram his");
}

// 5. Viber: the welcome message is the webhook's response.

fn welcome(text: &str) -> Value {
    json!({"sender": {"name": VIBER_SENDER}, "type": "text", "text": text})
}

#[test]
fn viber_answers_an_unsubscribed_arrival_in_the_response_and_a_subscribed_one_by_send() {
    let (w, x) = world_with_x();
    let reply = w.link_into(x, "V", "Welcome to Viber", T0 + 1000);
    assert!(reply.body["code"].is_null());
    assert_eq!(w.store.variables_of(x).unwrap(), vars(&[]));
    let id = payload(&w, &reply);

    let started = viber_started(4912661846655238145, VB_ANN, &id, false);
    let outcome = w.deliver_signed("V", &started, T0 + 2000);
    assert_eq!(outcome.reply, Reply::ok(welcome("Welcome to Viber")));
    assert_eq!(outcome.used_links, vec![link_id(&id)]);
    assert!(w.sends().is_empty(), "the tag went in the response");
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("V", VB_ANN)]));
    let joined = w.contact("V", VB_ANN).unwrap();
    assert_eq!(
        (joined.client_type, joined.name.as_deref()),
        (Viber, Some("Viber 01234567890A="))
    );
    assert_eq!(
        w.callbacks_of("switch_to_viber"),
        vec![json!({
            "type": "switch_to_viber",
            "timestamp": rfc3339(T0 + 2000),
            "data": {
                "client_id": x.0,
                "contact": contact_ref(Viber, "V", VB_ANN),
                "from": telegram_ref("A", "111"),
                "note": "Welcome to Viber",
            },
        })]
    );

    // Viber retries the same callback: the same answer, nothing else.
    let (outbox, card) = (w.outbox(), w.card(x));
    let again = w.deliver_signed("V", &started, T0 + 9000);
    assert_eq!(again.reply, Reply::ok(welcome("Welcome to Viber")));
    assert!(again.used_links.is_empty());
    assert_eq!(w.outbox(), outbox);
    assert_eq!(w.card(x), card);

    // A subscribed user can be written to: the tag goes to the outbox.
    w.say("A", 222, "hi", T0 + 3000);
    let z = w.card_of("A", "222");
    let reply = w.link_into(z, "V", "Hello subscriber", T0 + 4000);
    let started = viber_started(4912661846655238146, VB_BEN, &payload(&w, &reply), true);
    let outcome = w.deliver_signed("V", &started, T0 + 5000);
    assert_eq!(outcome.reply, Reply::ok(json!({"ok": true})));
    assert_eq!(outcome.used_links, vec![w.payload_of(&reply)]);
    assert_eq!(w.sends(), vec![send("V", VB_BEN, "Hello subscriber")]);
    assert_eq!(w.dialogs(z), dialogs(&[("A", "222"), ("V", VB_BEN)]));
}

#[test]
fn a_refused_viber_link_is_explained_in_the_response() {
    let (w, x) = world_with_x();
    let reply = w.link_into(x, "V", "Welcome", T0 + 1000);
    let id = payload(&w, &reply);
    w.deliver_signed("V", &viber_started(1, VB_ANN, &id, false), T0 + 2000);
    let outbox = w.outbox().len();

    // Someone else opens the used link.
    let outcome = w.deliver_signed("V", &viber_started(2, VB_CAT, &id, false), T0 + 3000);
    assert_eq!(outcome.reply, Reply::ok(welcome(replies::LINK_USED)));
    assert!(outcome.used_links.is_empty());
    assert!(w.sends().is_empty());
    let other = w.card_of("V", VB_CAT);
    assert_ne!(other, x);
    assert_eq!(w.history_events(other), ["created", "merge_refused"]);
    assert_eq!(
        last_history(&w, other).2,
        json!({"reason": replies::LINK_USED, "link": id, "contact": contact_ref(Viber, "V", VB_CAT)})
    );
    assert_eq!(w.outbox().len(), outbox, "no callback, no send");

    // Its user opens it again.
    let outcome = w.deliver_signed("V", &viber_started(3, VB_ANN, &id, false), T0 + 4000);
    assert_eq!(
        outcome.reply,
        Reply::ok(welcome(replies::ALREADY_CONNECTED))
    );
    assert_eq!(w.outbox().len(), outbox);
    // The retry of the refusal gets the refusal again.
    let outcome = w.deliver_signed("V", &viber_started(2, VB_CAT, &id, false), T0 + 5000);
    assert_eq!(outcome.reply, Reply::ok(welcome(replies::LINK_USED)));
    assert_eq!(w.history_events(other), ["created", "merge_refused"]);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("V", VB_ANN)]));
}

// 6. Viber's webhook check.

#[test]
fn viber_webhook_check_is_answered_for_any_group_and_writes_nothing() {
    let w = World::with_every_messenger();
    let check = r#"{"event":"webhook","timestamp":1457764197627,"chat_hostname":"SN-CHAT-01_","message_token":241256543215}"#;
    let none: Vec<(String, String)> = vec![];
    for grp in ["unknown", "V", "A", "F"] {
        for headers in [
            none.clone(),
            vec![("X-Viber-Content-Signature".into(), "00".into())],
        ] {
            let outcome =
                webhook::handle(&w.store, &group(grp), &headers, check.as_bytes(), T0).unwrap();
            assert_eq!(outcome.reply, Reply::ok(json!({"ok": true})), "{grp}");
            assert!(outcome.used_links.is_empty());
        }
    }
    let outcome = w.deliver_signed("V", check, T0);
    assert_eq!(outcome.reply, Reply::ok(json!({"ok": true})));
    assert!(w.outbox().is_empty());
    assert_eq!(w.store.client(ClientId(1)).unwrap(), None);

    // Other Viber callbacks still need their signature.
    let subscribed =
        r#"{"event":"subscribed","timestamp":1,"user":{"id":"01234567890A="},"message_token":5}"#;
    let err = webhook::handle(&w.store, &group("V"), &none, subscribed.as_bytes(), T0)
        .err()
        .expect("refused");
    assert_eq!(err, ApiError::Unauthorized);
    // The check remembered no delivery: a message with its token is a new one.
    w.deliver_signed("V", &viber_text(241256543215, VB_ANN, "hello"), T0 + 1);
    let messages = w.callbacks_of("message");
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]["data"],
        json!({
            "client_id": 1, "contact": contact_ref(Viber, "V", VB_ANN),
            "text": "hello", "message_id": "241256543215",
        })
    );
}

// 7. Meta batching.

#[test]
fn a_facebook_batch_handles_and_dedupes_each_event() {
    let (w, x) = world_with_x();
    let reply = w.link_into(x, "F", "Hi on Messenger", T0 + 1000);
    let id = payload(&w, &reply);
    let batch = w.messaging_body(
        "F",
        &[
            vec![
                meta_text(FB_ANN, "m_AbCdEf1", "hello"),
                meta_echo(FACEBOOK_PAGE_ID, FB_ANN, "m_Echo1", "hi back"),
            ],
            vec![meta_postback_ref(FB_BEN, "m_Pb1", &id)],
        ],
    );
    let outcome = w.deliver_signed("F", &batch, T0 + 2000);
    assert_eq!(outcome.reply, Reply::ok(json!({"ok": true})));
    assert_eq!(outcome.used_links, vec![link_id(&id)]);

    // A's text: a card of its own and a message callback.
    let a = w.card_of("F", FB_ANN);
    assert_ne!(a, x);
    assert_eq!(w.dialogs(a), dialogs(&[("F", FB_ANN)]));
    let messages = w.callbacks_of("message");
    assert_eq!(messages.len(), 2);
    assert_eq!(
        messages[1],
        json!({
            "type": "message",
            "timestamp": rfc3339(T0 + 2000),
            "data": {
                "client_id": a.0, "contact": contact_ref(Facebook, "F", FB_ANN),
                "text": "hello", "message_id": "m_AbCdEf1",
            },
        })
    );
    // B followed the link.
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("F", FB_BEN)]));
    assert_eq!(w.sends(), vec![send("F", FB_BEN, "Hi on Messenger")]);
    let switches = w.callbacks_of("switch_to_facebook");
    assert_eq!(switches.len(), 1);
    assert_eq!(
        switches[0]["data"],
        json!({
            "client_id": x.0, "contact": contact_ref(Facebook, "F", FB_BEN),
            "from": telegram_ref("A", "111"), "note": "Hi on Messenger",
        })
    );
    // The echo is nobody.
    assert_eq!(w.contact("F", FACEBOOK_PAGE_ID), None);
    assert_eq!(w.outbox().len(), 4, "hi, hello, the tag, the switch");

    // Meta retries the batch: nothing new.
    let (outbox, card_x, card_a) = (w.outbox(), w.card(x), w.card(a));
    let again = w.deliver_signed("F", &batch, T0 + 3000);
    assert!(again.used_links.is_empty());
    assert_eq!(w.outbox(), outbox);
    assert_eq!((w.card(x), w.card(a)), (card_x, card_a));

    // Each event is remembered on its own: rebatched with a new one, only the new one counts.
    let rebatched = w.messaging_body(
        "F",
        &[vec![
            meta_postback_ref(FB_BEN, "m_Pb1", &id),
            meta_text(FB_ANN, "m_AbCdEf1", "hello"),
            meta_text(FB_ANN, "m_New2", "second"),
        ]],
    );
    let outcome = w.deliver_signed("F", &rebatched, T0 + 4000);
    assert!(outcome.used_links.is_empty());
    assert_eq!(w.outbox().len(), outbox.len() + 1);
    let last = w.callbacks().pop().unwrap();
    assert_eq!(
        (
            &last["type"],
            &last["data"]["text"],
            &last["data"]["message_id"]
        ),
        (&json!("message"), &json!("second"), &json!("m_New2"))
    );
    assert_eq!(w.sends().len(), 1);
    assert_eq!(w.history_events(x).last().unwrap(), "contact_linked");
}

#[test]
fn a_meta_delivery_signed_with_another_apps_secret_is_refused() {
    let (w, x) = world_with_x();
    let body = w.messaging_body("F", &[vec![meta_text(FB_ANN, "m_1", "hello")]]);
    let forged = format!(
        "sha256={}",
        hmac_hex(WHATSAPP_SECRET.as_bytes(), body.as_bytes())
    );
    let headers = vec![("X-Hub-Signature-256".to_string(), forged)];
    let err = webhook::handle(&w.store, &group("F"), &headers, body.as_bytes(), T0)
        .err()
        .expect("refused");
    assert_eq!((err.status(), err.code()), (401, "unauthorized"));
    assert_eq!(w.contact("F", FB_ANN), None);
    assert_eq!(w.outbox().len(), 1, "only X's hi");
    // The same body, rightly signed, is then a first delivery.
    w.deliver_signed("F", &body, T0 + 1);
    assert_eq!(w.callbacks_of("message").len(), 2);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111")]));
}

// 8. Meta's subscription handshake.

fn hub(token: &str, challenge: &str) -> Vec<(String, String)> {
    [
        ("hub.mode", "subscribe"),
        ("hub.verify_token", token),
        ("hub.challenge", challenge),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn meta_handshake_answers_the_challenge_for_the_right_verify_token() {
    let w = World::with_every_messenger();
    w.connect_whatsapp(
        "W2",
        "+44 7700 900123",
        "106540352242923",
        "wa2-secret",
        Some("my-verify-token"),
    );
    let handshake = |grp: &str, token: &str| {
        webhook::handshake(&w.store, &group(grp), &hub(token, "1158201444"))
    };

    // By default the bot's webhook secret is the verify token.
    for grp in ["F", "W", "I"] {
        assert_eq!(
            handshake(grp, &w.secret(grp)),
            Ok("1158201444".to_string()),
            "{grp}"
        );
    }
    // The owner's own token replaces it.
    assert_eq!(
        handshake("W2", "my-verify-token"),
        Ok("1158201444".to_string())
    );
    let wrong = [
        ("F", "wrong".to_string()),
        ("F", w.secret("W")),
        ("W", String::new()),
        ("W2", w.secret("W2")),
        ("W2", "my-verify-token ".to_string()),
    ];
    for (grp, token) in wrong {
        let err = handshake(grp, &token).unwrap_err();
        assert!(
            matches!(err, ApiError::Forbidden(_)),
            "{grp} {token:?}: {err:?}"
        );
        assert_eq!((err.status(), err.code()), (403, "forbidden"));
    }

    let err = handshake("nobody", "x").unwrap_err();
    assert_eq!((err.status(), err.code()), (404, "bot_not_found"));
    // No handshake for Telegram or Viber; an incomplete query is malformed.
    for grp in ["A", "V"] {
        let err = handshake(grp, &w.secret(grp)).unwrap_err();
        assert_eq!(err.status(), 400, "{grp}");
    }
    let incomplete = vec![("hub.mode".to_string(), "subscribe".to_string())];
    let err = webhook::handshake(&w.store, &group("F"), &incomplete).unwrap_err();
    assert!(matches!(err, ApiError::BadRequest(_)));
    assert!(w.outbox().is_empty());
}

// 9. A link for one Facebook page, opened in another.

#[test]
fn a_facebook_link_arriving_at_another_page_is_a_message() {
    let (w, x) = world_with_x();
    w.connect_facebook("G", "other.page", "106000000000002", "fb-other-secret");
    let id = payload(&w, &w.link_into(x, "F", "Hi", T0 + 1000));

    let outcome = w.messaging(
        "G",
        &[vec![meta_referral(FB_BEN, 1764000002000, &id)]],
        T0 + 2000,
    );
    assert!(outcome.used_links.is_empty());
    let own = w.card_of("G", FB_BEN);
    assert_ne!(own, x);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111")]));
    assert!(w.sends().is_empty());
    assert!(w.callbacks_of("switch_to_facebook").is_empty());
    let messages = w.callbacks_of("message");
    assert_eq!(messages.len(), 2);
    assert_eq!(
        messages[1]["data"],
        json!({
            "client_id": own.0, "contact": contact_ref(Facebook, "G", FB_BEN),
            "text": id, "message_id": format!("referral:{FB_BEN}:1764000002000"),
        })
    );
    assert_eq!(w.history_events(own), ["created"]);
    assert_eq!(w.store.link(&id).unwrap().unwrap().used_at, None);

    // Opened at its own page, it still merges.
    let outcome = w.messaging(
        "F",
        &[vec![meta_referral(FB_BEN, 1764000003000, &id)]],
        T0 + 3000,
    );
    assert_eq!(outcome.used_links, vec![link_id(&id)]);
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111"), ("F", FB_BEN)]));
}

// 10. The redirect's deep links.

#[test]
fn the_redirect_sends_each_messenger_to_its_deep_link_or_page() {
    let (w, x) = world_with_x();
    let mut memory = EdgeMemory::new(60_000);
    let key = &w.config.link_key;
    let now = T0 + 2000;
    let token = |grp: &str| {
        let reply = w.link_into(x, grp, "", T0 + 1000);
        let token = reply.body["token"].as_str().unwrap().to_string();
        (
            token,
            payload(&w, &reply),
            reply.body["code"].as_str().map(String::from),
        )
    };
    let (tg, tg_id, _) = token("A");
    let (fb, fb_id, _) = token("F");
    let (vb, vb_id, _) = token("V");
    let (wa, _, wa_code) = token("W");
    let wa_code = wa_code.unwrap();
    // (The Instagram link retires the WhatsApp code; the redirect reads only the token.)
    let (ig, ig_id, ig_code) = token("I");
    let ig_code = ig_code.unwrap();

    assert_eq!(
        memory.decide(&wa, key, now, Some(Device::Phone)),
        Decision::LookUpBot(w.project.clone(), group("W"))
    );
    for grp in ["A", "F", "V", "W", "I"] {
        let bot = owner::public_bot(&w.store, &group(grp)).unwrap();
        assert!(bot.is_some(), "{grp}");
        memory.learn_bot(w.project.clone(), group(grp), bot, now);
    }
    let decide = |token: &str, device| memory.decide(token, key, now, device);
    let redirect = |to: String| Decision::Redirect(to);
    let landing = |client_type, deep_link: String, code: Option<&str>| Decision::Landing {
        client_type,
        deep_link,
        code: code.map(String::from),
    };

    for device in [None, Some(Device::Phone), Some(Device::Desktop)] {
        assert_eq!(
            decide(&tg, device),
            redirect(format!("https://t.me/BotA?start={tg_id}"))
        );
        assert_eq!(
            decide(&fb, device),
            redirect(format!("https://m.me/{FACEBOOK_PAGE}?ref={fb_id}"))
        );
        assert_eq!(
            decide(&ig, device),
            landing(
                Instagram,
                format!("https://ig.me/m/{INSTAGRAM_USERNAME}?ref={ig_id}"),
                Some(&ig_code)
            )
        );
    }
    let wa_link = format!("https://wa.me/{WHATSAPP_DIGITS}?text={wa_code}");
    assert_eq!(decide(&wa, None), Decision::NeedDevice);
    assert_eq!(decide(&wa, Some(Device::Phone)), redirect(wa_link.clone()));
    assert_eq!(
        decide(&wa, Some(Device::Desktop)),
        landing(WhatsApp, wa_link, Some(&wa_code))
    );
    let vb_link = format!("viber://pa?chatURI={VIBER_URI}&context={vb_id}");
    assert_eq!(decide(&vb, None), Decision::NeedDevice);
    assert_eq!(decide(&vb, Some(Device::Phone)), redirect(vb_link.clone()));
    assert_eq!(
        decide(&vb, Some(Device::Desktop)),
        landing(Viber, vb_link, None)
    );
    assert_eq!(WHATSAPP_DIGITS, "15550100199");
    assert_eq!(
        owner::public_bot(&w.store, &group("W")).unwrap(),
        Some(mlink_core::messengers::PublicBot::WhatsApp {
            phone: WHATSAPP_DIGITS.into()
        }),
        "{WHATSAPP_NUMBER} is stored as its digits"
    );
}

// 11. A card across messengers.

#[test]
fn a_card_spans_telegram_and_whatsapp_until_the_whatsapp_dialog_is_unmerged() {
    let (w, x) = world_with_x();
    w.whatsapp("W", WA_ANN, "hi from WhatsApp", T0 + 1000);
    let y = w.card_of("W", WA_ANN);
    w.store.set_variable(y, "phone_seen", "yes").unwrap();
    let code = code_of(&w.link_into(x, "W", "", T0 + 2000));
    let outcome = w.whatsapp("W", WA_ANN, &code, T0 + 3000);
    assert_eq!(outcome.used_links.len(), 1);

    let card = w.card(x);
    assert_eq!(card["client_id"], x.0);
    assert!(card["merged_into"].is_null());
    assert_eq!(
        card["contacts"],
        json!([
            {
                "messenger": "telegram", "client_type": 1, "group": "A", "user_id": "111",
                "name": "User111", "linked_at": rfc3339(T0), "last_message_at": rfc3339(T0),
                "window": {"free_form": true, "until": null, "rule": "none"},
            },
            {
                "messenger": "whatsapp", "client_type": 6, "group": "W", "user_id": WA_ANN,
                "name": format!("User{WA_ANN}"), "linked_at": rfc3339(T0 + 1000),
                "last_message_at": rfc3339(T0 + 3000),
                // card() reads the card at T0: the window is open until a day after the code.
                "window": {"free_form": true, "until": rfc3339(T0 + 3000 + 24 * 3600 * 1000), "rule": "24h"},
            },
        ])
    );
    assert_eq!(
        card["variables"],
        json!({CODE_VARIABLE: code, "phone_seen": "yes"})
    );
    assert_eq!(w.card(y)["merged_into"], x.0);
    assert_eq!(w.card(y)["contacts"], json!([]));
    assert_eq!(
        w.callbacks_of("switch_to_whatsapp")[0]["data"],
        json!({
            "client_id": x.0, "contact": contact_ref(WhatsApp, "W", WA_ANN),
            "from": telegram_ref("A", "111"), "note": "",
        })
    );

    let reply = owner::unmerge(&w.store, &group("W"), &user(WA_ANN), T0 + 4000).unwrap();
    assert_eq!(
        reply.body,
        json!({"changed": true, "client_id": y.0, "previous_client_id": x.0})
    );
    assert_eq!(w.dialogs(x), dialogs(&[("A", "111")]));
    assert_eq!(w.dialogs(y), dialogs(&[("W", WA_ANN)]));
    let back = w.card(y);
    assert!(back["merged_into"].is_null());
    assert_eq!(back["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(back["contacts"][0]["messenger"], "whatsapp");
    assert_eq!(back["contacts"][0]["client_type"], 6);
    assert_eq!(back["variables"], json!({"phone_seen": "yes"}));
    let home = w.card(x);
    assert_eq!(home["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(home["contacts"][0]["messenger"], "telegram");
    assert_eq!(
        w.callbacks_of("unmerged"),
        vec![json!({
            "type": "unmerged",
            "timestamp": rfc3339(T0 + 4000),
            "data": {
                "client_id": y.0, "previous_client_id": x.0,
                "contact": contact_ref(WhatsApp, "W", WA_ANN),
            },
        })]
    );
    // Later messages land in the home card.
    w.whatsapp("W", WA_ANN, "still here", T0 + 5000);
    let last = w.callbacks().pop().unwrap();
    assert_eq!(
        (&last["data"]["client_id"], &last["data"]["text"]),
        (&json!(y.0), &json!("still here"))
    );
}
