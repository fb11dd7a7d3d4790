//! The project's Durable Object: the one writer of the project's SQLite database. It runs the
//! owner API and the webhooks through `mlink-core`, and delivers the outbox from its alarm.

use crate::do_sql::DoSql;
use crate::{env_config, net, respond};
use futures_channel::oneshot;
use futures_util::future::{join, join_all};
use mlink_core::domain::secrets::bearer_matches;
use mlink_core::domain::token::LinkId;
use mlink_core::domain::{Group, ProjectName};
use mlink_core::http::{self, path_and_query, Headers as _};
use mlink_core::service::delivery::{self, Attempt};
use mlink_core::service::dispatch::{self, CallInput};
use mlink_core::service::edge::{bot_key, OPENED_PATH, PUBLIC_BOT_PATH, USED_LINKS_HEADER};
use mlink_core::service::routes::{ProjectCall, Route};
use mlink_core::service::{owner, webhook, ApiError, Config, Reply, MAX_BODY_BYTES};
use mlink_core::store::{OutboxItem, Store};
use std::cell::{Cell, OnceCell, RefCell};
use std::time::Duration;
use worker::{
    durable_object, Date, Delay, DurableObject, Env, Request, Response, Result, ScheduledTime,
    State, Stub,
};

pub fn stub(env: &Env, project: &ProjectName) -> Result<Stub> {
    env.durable_object("PROJECTS")?
        .id_from_name(project.as_str())?
        .get_stub()
}

/// An alarm this late did not run: its run died with the object, and it is set again.
const LATE_ALARM_MS: i64 = 10_000;

fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}

#[durable_object]
pub struct ProjectObject {
    state: State,
    env: Env,
    store: OnceCell<Store<DoSql>>,
    /// The alarm this instance set and that has not run yet: most requests then need no
    /// storage round trip to know the outbox will be looked at in time.
    alarm_at: Cell<Option<i64>>,
    /// Writes waiting for their group to run (see [`ProjectObject::in_group`]).
    waiting: RefCell<Vec<GroupJob>>,
}

/// A request's writes, waiting in a group; the job sends its result to its request itself.
type GroupJob = Box<dyn FnOnce(&ProjectObject)>;

