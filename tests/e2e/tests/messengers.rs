//! End-to-end: Viber, Facebook Messenger, WhatsApp and Instagram next to Telegram. The built
//! worker runs under `wrangler dev` with every messenger API pointed at fakes on 127.0.0.1; the
//! tests play the messengers (deliveries shaped and signed as each platform does) and the
//! owner's backend (a callback receiver per project, checked with an independent verifier).
//! Needs `scripts/build` to have run. Each test starts its own worker (a few seconds each).
//!
//! Waiting: never a fixed sleep. Tests wait on recorded requests and callbacks with deadlines;
//! to show that nothing else happened, they send ordinary messages and wait for their `message`
//! callbacks (see [`ProjectEnv::settle`]).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mlink_e2e::messengers::{
    meta_delivery, meta_echo, meta_entry, meta_postback_referral, meta_referral, meta_text,
    telegram_text, viber_conversation_started, whatsapp_delivery, whatsapp_text,
};
use mlink_e2e::{
    id_text, Api, BotSpec, CallbackReceiver, ConnectedBot, Delivery, Fakes, Messenger,
    PageResponse, Project, ReceivedCallback, SentText, WebhookAnswer, Worker,
};
use serde_json::{json, Value};

/// How long asynchronous deliveries (outbox: sends, callbacks) may take.
const DELIVERY: Duration = Duration::from_secs(20);

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like \
                       Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                       Chrome/120.0.0.0 Safari/537.36";

/// What the bot says when a link or code cannot merge: the texts of
/// `core/src/service/webhook.rs`, `replies` (copied, so a change of wording shows here).
mod replies {
    pub const LINK_REPLACED: &str =
        "This link was replaced by a newer one. Please use the latest link you received.";
    pub const WRONG_CODE: &str =
        "This code is not valid. Please send the code from your link exactly as it is shown.";
    pub const TOO_MANY_CODES: &str =
        "Too many wrong codes. Please try again tomorrow, or ask for a new link.";
}

/// The card variable holding the latest merge code (Salebot's name).
const CODE_VARIABLE: &str = "text_to_merge_contact";

// ---------------------------------------------------------------------------------------------
// Bots (the contract's examples)

const VIBER_TOKEN: &str = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9";

fn telegram() -> BotSpec {
    BotSpec::telegram("AcmeMlinkBot", "111:AAA")
}

fn viber() -> BotSpec {
    BotSpec::viber("mlinkviber", VIBER_TOKEN, "Acme")
}

fn facebook() -> BotSpec {
    BotSpec::facebook("acmepage", "1111", "EAABpage0token", "fb-app-secret")
}

fn whatsapp() -> BotSpec {
    BotSpec::whatsapp(
        "+1 555 010 0200",
        "2222",
        "EAAWsystem0token",
        "wa-app-secret",
    )
}

fn instagram() -> BotSpec {
    BotSpec::instagram("acme.shop", "3333", "IGQWaccount0token", "ig-app-secret")
}

// ---------------------------------------------------------------------------------------------
// Tests: the journeys

