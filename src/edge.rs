//! `GET /mlink/<token>` at the edge. The token is sealed and names its bot, so a click costs a
//! MAC check and a lookup in this isolate's memory; only the first click for a bot in an
//! isolate (or after the bot's minute in memory) reads the bot from KV, or from the Durable
//! Object when KV has not caught up yet.

use crate::object::OPENED_PATH;
use crate::{env_config, object, respond};
use mlink_core::domain::token::{LinkId, LinkKey};
use mlink_core::domain::{Group, ProjectName};
use mlink_core::messengers::PublicBot;
use mlink_core::pages::{self, Landing, Lang, Problem};
use mlink_core::service::redirect::{problem_status, Click, Decision, Device, EdgeMemory};
use std::cell::RefCell;
use worker::{Context, Date, Env, Headers, Request, Response, Result};

/// How long an isolate trusts what it learned about a bot.
const BOT_TTL_MS: i64 = 60_000;

/// Header by which the project's object tells the edge which links a webhook used up.
pub const USED_LINKS_HEADER: &str = "x-mlink-used-links";

thread_local! {
    static MEMORY: RefCell<EdgeMemory> = RefCell::new(EdgeMemory::new(BOT_TTL_MS));
}

/// The KV key under which a bot's public redirect data is kept.
pub fn bot_key(project: &ProjectName, group: &Group) -> String {
    format!("bot:{project}/{group}")
}

pub async fn redirect(token: &str, req: &Request, env: &Env, ctx: &Context) -> Result<Response> {
    let config = match env_config::config(env) {
        Ok(config) => config,
        Err(e) => return respond::error(&mlink_core::service::ApiError::Internal(e)),
    };
    let now = Date::now().as_millis() as i64;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let device = Device::from_user_agent(header("user-agent").as_deref());
    let lang = Lang::from_accept_language(header("accept-language").as_deref());
    let click = || self::click(token, &config.link_key, now, device);
    let click = match click() {
        Click {
            decision: Decision::LookUpBot(project, group),
            ..
        } => {
            let bot = look_up_bot(env, &project, &group).await?;
            MEMORY.with(|m| m.borrow_mut().learn_bot(project, group, bot, now));
            click()
        }
        decided => decided,
    };
    if let Some((project, link)) = click.first_open {
        report_open(env, ctx, &project, link)?;
    }
    match click.decision {
        Decision::Redirect(location) => found(&location),
        Decision::Landing {
            client_type,
            deep_link,
            code,
        } => {
            let link_url = format!("{}/mlink/{token}", config.public_base_url);
            let html = pages::landing(&Landing {
                client_type,
                deep_link: &deep_link,
                code: code.as_deref(),
                link_url: &link_url,
                lang,
            });
            html_page(200, html)
        }
        Decision::Page(problem) => problem_page(problem, lang),
        Decision::LookUpBot(..) => problem_page(Problem::Unknown, lang),
    }
}

fn problem_page(problem: Problem, lang: Lang) -> Result<Response> {
    html_page(problem_status(problem), pages::problem(problem, lang))
}

fn html_page(status: u16, html: String) -> Result<Response> {
    let mut response = Response::from_bytes(html.into_bytes())?.with_status(status);
    let headers = response.headers_mut();
    for (name, value) in pages::RESPONSE_HEADERS {
        headers.set(name, value)?;
    }
    Ok(response)
}

/// A click decided from this isolate's memory.
pub fn click(token: &str, key: &LinkKey, now: i64, device: Device) -> Click {
    MEMORY.with(|m| m.borrow_mut().click(token, key, now, device))
}

/// The link key, once a full request has read the configuration in this isolate.
pub fn link_key() -> Option<LinkKey> {
    env_config::with_cached(|config| config.link_key.clone())
}

/// Tells the project, after the answer, that a link was opened (for the funnel).
fn report_open(env: &Env, ctx: &Context, project: &ProjectName, link: LinkId) -> Result<()> {
    let stub = object::stub(env, project)?;
    let url = format!("https://project.invalid{OPENED_PATH}{}", link.to_payload());
    ctx.wait_until(async move {
        if let Err(e) = stub.fetch_with_str(&url).await {
            worker::console_error!("could not count a link's open: {e}");
        }
    });
    Ok(())
}

fn found(location: &str) -> Result<Response> {
    let mut response = Response::empty()?.with_status(302);
    let headers = response.headers_mut();
    headers.set("location", location)?;
    headers.set("cache-control", "no-store")?;
    Ok(response)
}

async fn look_up_bot(env: &Env, project: &ProjectName, group: &Group) -> Result<Option<PublicBot>> {
    let kv = env.kv("EDGE")?;
    if let Some(bot) = kv.get(&bot_key(project, group)).json::<PublicBot>().await? {
        return Ok(Some(bot));
    }
    object::public_bot(env, project, group).await
}

/// Learns, from a webhook's answer, which links were just used (and keeps that internal header
/// from the messenger).
pub fn remember_used_links(response: Response) -> Response {
    let Ok(Some(ids)) = response.headers().get(USED_LINKS_HEADER) else {
        return response;
    };
    // A Durable Object's response headers are immutable: copy them without ours.
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        if name != USED_LINKS_HEADER {
            let _ = headers.set(&name, &value);
        }
    }
    MEMORY.with(|m| {
        let mut memory = m.borrow_mut();
        ids.split(',')
            .filter_map(LinkId::from_payload)
            .for_each(|id| memory.learn_used(id));
    });
    response.with_headers(headers)
}