impl DurableObject for ProjectObject {
    fn new(state: State, env: Env) -> Self {
        ProjectObject {
            state,
            env,
            store: OnceCell::new(),
            alarm_at: Cell::new(None),
            waiting: RefCell::default(),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match self.serve(req).await {
            Ok(response) => Ok(response),
            Err(e) => respond::error(&e),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.alarm_at.set(None);
        if let Err(e) = self.deliver().await {
            worker::console_error!("outbox delivery: {e}");
        }
        // Requests may have set an alarm while this one ran; look at the runtime's own record
        // rather than trust what they remembered.
        self.alarm_at.set(None);
        self.schedule()
            .await
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        Response::ok("")
    }
}

impl ProjectObject {
    fn store(&self) -> Result<&Store<DoSql>, ApiError> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = Store::open(DoSql::new(&self.state.storage()))?;
        Ok(self.store.get_or_init(|| store))
    }

    fn config(&self) -> Result<Config, ApiError> {
        env_config::config(&self.env).map_err(ApiError::Internal)
    }

    async fn serve(&self, mut req: Request) -> Result<Response, ApiError> {
        let url = req.inner().url();
        let path = path_and_query(&url).0.to_string();
        if let Some(group) = path.strip_prefix(PUBLIC_BOT_PATH) {
            let group = Group::parse(group).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            return match owner::public_bot(self.store()?, &group)? {
                Some(bot) => Response::ok(bot.to_record()).map_err(js),
                None => {
                    respond::error(&ApiError::not_found("unknown_bot", "no such bot")).map_err(js)
                }
            };
        }
        if let Some(payload) = path.strip_prefix(OPENED_PATH) {
            let link = LinkId::from_payload(payload)
                .ok_or_else(|| ApiError::BadRequest("not a link id".into()))?;
            let now = now_ms();
            self.in_group(move |this| Ok(this.store()?.record_open(&link.to_payload(), now)?))
                .await?;
            return respond::json(200, &serde_json::json!({"ok": true})).map_err(js);
        }
        let method = req.inner().method();
        let route = Route::parse(&method, &path)?;
        let headers = RequestHeaders(req.headers().clone());
        let body = read_body(&mut req, &headers).await?;
        let now = now_ms();
        let store = self.store()?;
        let response = match route {
            Route::PutProject(project) => {
                let admin = env_config::text(&self.env, "ADMIN_TOKEN").unwrap_or_default();
                if !bearer_matches(headers.get("authorization").as_deref(), &admin) {
                    return Err(ApiError::Unauthorized);
                }
                respond::reply(&owner::put_project(store, &project, &body, now)?)
            }
            Route::Project(project, ProjectCall::PutBot(group)) => {
                owner::authorize(store, headers.get("authorization").as_deref())?;
                respond::reply(&self.connect_bot(&project, &group, &body, now).await?)
            }
            Route::Project(_, call) => {
                let authorization = headers.get("authorization");
                let if_match = headers.get("if-match");
                let query = query_pairs(&req);
                let writes = call.writes();
                let run = move |this: &Self| {
                    let store = this.store()?;
                    let record = owner::authorize(store, authorization.as_deref())?;
                    let input = CallInput {
                        query: &query,
                        if_match: if_match.as_deref(),
                        body: &body,
                        now,
                    };
                    dispatch::project_call(store, &this.config()?, &record, call, &input)
                };
                let reply = if writes {
                    self.in_group(run).await?
                } else {
                    run(self)?
                };
                respond::reply(&reply)
            }
            Route::Webhook(_, group) if method == "GET" => {
                let challenge = webhook::handshake(store, &group, &query_pairs(&req))?;
                return Response::ok(challenge).map_err(js);
            }
            Route::Webhook(_, group) => {
                let outcome = self
                    .in_group(move |this| {
                        webhook::handle(this.store()?, &group, &headers, &body, now)
                    })
                    .await?;
                let mut response = respond::reply(&outcome.reply).map_err(js)?;
                if !outcome.used_links.is_empty() {
                    let ids: Vec<String> = outcome
                        .used_links
                        .iter()
                        .map(|id| id.to_payload())
                        .collect();
                    response
                        .headers_mut()
                        .set(USED_LINKS_HEADER, &ids.join(","))
                        .map_err(js)?;
                }
                Ok(response)
            }
            Route::Health | Route::Mlink(_) | Route::Static => {
                return Err(ApiError::not_found("route_not_found", "no such route"))
            }
        };
        self.schedule().await?;
        response.map_err(js)
    }

    /// Runs a request's writes in a group with those of the requests that reach the object
    /// meanwhile: webhooks, the owner API's writes, reported link opens. The first of a group
    /// waits one timer tick, so that requests already on their way join it, then the group's
    /// jobs run back to back, each in transactions of its own (one that fails fails alone). The
    /// runtime commits what one synchronous run wrote in one go, so the group shares one
    /// commit, and one fsync, instead of one each: after a broadcast, when clients arrive by the
    /// hundred, that is most of what a merge costs the storage. Each answer still waits until
    /// its writes are durable (the runtime's output gate). A group holds at most what is in
    /// flight to the object at once, which the callers bound (Telegram opens at most 40
    /// connections per bot by default). The first request's task runs the group: it runs to the
    /// end even if that request's caller hangs up, since a JS promise is never cancelled and
    /// the timer belongs to the object, not the request.
    async fn in_group<T: 'static>(
        &self,
        job: impl FnOnce(&Self) -> Result<T, ApiError> + 'static,
    ) -> Result<T, ApiError> {
        let (sender, result) = oneshot::channel();
        let first = {
            let mut waiting = self.waiting.borrow_mut();
            waiting.push(Box::new(move |this: &Self| {
                // Nobody to tell when the request is gone (its caller hung up): the job ran.
                let _ = sender.send(job(this));
            }));
            waiting.len() == 1
        };
        if first {
            Delay::from(Duration::ZERO).await;
            for job in self.waiting.take() {
                job(self);
            }
        }
        result
            .await
            .unwrap_or_else(|_| Err(ApiError::Internal("a request left its group".into())))
    }

    /// Validates, registers the webhook with the messenger, and only then saves the bot and
    /// publishes its redirect data to KV.
    async fn connect_bot(
        &self,
        project: &ProjectName,
        group: &Group,
        body: &[u8],
        now: i64,
    ) -> Result<Reply, ApiError> {
        let config = self.config()?;
        let plan = owner::plan_bot(self.store()?, &config, project, group, body)?;
        if let Some(registration) = &plan.registration {
            let deadline =
                net::Deadline::after(config.outbound_timeout_ms).map_err(ApiError::Internal)?;
            let answer = net::send(registration, &deadline)
                .await
                .map_err(|e| upstream(format!("could not reach the messenger: {e}")))?;
            plan.bot
                .config
                .messenger()
                .registration_result(answer.status, &answer.body)
                .map_err(upstream)?;
        }
        let (reply, public) = owner::save_bot(self.store()?, &plan, now)?;
        let value = public.to_record();
        self.env
            .kv("EDGE")
            .map_err(js)?
            .put(&bot_key(project, group), value)
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .execute()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(reply)
    }