#[tokio::test(flavor = "multi_thread")]
async fn journeys_from_viber_telegram_and_whatsapp() {
    let env = TestEnv::start().await;
    // viber_to_telegram: a Viber client follows a link into a Telegram bot (/start <payload>).
    Journey {
        project: "viber-to-telegram",
        source: viber(),
        source_user: "01234567890A=",
        target: telegram(),
        target_user: "7001",
        arrival: Arrival::TelegramStart,
    }
    .run(&env)
    .await;
    // telegram_to_whatsapp: the link opens WhatsApp with the code typed in; the client sends it.
    Journey {
        project: "telegram-to-whatsapp",
        source: BotSpec::telegram("AcmeOtherBot", "222:BBB"),
        source_user: "7002",
        target: whatsapp(),
        target_user: "15551234567",
        arrival: Arrival::Code,
    }
    .run(&env)
    .await;
    // whatsapp_to_instagram: the page shows the code; the client sends it in a DM.
    Journey {
        project: "whatsapp-to-instagram",
        source: BotSpec::whatsapp("+1 555 010 0300", "2223", "EAAWother0token", "wa-secret-2"),
        source_user: "15557654321",
        target: instagram(),
        target_user: "17841400000000001",
        arrival: Arrival::Code,
    }
    .run(&env)
    .await;
    env.assert_no_panics().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn journeys_from_instagram_and_facebook() {
    let env = TestEnv::start().await;
    // instagram_to_facebook: a new Messenger thread opened from m.me with the ref (Get Started).
    Journey {
        project: "instagram-to-facebook",
        source: instagram(),
        source_user: "17841400000000002",
        target: facebook(),
        target_user: "6100000000000001",
        arrival: Arrival::MetaPostback,
    }
    .run(&env)
    .await;
    // facebook_to_viber: Viber's conversation_started from a user who is not subscribed yet:
    // the tag can only go back in the webhook's answer.
    Journey {
        project: "facebook-to-viber",
        source: BotSpec::facebook("acmeother", "1112", "EAABother0token", "fb-secret-2"),
        source_user: "6100000000000002",
        target: viber(),
        target_user: "ViberAnnId0123456789A==",
        arrival: Arrival::ViberOpen { subscribed: false },
    }
    .run(&env)
    .await;
    // The same from a subscribed Viber user: the tag goes through send_message.
    Journey {
        project: "telegram-to-viber",
        source: telegram(),
        source_user: "7003",
        target: BotSpec::viber("mlinkviber2", "4f0c-second-viber-token-77ab", "Acme Two"),
        target_user: "ViberBobId9876543210B==",
        arrival: Arrival::ViberOpen { subscribed: true },
    }
    .run(&env)
    .await;
    env.assert_no_panics().await;
}

// ---------------------------------------------------------------------------------------------
// Tests: proofs, handshakes, replays, batches

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_need_proof_and_replays_change_nothing() {
    let env = TestEnv::start().await;
    let p = env.project("guard").await;
    let viber = p.connect("vb", viber()).await;
    let facebook = p.connect("fb", facebook()).await;
    let whatsapp = p.connect("wa", whatsapp()).await;
    let instagram = p.connect("ig", instagram()).await;
    let own_token = BotSpec::Facebook {
        page: "acmeown".into(),
        page_id: "1113".into(),
        access_token: "EAABown0token".into(),
        app_secret: "fb-own-secret".into(),
        verify_token: Some("my-own-verify-token".into()),
    };
    let facebook_own = p.connect("fbown", own_token).await;
    // A Viber id is base64: `+` and `/` must survive the API's paths.
    let viber_user = "Vb+Ann/0123456789A==";
    let users = [
        (&viber, viber_user),
        (&facebook, "6100000000000011"),
        (&whatsapp, "15550000011"),
        (&instagram, "17841400000000011"),
    ];

    // Deliveries without the right proof are refused before anything happens.
    for (bot, user) in users {
        let body = bot.text_body(
            user,
            &format!("intruder in {}", bot.messenger()),
            env.next(),
        );
        let signed = bot.signed(&body);
        let tampered = Delivery {
            body: signed.body.replace("intruder", "imposter"),
            headers: signed.headers.clone(),
        };
        let cases = [
            ("a wrong key", bot.signed_wrongly(&body)),
            ("no signature", Delivery::unsigned(&body)),
            ("a changed body", tampered),
        ];
        for (what, delivery) in cases {
            let answer = p.deliver(bot, &delivery).await;
            assert_eq!(answer.status, 401, "{} with {what}: {answer:?}", bot.group);
        }
    }
    // Meta's header must be `sha256=<hex>`: the bare hex is not enough.
    let body = facebook.text_body("6100000000000011", "bare hex", env.next());
    let bare = facebook.signed(&body).headers[0].1.replace("sha256=", "");
    let delivery = Delivery::unsigned(&body).header("X-Hub-Signature-256", &bare);
    assert_eq!(p.deliver(&facebook, &delivery).await.status, 401);

    // Each messenger's ordinary message is forwarded once, however often it is delivered.
    let mut forwarded = Vec::new();
    for (bot, user) in users {
        let text = format!("hello from {}", bot.messenger());
        let delivery = bot.text(user, &text, env.next());
        p.deliver_ok(bot, &delivery).await;
        let message = p.message_callback(&text).await;
        assert_eq!(
            message["data"]["contact"],
            contact_json(bot, user),
            "{message}"
        );
        for _ in 0..2 {
            p.deliver_ok(bot, &delivery).await;
        }
        forwarded.push((bot, user, text, message["data"]["client_id"].clone()));
    }

    // One Messenger delivery batching two entries, with an echo of the page's own message.
    let batch = json!({
        "object": "page",
        "entry": [
            meta_entry("1111", vec![
                meta_text("1111", "6100000000000012", env.next(), "batch one"),
                meta_echo("1111", "6100000000000012", env.next(), "the page's own words"),
            ]),
            meta_entry("1111", vec![
                meta_text("1111", "6100000000000013", env.next(), "batch two"),
                meta_text("1111", "6100000000000012", env.next(), "batch three"),
            ]),
        ],
    });
    let batch = facebook.signed(&batch);
    p.deliver_ok(&facebook, &batch).await;
    // And one WhatsApp delivery with two senders' messages.
    let wa_batch = whatsapp_delivery(
        &whatsapp.spec,
        &[
            whatsapp_text("15550000012", env.next(), "wa batch one"),
            whatsapp_text("15550000013", env.next(), "wa batch two"),
        ],
    );
    let wa_batch = whatsapp.signed(&wa_batch);
    p.deliver_ok(&whatsapp, &wa_batch).await;
    for text in [
        "batch one",
        "batch two",
        "batch three",
        "wa batch one",
        "wa batch two",
    ] {
        p.message_callback(text).await;
    }
    p.deliver_ok(&facebook, &batch).await;
    p.deliver_ok(&whatsapp, &wa_batch).await;

    p.settle(&viber, viber_user).await;
    let texts = message_texts(&p.callbacks.received());
    let expected: Vec<String> = [
        "hello from viber",
        "hello from facebook",
        "hello from whatsapp",
        "hello from instagram",
        "batch one",
        "batch two",
        "batch three",
        "wa batch one",
        "wa batch two",
    ]
    .iter()
    .map(|t| t.to_string())
    .chain(p.settle_texts())
    .collect();
    assert_eq!(texts, expected, "{:?}", p.callbacks.received());
    let batch_user = p.contact_card(&facebook, "6100000000000012").await;
    assert_eq!(
        contact_keys(&batch_user),
        [key(&facebook, "6100000000000012")],
        "{batch_user}"
    );
    for (bot, user, _, client_id) in &forwarded {
        let card = p.card(client_id).await;
        assert_eq!(contact_keys(&card), [key(bot, user)], "{card}");
        let by_contact = p.contact_card(bot, user).await;
        assert_eq!(by_contact["client_id"], *client_id, "{by_contact}");
    }
    for bot in [&viber, &facebook, &whatsapp, &instagram, &facebook_own] {
        let sent = env.fakes.sent_by(&bot.spec);
        assert!(sent.is_empty(), "{}: {sent:?}", bot.group);
    }
    p.assert_all_signed();

    // Meta's subscription handshake: the webhook secret by default, else the owner's token.
    let defaults = [&facebook, &whatsapp, &instagram];
    for (n, bot) in defaults.into_iter().enumerate() {
        let challenge = format!("{}", 1_158_201_444 + n);
        let ok = p
            .handshake(bot, &bot.webhook_secret.clone(), &challenge)
            .await;
        assert_eq!(
            (ok.status, ok.body.as_str()),
            (200, challenge.as_str()),
            "{ok:?}"
        );
        let wrong = p.handshake(bot, "not-the-token", &challenge).await;
        assert_eq!(wrong.status, 403, "{} wrong token: {wrong:?}", bot.group);
    }
    let own = p
        .handshake(&facebook_own, "my-own-verify-token", "CHALLENGE_7")
        .await;
    assert_eq!(
        (own.status, own.body.as_str()),
        (200, "CHALLENGE_7"),
        "{own:?}"
    );
    let secret = facebook_own.webhook_secret.clone();
    let not_own = p.handshake(&facebook_own, &secret, "CHALLENGE_8").await;
    assert_eq!(not_own.status, 403, "{not_own:?}");

    env.assert_no_panics().await;
}

// ---------------------------------------------------------------------------------------------
// Tests: codes

#[tokio::test(flavor = "multi_thread")]
async fn codes_wrong_replaced_and_rate_limited() {
    let env = TestEnv::start().await;
    let p = env.project("codes").await;
    let tg = p.connect("tg", telegram()).await;
    let wa = p.connect("wa", whatsapp()).await;
    let ig = p.connect("ig", instagram()).await;

    let hello = p.say(&tg, "8001", "hi from telegram").await;
    let client_x = hello["data"]["client_id"].clone();

    // Instagram: a wrong code gets the WRONG_CODE reply and merges nothing.
    let ig_user = "17841400000000021";
    let ig_link = p.merge_link(&client_x, &ig, "Welcome to Instagram").await;
    let ig_code = code_of(&ig_link);
    let wrong = wrong_code(&[&ig_code], 1);
    p.deliver_ok(&ig, &ig.text(ig_user, &wrong, env.next()))
        .await;
    p.expect_replies(&ig, ig_user, &[replies::WRONG_CODE]).await;

    // A second WhatsApp link retires the first code.
    let link_1 = p.merge_link(&client_x, &wa, "First WhatsApp welcome").await;
    let code_1 = code_of(&link_1);
    let link_2 = p
        .merge_link(&client_x, &wa, "Second WhatsApp welcome")
        .await;
    let code_2 = code_of(&link_2);
    assert_ne!(code_1, code_2);
    let card = p.card(&client_x).await;
    assert_eq!(card["variables"][CODE_VARIABLE], code_2, "{card}");

    // WhatsApp: a wrong code, then the replaced one: replies, no merge.
    let (user_a, user_b) = ("15550000021", "15550000022");
    let wrong = wrong_code(&[&code_1, &code_2], 2);
    p.deliver_ok(&wa, &wa.text(user_a, &wrong, env.next()))
        .await;
    p.expect_replies(&wa, user_a, &[replies::WRONG_CODE]).await;
    p.deliver_ok(&wa, &wa.text(user_b, &code_1, env.next()))
        .await;
    p.expect_replies(&wa, user_b, &[replies::LINK_REPLACED])
        .await;
    p.settle(&tg, "8001").await;
    assert!(p.switches().is_empty(), "{:?}", p.callbacks.received());
    let card = p.card(&client_x).await;
    assert_eq!(contact_keys(&card), [key(&tg, "8001")], "{card}");
    for (bot, user) in [(&ig, ig_user), (&wa, user_a), (&wa, user_b)] {
        let (status, other) = env.worker.contact_card(&p.project, &bot.group, user).await;
        assert!(
            status == 404 || other["client_id"] != client_x,
            "{user}: {status} {other}"
        );
    }

    // The new code merges, as typed in any case and with spaces around it.
    let typed = format!(" {} ", code_2.to_uppercase());
    p.deliver_ok(&wa, &wa.text(user_b, &typed, env.next()))
        .await;
    p.expect_replies(
        &wa,
        user_b,
        &[replies::LINK_REPLACED, "Second WhatsApp welcome"],
    )
    .await;
    let switch = p.wait_switch(Messenger::WhatsApp).await;
    assert_switch(
        &switch,
        &client_x,
        &contact_json(&wa, user_b),
        &contact_json(&tg, "8001"),
        "Second WhatsApp welcome",
    );
    let card = p.card(&client_x).await;
    assert_eq!(
        contact_keys(&card),
        sorted(vec![key(&tg, "8001"), key(&wa, user_b)]),
        "{card}"
    );

    // Five wrong codes, then even the right code is refused for that sender.
    let hello_y = p.say(&tg, "8002", "hi from another client").await;
    let client_y = hello_y["data"]["client_id"].clone();
    let link_3 = p.merge_link(&client_y, &wa, "Third WhatsApp welcome").await;
    let code_3 = code_of(&link_3);
    let user_c = "15550000023";
    let mut replies_c = Vec::new();
    for n in 1..=5 {
        let wrong = wrong_code(&[&code_1, &code_2, &code_3], 10 + n as u64);
        p.deliver_ok(&wa, &wa.text(user_c, &wrong, env.next()))
            .await;
        // One reply per code, each waited for, so the count is in the order sent.
        replies_c = p.wait_replies(&wa, user_c, n).await;
    }
    assert_eq!(replies_c[..4], [replies::WRONG_CODE; 4], "{replies_c:?}");
    assert!(
        [replies::WRONG_CODE, replies::TOO_MANY_CODES].contains(&replies_c[4].as_str()),
        "fifth wrong code: {replies_c:?}"
    );
    p.deliver_ok(&wa, &wa.text(user_c, &code_3, env.next()))
        .await;
    let sent = p.wait_replies(&wa, user_c, 6).await;
    assert_eq!(sent[5], replies::TOO_MANY_CODES, "{sent:?}");
    p.settle(&tg, "8002").await;
    assert_eq!(p.switches().len(), 1, "{:?}", p.callbacks.received());
    let card_y = p.card(&client_y).await;
    assert_eq!(contact_keys(&card_y), [key(&tg, "8002")], "{card_y}");
    assert_eq!(p.replies_to(&wa, user_c).len(), 6);

    // The code was right: another sender joins card Y with it.
    let user_d = "15550000024";
    p.deliver_ok(&wa, &wa.text(user_d, &code_3, env.next()))
        .await;
    p.expect_replies(&wa, user_d, &["Third WhatsApp welcome"])
        .await;
    let switches = p
        .callbacks
        .wait_for_kind("switch_to_whatsapp", 2, DELIVERY)
        .await;
    assert_eq!(switches.len(), 2, "{:?}", p.callbacks.received());
    assert_switch(
        &switches[1].json(),
        &client_y,
        &contact_json(&wa, user_d),
        &contact_json(&tg, "8002"),
        "Third WhatsApp welcome",
    );
    let card_y = p.card(&client_y).await;
    assert_eq!(
        contact_keys(&card_y),
        sorted(vec![key(&tg, "8002"), key(&wa, user_d)]),
        "{card_y}"
    );
    // Codes are never forwarded as messages, and nothing went to the Telegram side.
    let texts = message_texts(&p.callbacks.received());
    let expected = [
        "hi from telegram",
        "settle 1",
        "settle 2",
        "hi from another client",
        "settle 3",
        "settle 4",
    ];
    assert_eq!(texts, expected, "{:?}", p.callbacks.received());
    assert_sent(&env.fakes.sent_by(&tg.spec), &[], &env.fakes);
    p.assert_all_signed();
    env.assert_no_panics().await;
}

// ---------------------------------------------------------------------------------------------
// Tests: /mlink

#[tokio::test(flavor = "multi_thread")]
async fn mlink_redirects_phones_and_shows_pages_to_computers() {
    let env = TestEnv::start().await;
    let p = env.project("clicks").await;
    let tg = p.connect("tg", telegram()).await;
    let vb = p.connect("vb", viber()).await;
    let fb = p.connect("fb", facebook()).await;
    let wa = p.connect("wa", whatsapp()).await;
    let ig = p.connect("ig", instagram()).await;

    // One card per target messenger, each from its own Telegram client.
    let mut links = Vec::new();
    for (n, target) in [&tg, &vb, &fb, &wa, &ig].into_iter().enumerate() {
        let user = format!("{}", 9001 + n);
        let hello = p
            .say(&tg, &user, &format!("hi, I want {}", target.messenger()))
            .await;
        let client_id = hello["data"]["client_id"].clone();
        let tag = format!("Welcome to {}", target.messenger());
        let link = p.merge_link(&client_id, target, &tag).await;
        links.push((target, user, client_id, tag, link));
    }
    let link_of = |messenger: Messenger| {
        links
            .iter()
            .find(|(bot, ..)| bot.messenger() == messenger)
            .expect("a link per messenger")
    };

    // Telegram and Messenger links work on any device: a redirect.
    for messenger in [Messenger::Telegram, Messenger::Facebook] {
        let (bot, _, _, _, link) = link_of(messenger);
        let prefix = match messenger {
            Messenger::Telegram => "https://t.me/AcmeMlinkBot?start=".to_string(),
            _ => "https://m.me/acmepage?ref=".to_string(),
        };
        let phone = p.redirect(link, IPHONE, &prefix).await;
        let desktop = p.redirect(link, DESKTOP, &prefix).await;
        assert_eq!(phone, desktop, "{}", bot.group);
    }

    // WhatsApp: phones go to wa.me with the code typed in; computers get the page.
    let (_, _, _, _, wa_link) = link_of(Messenger::WhatsApp);
    let code = code_of(wa_link);
    let wa_me = format!("https://wa.me/15550100200?text={code}");
    for user_agent in [IPHONE, ANDROID] {
        let page = p.click(wa_link, Some(user_agent)).await;
        assert_eq!(page.status, 302, "{page:?}");
        assert_eq!(page.location.as_deref(), Some(wa_me.as_str()), "{page:?}");
    }
    for user_agent in [Some(DESKTOP), None] {
        let page = p.click(wa_link, user_agent).await;
        assert_landing(&page, &[wa_me.as_str(), code.as_str()]);
    }

    // Viber: phones go to the app; computers get the page with the same deep link.
    let (_, _, _, _, vb_link) = link_of(Messenger::Viber);
    let prefix = "viber://pa?chatURI=mlinkviber&context=";
    let payload = p.redirect(vb_link, IPHONE, prefix).await;
    assert_eq!(p.redirect(vb_link, ANDROID, prefix).await, payload);
    let page = p.click(vb_link, Some(DESKTOP)).await;
    assert_landing(&page, &[format!("{prefix}{payload}").as_str()]);

    // Instagram: always the page, with the ig.me link (ref = the payload) and the code.
    let (_, ig_user_tg, ig_client, ig_tag, ig_link) = link_of(Messenger::Instagram);
    let ig_code = code_of(ig_link);
    let mut ig_payloads = Vec::new();
    for user_agent in [IPHONE, DESKTOP] {
        let page = p.click(ig_link, Some(user_agent)).await;
        assert_landing(&page, &[ig_code.as_str(), "https://ig.me/m/acme.shop?ref="]);
        ig_payloads.push(ref_in_page(&page.body, "https://ig.me/m/acme.shop?ref="));
    }
    assert_eq!(ig_payloads[0], ig_payloads[1]);

    // The ref of the Instagram page merges through an icebreaker postback...
    let ig_user = "17841400000000031";
    let arrival = meta_delivery(
        "instagram",
        "3333",
        vec![meta_postback_referral(
            "3333",
            ig_user,
            env.next(),
            &ig_payloads[0],
        )],
    );
    p.deliver_ok(&ig, &ig.signed(&arrival)).await;
    p.expect_replies(&ig, ig_user, &[ig_tag.as_str()]).await;
    let switch = p.wait_switch(Messenger::Instagram).await;
    assert_switch(
        &switch,
        ig_client,
        &contact_json(&ig, ig_user),
        &contact_json(&tg, ig_user_tg),
        ig_tag,
    );

    // ...and the Messenger ref through a referral in an existing thread.
    let (_, fb_user_tg, fb_client, fb_tag, fb_link) = link_of(Messenger::Facebook);
    let fb_payload = p
        .redirect(fb_link, IPHONE, "https://m.me/acmepage?ref=")
        .await;
    let fb_user = "6100000000000031";
    p.say(&fb, fb_user, "an existing thread").await;
    let arrival = meta_delivery(
        "page",
        "1111",
        vec![meta_referral("1111", fb_user, env.next(), &fb_payload)],
    );
    p.deliver_ok(&fb, &fb.signed(&arrival)).await;
    p.expect_replies(&fb, fb_user, &[fb_tag.as_str()]).await;
    let switch = p.wait_switch(Messenger::Facebook).await;
    assert_switch(
        &switch,
        fb_client,
        &contact_json(&fb, fb_user),
        &contact_json(&tg, fb_user_tg),
        fb_tag,
    );
    let card = p.card(fb_client).await;
    assert_eq!(
        contact_keys(&card),
        sorted(vec![key(&tg, fb_user_tg), key(&fb, fb_user)]),
        "{card}"
    );

    p.settle(&tg, "9001").await;
    assert_eq!(p.switches().len(), 2, "{:?}", p.callbacks.received());
    for bot in [&tg, &vb, &wa] {
        assert_sent(&env.fakes.sent_by(&bot.spec), &[], &env.fakes);
    }
    let fakes = &env.fakes;
    assert_sent(
        &fakes.sent_by(&ig.spec),
        &[(ig_user, ig_tag.as_str())],
        fakes,
    );
    assert_sent(
        &fakes.sent_by(&fb.spec),
        &[(fb_user, fb_tag.as_str())],
        fakes,
    );
    p.assert_all_signed();
    env.assert_no_panics().await;
}

// ---------------------------------------------------------------------------------------------
// The journey: a client of one messenger follows a merge link into another

/// How the client arrives in the target messenger.
#[derive(Debug, Clone, Copy)]
enum Arrival {
    /// Telegram: the link redirects to `t.me/<bot>?start=<payload>`; the client sends `/start`.
    TelegramStart,
    /// WhatsApp or Instagram: the client sends the link's code (WhatsApp: prefilled by `wa.me`).
    Code,
    /// Messenger: a new thread from `m.me/<page>?ref=<payload>`, with the Get Started postback.
    MetaPostback,
    /// Viber: `viber://pa?chatURI=..&context=<payload>` opens the chat: `conversation_started`.
    ViberOpen { subscribed: bool },
}

struct Journey {
    project: &'static str,
    source: BotSpec,
    source_user: &'static str,
    target: BotSpec,
    target_user: &'static str,
    arrival: Arrival,
}

impl Journey {
    /// Runs the journey in a project of its own and checks the common ending: one card with
    /// both dialogs, the tag delivered once (by the target's send API, or in the webhook's
    /// answer for an unsubscribed Viber user), one signed `switch_to_<target>` callback; and a
    /// replay of the arrival changes nothing.
    async fn run(self, env: &TestEnv) {
        let p = env.project(self.project).await;
        let source = p.connect("src", self.source.clone()).await;
        let target = p.connect("dst", self.target.clone()).await;
        let messenger = target.messenger();
        let tag = format!("Welcome to {messenger}, from {}!", self.project);

        // The client writes in the source messenger: a card is made.
        let hello = p
            .say(
                &source,
                self.source_user,
                &format!("hello from {}", source.messenger()),
            )
            .await;
        let client_x = hello["data"]["client_id"].clone();
        let card = p.card(&client_x).await;
        assert_eq!(
            contact_keys(&card),
            [key(&source, self.source_user)],
            "{card}"
        );

        // The owner asks for a link; the client follows it into the target messenger.
        let link = p.merge_link(&client_x, &target, &tag).await;
        let arrival = self.arrival_delivery(env, &p, &target, &link).await;
        let answer = p.deliver_ok(&target, &arrival).await;

        let in_answer = matches!(self.arrival, Arrival::ViberOpen { subscribed: false });
        if in_answer {
            assert_welcome_message(&answer, &target, &tag);
        } else {
            let sent = env.fakes.wait_sent_by(&target.spec, 1, DELIVERY).await;
            assert_sent(&sent, &[(self.target_user, tag.as_str())], &env.fakes);
        }
        let switch = p.wait_switch(messenger).await;
        let contact = contact_json(&target, self.target_user);
        let from = contact_json(&source, self.source_user);
        assert_switch(&switch, &client_x, &contact, &from, &tag);
        let merged = p.card(&client_x).await;
        let both = sorted(vec![
            key(&source, self.source_user),
            key(&target, self.target_user),
        ]);
        assert_eq!(contact_keys(&merged), both, "{merged}");
        let arrived = p.contact_card(&target, self.target_user).await;
        assert_eq!(arrived["client_id"], client_x, "{arrived}");

        // The messenger delivers the arrival again: same answer, nothing else.
        let again = p.deliver_ok(&target, &arrival).await;
        if in_answer {
            assert_eq!(again.json(), answer.json(), "{again:?}");
        }
        p.settle(&source, self.source_user).await;
        let expected_sends: Vec<(&str, &str)> = if in_answer {
            vec![]
        } else {
            vec![(self.target_user, tag.as_str())]
        };
        assert_sent(
            &env.fakes.sent_by(&target.spec),
            &expected_sends,
            &env.fakes,
        );
        assert_sent(&env.fakes.sent_by(&source.spec), &[], &env.fakes);
        let kinds: Vec<String> = p.callbacks.received().iter().map(|cb| cb.kind()).collect();
        let switch_kind = format!("switch_to_{messenger}");
        assert_eq!(
            kinds,
            ["message", switch_kind.as_str(), "message", "message"],
            "{:?}",
            p.callbacks.received()
        );
        let after = p.card(&client_x).await;
        assert_eq!(contact_rows(&after), contact_rows(&merged), "{after}");
        p.assert_all_signed();
    }

    /// Follows the link as the client's phone would and builds the delivery of their arrival.
    async fn arrival_delivery(
        &self,
        env: &TestEnv,
        p: &ProjectEnv<'_>,
        target: &ConnectedBot,
        link: &Value,
    ) -> Delivery {
        let user = self.target_user;
        match (self.arrival, &target.spec) {
            (Arrival::TelegramStart, BotSpec::Telegram { username, .. }) => {
                let prefix = format!("https://t.me/{username}?start=");
                let payload = p.redirect(link, IPHONE, &prefix).await;
                let start = format!("/start {payload}");
                target.signed(&telegram_text(env.next(), user, &start))
            }
            (Arrival::Code, BotSpec::WhatsApp { .. }) => {
                let code = code_of(link);
                let digits = target.spec.phone_digits().expect("a WhatsApp number");
                let page = p.click(link, Some(IPHONE)).await;
                let wa_me = format!("https://wa.me/{digits}?text={code}");
                assert_eq!(page.location.as_deref(), Some(wa_me.as_str()), "{page:?}");
                target.text(user, &code, env.next())
            }
            (Arrival::Code, BotSpec::Instagram { .. }) => {
                let code = code_of(link);
                let page = p.click(link, Some(IPHONE)).await;
                assert_landing(&page, &[code.as_str()]);
                target.text(user, &code, env.next())
            }
            (Arrival::MetaPostback, BotSpec::Facebook { page, page_id, .. }) => {
                let prefix = format!("https://m.me/{page}?ref=");
                let payload = p.redirect(link, IPHONE, &prefix).await;
                let event = meta_postback_referral(page_id, user, env.next(), &payload);
                target.signed(&meta_delivery("page", page_id, vec![event]))
            }
            (Arrival::ViberOpen { subscribed }, BotSpec::Viber { uri, .. }) => {
                let prefix = format!("viber://pa?chatURI={uri}&context=");
                let payload = p.redirect(link, IPHONE, &prefix).await;
                let event =
                    viber_conversation_started(env.next(), user, "Ann", &payload, subscribed);
                target.signed(&event)
            }
            (arrival, spec) => panic!("no {arrival:?} arrival for {spec:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Test environment

/// One worker with its fake messenger APIs.
struct TestEnv {
    worker: Worker,
    fakes: Fakes,
    /// Makes delivery ids (update ids, message tokens, mids, wamids) unique within the worker.
    counter: AtomicU64,
}

impl TestEnv {
    async fn start() -> Self {
        let fakes = Fakes::start().await;
        let worker = Worker::start(fakes.worker_options()).await;
        Self {
            worker,
            fakes,
            counter: AtomicU64::new(100),
        }
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A new project with a callback receiver of its own.
    async fn project(&self, name: &str) -> ProjectEnv<'_> {
        let callbacks = CallbackReceiver::start().await;
        let project = self.worker.create_project(name, &callbacks.url()).await;
        ProjectEnv {
            env: self,
            project,
            callbacks,
            settled: AtomicU64::new(0),
        }
    }

    async fn assert_no_panics(&self) {
        let log = self.worker.settled_log().await;
        assert!(!log.contains("panicked"), "the worker panicked:\n{log}");
    }
}

/// A project, its callbacks, and the helpers that play its bots' users.
struct ProjectEnv<'a> {
    env: &'a TestEnv,
    project: Project,
    callbacks: CallbackReceiver,
    /// How many settle messages were sent.
    settled: AtomicU64,
}

impl ProjectEnv<'_> {
    fn worker(&self) -> &Worker {
        &self.env.worker
    }

    /// Connects `spec` as `group`; asserts the answer and, for Telegram and Viber, the webhook
    /// registration call (Viber's check of the URL included).
    async fn connect(&self, group: &str, spec: BotSpec) -> ConnectedBot {
        let messenger = spec.messenger();
        let (status, bot) = self
            .worker()
            .connect_bot(&self.project, group, &spec.connect_body())
            .await;
        assert_eq!(status, 201, "connect {group}: {bot}");
        assert_eq!(bot["group"], group, "{bot}");
        assert_eq!(bot["client_type"], messenger.client_type(), "{bot}");
        assert_eq!(bot["messenger"], messenger.name(), "{bot}");
        let webhook_url = self
            .worker()
            .url(&format!("/webhooks/{}/{group}", self.project.name));
        assert_eq!(bot["webhook_url"], webhook_url, "{bot}");
        let webhook_secret = bot["webhook_secret"]
            .as_str()
            .filter(|secret| !secret.is_empty())
            .unwrap_or_else(|| panic!("no webhook_secret: {bot}"))
            .to_string();
        for secret in spec.secrets() {
            assert!(!bot.to_string().contains(secret), "a secret shows: {bot}");
        }
        let fakes = &self.env.fakes;
        match &spec {
            BotSpec::Telegram { token, .. } => {
                let calls = fakes.telegram.calls_to("setWebhook");
                let call = calls.iter().rev().find(|call| call.token == *token);
                let call = call.unwrap_or_else(|| panic!("no setWebhook for {group}"));
                assert_eq!(call.body["url"], webhook_url, "{call:?}");
                assert_eq!(call.body["secret_token"], webhook_secret, "{call:?}");
            }
            BotSpec::Viber { token, .. } => {
                assert_eq!(bot["webhook_registered"], true, "{bot}");
                let calls = fakes.apis.posts_to(Api::Viber, "/pa/set_webhook");
                let call = calls
                    .iter()
                    .rev()
                    .find(|call| call.body["url"] == webhook_url)
                    .unwrap_or_else(|| panic!("no set_webhook for {group}: {calls:?}"));
                assert_eq!(call.header("x-viber-auth-token"), Some(token.as_str()));
                let events = call.body["event_types"].as_array();
                let events = events.unwrap_or_else(|| panic!("no event_types: {call:?}"));
                for event in ["message", "conversation_started"] {
                    assert!(events.contains(&json!(event)), "{event} missing: {call:?}");
                }
                let checks = fakes.apis.viber_checks();
                let check = checks.iter().rev().find(|check| check.url == webhook_url);
                assert_eq!(
                    check.map(|check| check.answer.clone()),
                    Some(Ok(200)),
                    "Viber's check of the webhook URL: {checks:?}"
                );
            }
            _ => {}
        }
        ConnectedBot {
            spec,
            project: self.project.name.clone(),
            group: group.to_string(),
            webhook_url,
            webhook_secret,
        }
    }

    async fn deliver(&self, bot: &ConnectedBot, delivery: &Delivery) -> WebhookAnswer {
        self.worker()
            .post_webhook(&self.project.name, &bot.group, delivery)
            .await
    }

    /// Delivers and asserts 200.
    async fn deliver_ok(&self, bot: &ConnectedBot, delivery: &Delivery) -> WebhookAnswer {
        let answer = self.deliver(bot, delivery).await;
        assert_eq!(
            answer.status, 200,
            "{} delivery {}: {answer:?}",
            bot.group, delivery.body
        );
        answer
    }

    async fn handshake(&self, bot: &ConnectedBot, token: &str, challenge: &str) -> WebhookAnswer {
        self.worker()
            .webhook_handshake(&self.project.name, &bot.group, token, challenge)
            .await
    }

    /// `user` writes `text` to `bot`; waits for its `message` callback, checks it, returns it.
    async fn say(&self, bot: &ConnectedBot, user: &str, text: &str) -> Value {
        let delivery = bot.text(user, text, self.env.next());
        self.deliver_ok(bot, &delivery).await;
        let message = self.message_callback(text).await;
        assert_eq!(
            message["data"]["contact"],
            contact_json(bot, user),
            "{message}"
        );
        assert!(message["data"]["message_id"].is_string(), "{message}");
        message
    }

    /// Waits for the one `message` callback of `text`; checks its signature.
    async fn message_callback(&self, text: &str) -> Value {
        let is_it = |cb: &ReceivedCallback| {
            let body = cb.json();
            body["type"] == "message" && body["data"]["text"] == text
        };
        let received = self.callbacks.wait_until(DELIVERY, is_it).await;
        let matching: Vec<_> = received.into_iter().filter(is_it).collect();
        assert_eq!(
            matching.len(),
            1,
            "message callbacks for {text:?}: {matching:?}"
        );
        assert_signed(&matching[0], &self.project);
        matching[0].json()
    }

    /// Shows that everything caused by earlier deliveries has happened: two ordinary messages,
    /// each waited for. Callbacks are delivered in order, so once the first one's callback is
    /// in, every earlier callback is; the outbox run that delivered it sends the texts due
    /// before it right after its callbacks, and the second message's callback can only come in
    /// a later run, so once it is in, every earlier send was made too.
    async fn settle(&self, bot: &ConnectedBot, user: &str) {
        for _ in 0..2 {
            let n = self.settled.fetch_add(1, Ordering::Relaxed) + 1;
            self.say(bot, user, &format!("settle {n}")).await;
        }
    }

    /// The texts of the settle messages sent so far.
    fn settle_texts(&self) -> Vec<String> {
        let count = self.settled.load(Ordering::Relaxed);
        (1..=count).map(|n| format!("settle {n}")).collect()
    }

    /// Creates a merge link to `target`; asserts the 201 answer (with a code for WhatsApp and
    /// Instagram, and that code in the card's `text_to_merge_contact`).
    async fn merge_link(&self, client_id: &Value, target: &ConnectedBot, tag: &str) -> Value {
        let messenger = target.messenger();
        let body =
            json!({"client_type": messenger.client_type(), "tag": tag, "group": target.group});
        let (status, link) = self
            .worker()
            .create_merge_link(&self.project, client_id, &body)
            .await;
        assert_eq!(status, 201, "merge link: {link}");
        let token = link["token"].as_str().expect("token in merge link answer");
        let url = self.worker().url(&format!("/mlink/{token}"));
        assert_eq!(link["link"], url, "{link}");
        assert_eq!(link["client_id"], *client_id, "{link}");
        assert_eq!(link["client_type"], messenger.client_type(), "{link}");
        assert_eq!(link["messenger"], messenger.name(), "{link}");
        assert_eq!(link["group"], target.group, "{link}");
        if messenger.uses_codes() {
            let code = code_of(&link);
            let card = self.card(client_id).await;
            assert_eq!(card["variables"][CODE_VARIABLE], code, "{card}");
        } else {
            assert_eq!(link["code"], Value::Null, "{link}");
        }
        link
    }

    /// `GET` of a merge link as `user_agent`.
    async fn click(&self, link: &Value, user_agent: Option<&str>) -> PageResponse {
        let url = link["link"].as_str().expect("link url");
        self.worker().get_page_as(url, user_agent).await
    }

    /// Follows a link that must redirect to `prefix<payload>`; returns the payload.
    async fn redirect(&self, link: &Value, user_agent: &str, prefix: &str) -> String {
        let page = self.click(link, Some(user_agent)).await;
        assert_eq!(page.status, 302, "{user_agent}: {page:?}");
        let location = page.location.clone().unwrap_or_default();
        let payload = location
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("redirect to {location:?}, expected {prefix}<payload>"));
        assert!(is_payload(payload), "bad payload {payload:?} in {location}");
        payload.to_string()
    }

    async fn card(&self, client_id: &Value) -> Value {
        let (status, card) = self.worker().client_card(&self.project, client_id).await;
        assert_eq!(status, 200, "card {}: {card}", id_text(client_id));
        assert_eq!(card["client_id"], *client_id, "{card}");
        card
    }

    async fn contact_card(&self, bot: &ConnectedBot, user: &str) -> Value {
        let (status, card) = self
            .worker()
            .contact_card(&self.project, &bot.group, user)
            .await;
        assert_eq!(status, 200, "contact {}/{user}: {card}", bot.group);
        card
    }

    /// The `switch_to_*` callbacks so far.
    fn switches(&self) -> Vec<ReceivedCallback> {
        self.callbacks
            .received()
            .into_iter()
            .filter(|cb| cb.kind().starts_with("switch_to_"))
            .collect()
    }

    /// Waits for the first `switch_to_<messenger>` callback; checks its signature.
    async fn wait_switch(&self, messenger: Messenger) -> Value {
        let kind = format!("switch_to_{messenger}");
        let switches = self.callbacks.wait_for_kind(&kind, 1, DELIVERY).await;
        assert!(
            !switches.is_empty(),
            "no {kind}: {:?}",
            self.callbacks.received()
        );
        assert_signed(&switches[0], &self.project);
        switches[0].json()
    }

    /// The texts `bot` sent to `user` so far.
    fn replies_to(&self, bot: &ConnectedBot, user: &str) -> Vec<String> {
        only_to(self.env.fakes.sent_by(&bot.spec), user)
    }

    /// Waits until `bot` sent `count` texts to `user`; returns them (checked for shape).
    async fn wait_replies(&self, bot: &ConnectedBot, user: &str, count: usize) -> Vec<String> {
        let fakes = &self.env.fakes;
        let deadline = tokio::time::Instant::now() + DELIVERY;
        loop {
            let sent = fakes.sent_by(&bot.spec);
            for send in &sent {
                assert!(send.problems.is_empty(), "bad send {send:?}");
            }
            let to_user = only_to(sent, user);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if to_user.len() >= count || left.is_zero() {
                assert_eq!(to_user.len(), count, "texts to {user}: {to_user:?}");
                return to_user;
            }
            // Wakes on the next send through any bot (or at the deadline).
            let total = fakes.sent_by(&bot.spec).len();
            fakes.wait_sent_by(&bot.spec, total + 1, left).await;
        }
    }

    /// Waits until `bot` sent exactly `expected` to `user`.
    async fn expect_replies(&self, bot: &ConnectedBot, user: &str, expected: &[&str]) {
        let got = self.wait_replies(bot, user, expected.len()).await;
        assert_eq!(got, expected, "texts to {user}");
    }

    fn assert_all_signed(&self) {
        let received = self.callbacks.received();
        for callback in &received {
            assert_signed(callback, &self.project);
        }
        let ids: HashSet<_> = received.iter().map(|cb| cb.webhook_id.clone()).collect();
        assert_eq!(
            ids.len(),
            received.len(),
            "webhook-ids repeat: {received:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions and small helpers

fn assert_signed(callback: &ReceivedCallback, project: &Project) {
    if let Err(err) = callback.verify(&project.callback_secret) {
        panic!("callback not signed with the project's secret: {err}\n{callback:?}");
    }
}

fn assert_switch(switch: &Value, client_id: &Value, contact: &Value, from: &Value, note: &str) {
    let data = &switch["data"];
    assert_eq!(data["client_id"], *client_id, "{switch}");
    assert_eq!(data["contact"], *contact, "{switch}");
    assert_eq!(data["from"], *from, "{switch}");
    assert_eq!(data["note"], note, "{switch}");
    assert!(
        switch["timestamp"].is_number() || switch["timestamp"].is_string(),
        "{switch}"
    );
}

/// The texts sent are exactly `expected` (recipient, text), each request well formed.
fn assert_sent(sent: &[SentText], expected: &[(&str, &str)], fakes: &Fakes) {
    for send in sent {
        assert!(send.problems.is_empty(), "bad send {send:?}");
    }
    let got: Vec<(&str, &str)> = sent
        .iter()
        .map(|send| (send.to.as_str(), send.text.as_str()))
        .collect();
    assert_eq!(got, expected, "all requests:\n{}", fakes.describe_calls());
}

/// Viber's answer to `conversation_started` that carries the welcome message.
fn assert_welcome_message(answer: &WebhookAnswer, bot: &ConnectedBot, tag: &str) {
    let BotSpec::Viber { sender_name, .. } = &bot.spec else {
        panic!("not a Viber bot: {bot:?}");
    };
    let content_type = answer.content_type.as_deref().unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "{answer:?}");
    let message = answer.json();
    assert_eq!(message["sender"]["name"], *sender_name, "{answer:?}");
    assert_eq!(message["type"], "text", "{answer:?}");
    assert_eq!(message["text"], tag, "{answer:?}");
    assert!(message.get("receiver").is_none(), "{answer:?}");
}

/// A 200 HTML page that shows each of `parts` (as is or HTML-escaped).
fn assert_landing(page: &PageResponse, parts: &[&str]) {
    assert_eq!(page.status, 200, "{page:?}");
    let content_type = page.content_type.as_deref().unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{page:?}");
    for part in parts {
        assert!(
            page.body.contains(part) || page.body.contains(&html_escape(part)),
            "the page does not show {part:?}:\n{}",
            page.body
        );
    }
}

/// The payload after `prefix` in a page (the link may be HTML-escaped).
fn ref_in_page(body: &str, prefix: &str) -> String {
    let start = body
        .find(prefix)
        .map(|at| at + prefix.len())
        .unwrap_or_else(|| panic!("no {prefix} in the page:\n{body}"));
    let payload: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '='))
        .collect();
    assert!(is_payload(&payload), "bad payload {payload:?} in the page");
    payload
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The contact as callbacks show it.
fn contact_json(bot: &ConnectedBot, user: &str) -> Value {
    let messenger = bot.messenger();
    json!({
        "messenger": messenger.name(),
        "client_type": messenger.client_type(),
        "group": bot.group,
        "user_id": user,
    })
}

/// (messenger, group, user id) of a dialog.
fn key(bot: &ConnectedBot, user: &str) -> (String, String, String) {
    (
        bot.messenger().name().to_string(),
        bot.group.clone(),
        user.to_string(),
    )
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

/// The (messenger, group, user id) of each contact of a card, sorted.
fn contact_keys(card: &Value) -> Vec<(String, String, String)> {
    sorted(
        contacts(card)
            .iter()
            .map(|c| {
                (
                    text(&c["messenger"]),
                    text(&c["group"]),
                    text(&c["user_id"]),
                )
            })
            .collect(),
    )
}

/// What must not change while nothing happens to a card: its contacts and when they were linked.
fn contact_rows(card: &Value) -> Vec<(String, String, String)> {
    sorted(
        contacts(card)
            .iter()
            .map(|c| {
                (
                    text(&c["group"]),
                    text(&c["user_id"]),
                    text(&c["linked_at"]),
                )
            })
            .collect(),
    )
}

fn contacts(card: &Value) -> Vec<Value> {
    card["contacts"]
        .as_array()
        .unwrap_or_else(|| panic!("no contacts in {card}"))
        .clone()
}

fn message_texts(received: &[ReceivedCallback]) -> Vec<String> {
    received
        .iter()
        .filter(|cb| cb.kind() == "message")
        .map(|cb| text(&cb.json()["data"]["text"]))
        .collect()
}

fn only_to(sent: Vec<SentText>, user: &str) -> Vec<String> {
    sent.into_iter()
        .filter(|send| send.to == user)
        .map(|send| send.text)
        .collect()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The link's code: `cli` and 10 characters of Crockford's base32, lowercase.
fn code_of(link: &Value) -> String {
    let code = link["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {link}"))
        .to_string();
    assert!(is_code(&code), "bad code {code:?}");
    code
}

fn is_code(code: &str) -> bool {
    const ALPHABET: &str = "0123456789abcdefghjkmnpqrstvwxyz";
    code.len() == 13 && code.starts_with("cli") && code[3..].chars().all(|c| ALPHABET.contains(c))
}

/// A well-formed code that is none of `taken`.
fn wrong_code(taken: &[&str], seed: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    (0..)
        .map(|n: u64| {
            let mut bits = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(n);
            let mut code = String::from("cli");
            for _ in 0..10 {
                code.push(char::from(ALPHABET[(bits % 32) as usize]));
                bits /= 32;
            }
            code
        })
        .find(|code| !taken.contains(&code.as_str()))
        .expect("a free code")
}

/// A link payload as it travels in deep links: URL-safe characters only.
fn is_payload(payload: &str) -> bool {
    (1..=64).contains(&payload.len())
        && payload
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '='))
}

#[test]
fn helpers_behave() {
    let code = wrong_code(&[], 3);
    assert!(is_code(&code), "{code}");
    assert_ne!(wrong_code(&[&code], 3), code);
    assert_ne!(wrong_code(&[], 4), code);
    assert!(!is_code("cli123"));
    assert!(!is_code("clu0000000000"));
    assert_eq!(
        ref_in_page(
            r#"<a href="https://ig.me/m/a?ref=AbC_-1">"#,
            "https://ig.me/m/a?ref="
        ),
        "AbC_-1"
    );
    assert_eq!(html_escape("a?b=1&c=2"), "a?b=1&amp;c=2");
    let bot = ConnectedBot {
        spec: facebook(),
        project: "p".into(),
        group: "fb".into(),
        webhook_url: String::new(),
        webhook_secret: String::new(),
    };
    assert_eq!(
        contact_json(&bot, "61"),
        json!({"messenger": "facebook", "client_type": 3, "group": "fb", "user_id": "61"})
    );
}