    /// Sets the alarm for the earliest pending outbox item, unless it is already set earlier.
    async fn schedule(&self) -> Result<(), ApiError> {
        let now = now_ms();
        // An alarm that should have run a while ago was lost (its run died): set it again.
        if self
            .alarm_at
            .get()
            .is_some_and(|at| now - at >= LATE_ALARM_MS)
        {
            self.alarm_at.set(None);
        }
        // What a request writes to the outbox is due now at the earliest, so an alarm set for
        // no later than now (and not yet run) will see it: no need to look.
        if self.alarm_at.get().is_some_and(|at| at <= now) {
            return Ok(());
        }
        let Some(due) = delivery::next_wakeup(self.store()?)? else {
            return Ok(());
        };
        // Never a time already past: set while an alarm runs, the time it ran for would count as
        // that alarm, which the runtime clears when it returns, and the outbox would sit still.
        let due = due.max(now + 1);
        if self.alarm_at.get().is_some_and(|at| at <= due) {
            return Ok(());
        }
        let storage = self.state.storage();
        let current = storage.get_alarm().await.map_err(js)?;
        let alive = |at: &i64| *at <= due && now - *at < LATE_ALARM_MS;
        if let Some(at) = current.filter(alive) {
            self.alarm_at.set(Some(at));
        } else {
            // An i64 would be an offset from now; `due` is a point in time.
            let at = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(due as f64));
            storage
                .set_alarm(ScheduledTime::new(at))
                .await
                .map_err(js)?;
            self.alarm_at.set(Some(due));
        }
        Ok(())
    }

    /// Delivers what is due, round after round while more is: callbacks in order, as many at
    /// once as the project allows (one by default; a failure holds the ones behind it, so the
    /// owner sees events in the order they happened), texts all at once. Each round's outcomes
    /// are recorded in one transaction.
    async fn deliver(&self) -> Result<(), ApiError> {
        let store = self.store()?;
        let config = self.config()?;
        for _ in 0..delivery::MAX_ROUNDS {
            let round = delivery::next_round(store, now_ms())?;
            if round.is_empty() {
                break;
            }
            // The texts go out together, so one deadline serves them all.
            let deadline =
                net::Deadline::after(config.outbound_timeout_ms).map_err(ApiError::Internal)?;
            let sends = join_all(
                round
                    .sends
                    .iter()
                    .map(|item| self.attempt(&config, item, &deadline)),
            );
            let (mut outcomes, callbacks) = join(
                sends,
                self.callbacks_in_order(&config, &round.callbacks, round.callback_concurrency),
            )
            .await;
            outcomes.extend(callbacks);
            delivery::record_round(store, &config, outcomes, now_ms())?;
        }
        Ok(())
    }

    /// Sends callbacks in order, `concurrency` at a time (each group started in order), up to
    /// the first group that is not delivered whole.
    async fn callbacks_in_order<'a>(
        &self,
        config: &Config,
        items: &'a [OutboxItem],
        concurrency: usize,
    ) -> Vec<(&'a OutboxItem, Attempt)> {
        let mut outcomes = Vec::with_capacity(items.len());
        for group in items.chunks(concurrency.max(1)) {
            // No timer to be had: the round stops here, as it does for the texts, and the
            // callbacks stay pending, untried (the receiver is not to blame).
            let deadline = match net::Deadline::after(config.outbound_timeout_ms) {
                Ok(deadline) => deadline,
                Err(e) => {
                    worker::console_error!("outbox delivery: {e}");
                    break;
                }
            };
            let attempts = join_all(
                group
                    .iter()
                    .map(|item| self.attempt(config, item, &deadline)),
            )
            .await;
            let delivered = attempts.iter().all(|(_, a)| *a == Attempt::Delivered);
            outcomes.extend(attempts);
            if !delivered {
                break;
            }
        }
        outcomes
    }

    /// One delivery attempt. The request is built just before it goes out, so a callback's
    /// signature carries the time it was sent.
    async fn attempt<'a>(
        &self,
        config: &Config,
        item: &'a OutboxItem,
        deadline: &net::Deadline,
    ) -> (&'a OutboxItem, Attempt) {
        let failed = |error: String| Attempt::Failed {
            error,
            retry_after_s: None,
        };
        // An item that cannot even be built backs off like any failure, instead of looping.
        let request = self
            .store()
            .and_then(|store| delivery::request_for(store, config, item, now_ms()));
        let outcome = match request {
            Err(e) => failed(e.to_string()),
            Ok(request) => match net::send(&request, deadline).await {
                Ok(answer) => delivery::judge(
                    answer.status,
                    answer.retry_after.as_deref(),
                    &answer.body,
                    item,
                ),
                Err(error) => failed(error),
            },
        };
        (item, outcome)
    }
}

fn query_pairs(req: &Request) -> Vec<(String, String)> {
    http::query_pairs(path_and_query(&req.inner().url()).1)
}

async fn read_body(req: &mut Request, headers: &RequestHeaders) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if declared > MAX_BODY_BYTES {
        return Err(ApiError::TooLarge(MAX_BODY_BYTES));
    }
    let body = req.bytes().await.map_err(js)?;
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::TooLarge(MAX_BODY_BYTES));
    }
    Ok(body)
}

/// The request's headers, each read when asked for: a webhook needs one or two of them.
struct RequestHeaders(worker::Headers);

impl http::Headers for RequestHeaders {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).ok().flatten()
    }
}

fn upstream(message: String) -> ApiError {
    ApiError::Upstream {
        code: "webhook_registration_failed",
        message,
    }
}

fn js(e: worker::Error) -> ApiError {
    ApiError::Internal(e.to_string())
}
