//! HTTP helpers for the worker's API, pages and webhooks.

use std::fmt::Display;

use reqwest::header::{CONTENT_TYPE, LOCATION, USER_AGENT};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::messengers::Delivery;
use crate::worker::{Worker, ADMIN_TOKEN};

/// The header Telegram sends with every update to prove it knows the webhook secret.
pub const TELEGRAM_SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
/// The internal header of mlink_core::service::edge::USED_LINKS_HEADER (the harness tests the
/// worker from outside, so it does not link mlink-core).
const USED_LINKS_HEADER: &str = "x-mlink-used-links";

/// A project as created by the admin API, with its one-time secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub name: String,
    pub api_key: String,
    pub callback_secret: String,
}

impl Project {
    /// `/api/v1/projects/<name><rest>`.
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/projects/{}{rest}", self.name)
    }
}

/// The worker's answer to a webhook delivery or handshake, read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

impl WebhookAnswer {
    /// The body as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A response of a non-API route (`/mlink/...`), read in full; redirects are not followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageResponse {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

impl Worker {
    /// Sends `method path` with `Authorization: Bearer <key>` (none if `key` is `None`) and the
    /// JSON `body`; returns the status and the body as JSON (`Null` if empty, a JSON string if
    /// it is not JSON).
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = send(request).await;
        let status = response.status().as_u16();
        (status, json_body(response).await)
    }

    /// `PUT /api/v1/projects/<name>` with the admin token.
    pub async fn admin_put_project(&self, name: &str, callback_url: &str) -> (u16, Value) {
        let body = json!({ "callback_url": callback_url });
        self.admin_put_project_body(name, &body).await
    }

    /// `PUT /api/v1/projects/<name>` with the admin token and any body.
    pub async fn admin_put_project_body(&self, name: &str, body: &Value) -> (u16, Value) {
        let path = format!("/api/v1/projects/{name}");
        self.api(Method::PUT, &path, Some(ADMIN_TOKEN), Some(body))
            .await
    }

    /// Creates a project, asserting the 201 answer's shape, and returns its secrets.
    pub async fn create_project(&self, name: &str, callback_url: &str) -> Project {
        let (status, body) = self.admin_put_project(name, callback_url).await;
        assert_eq!(status, 201, "create project {name}: {body}");
        assert_eq!(body["project"], name, "{body}");
        assert_eq!(body["callback_url"], callback_url, "{body}");
        assert_eq!(body["created"], true, "{body}");
        let text = |field: &str| match body[field].as_str() {
            Some(value) if !value.is_empty() => value.to_string(),
            _ => panic!("create project {name}: no {field} in {body}"),
        };
        let project = Project {
            name: name.to_string(),
            api_key: text("api_key"),
            callback_secret: text("callback_secret"),
        };
        assert!(project.callback_secret.starts_with("whsec_"), "{body}");
        project
    }

    /// `PUT <project>/bots/<group>` with `bot` as the body (see [`telegram_bot`]).
    pub async fn connect_bot(&self, project: &Project, group: &str, bot: &Value) -> (u16, Value) {
        let path = project.path(&format!("/bots/{group}"));
        self.api(Method::PUT, &path, Some(&project.api_key), Some(bot))
            .await
    }

    /// `GET <project>/bots`.
    pub async fn list_bots(&self, project: &Project) -> (u16, Value) {
        self.api(
            Method::GET,
            &project.path("/bots"),
            Some(&project.api_key),
            None,
        )
        .await
    }

    /// `POST <project>/clients/<client_id>/merge-links`.
    pub async fn create_merge_link(
        &self,
        project: &Project,
        client_id: &Value,
        body: &Value,
    ) -> (u16, Value) {
        let path = project.path(&format!("/clients/{}/merge-links", id_text(client_id)));
        self.api(Method::POST, &path, Some(&project.api_key), Some(body))
            .await
    }

    /// `GET <project>/clients/<client_id>`.
    pub async fn client_card(&self, project: &Project, client_id: &Value) -> (u16, Value) {
        let path = project.path(&format!("/clients/{}", id_text(client_id)));
        self.api(Method::GET, &path, Some(&project.api_key), None)
            .await
    }

    /// `GET <project>/contacts/<group>/<user_id>`: the card the contact belongs to. The user id
    /// (a number, a Viber id, a PSID...) is percent-encoded into the path.
    pub async fn contact_card(
        &self,
        project: &Project,
        group: &str,
        user_id: impl Display,
    ) -> (u16, Value) {
        let user = path_segment(&user_id.to_string());
        let path = project.path(&format!("/contacts/{group}/{user}"));
        self.api(Method::GET, &path, Some(&project.api_key), None)
            .await
    }

    /// `POST <project>/contacts/<group>/<user_id>/unmerge`.
    pub async fn unmerge(
        &self,
        project: &Project,
        group: &str,
        user_id: impl Display,
    ) -> (u16, Value) {
        let user = path_segment(&user_id.to_string());
        let path = project.path(&format!("/contacts/{group}/{user}/unmerge"));
        self.api(Method::POST, &path, Some(&project.api_key), None)
            .await
    }

    /// `GET /api/v1/projects/<name>`: the project, its callback endpoint's state and the
    /// outbox's counts.
    pub async fn project_info(&self, project: &Project) -> (u16, Value) {
        self.api(Method::GET, &project.path(""), Some(&project.api_key), None)
            .await
    }

    /// `GET <project>/deliveries` (`?status=<status>` if given): what is not delivered yet.
    pub async fn deliveries(&self, project: &Project, status: Option<&str>) -> (u16, Value) {
        let query = status
            .map(|status| format!("?status={}", path_segment(status)))
            .unwrap_or_default();
        let path = project.path(&format!("/deliveries{query}"));
        self.api(Method::GET, &path, Some(&project.api_key), None)
            .await
    }

    /// `POST <project>/deliveries/<id>/resend`.
    pub async fn resend(&self, project: &Project, delivery_id: &Value) -> (u16, Value) {
        let path = project.path(&format!("/deliveries/{}/resend", id_text(delivery_id)));
        self.api(Method::POST, &path, Some(&project.api_key), None)
            .await
    }

    /// `GET` of any URL (a merge link, or `base_url()` + a path), without following redirects
    /// and without a User-Agent.
    pub async fn get_page(&self, url: &str) -> PageResponse {
        self.get_page_as(url, None).await
    }

    /// [`Worker::get_page`] as a browser that sends `user_agent`.
    pub async fn get_page_as(&self, url: &str, user_agent: Option<&str>) -> PageResponse {
        let mut request = self.http.get(url);
        if let Some(user_agent) = user_agent {
            request = request.header(USER_AGENT, user_agent);
        }
        let response = send(request).await;
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        };
        let status = response.status().as_u16();
        let location = header(LOCATION);
        let content_type = header(CONTENT_TYPE);
        let body = response.text().await.unwrap_or_default();
        PageResponse {
            status,
            location,
            content_type,
            body,
        }
    }

    /// Delivers a Telegram update to `POST /webhooks/<project>/<group>` as Telegram would, with
    /// the secret header if `secret` is given; returns the status. The header by which the
    /// project tells the edge about used links must never reach the messenger.
    pub async fn post_update(
        &self,
        project: &str,
        group: &str,
        secret: Option<&str>,
        update: &Value,
    ) -> u16 {
        let url = self.url(&format!("/webhooks/{project}/{group}"));
        let mut request = self.http.post(url).json(update);
        if let Some(secret) = secret {
            request = request.header(TELEGRAM_SECRET_HEADER, secret);
        }
        let response = send(request).await;
        assert!(
            response.headers().get(USED_LINKS_HEADER).is_none(),
            "{USED_LINKS_HEADER} leaked to the messenger"
        );
        response.status().as_u16()
    }
}

impl Worker {
    /// POSTs `delivery` (its exact bytes, with its headers and `Content-Type: application/json`)
    /// to `/webhooks/<project>/<group>`.
    pub async fn post_webhook(
        &self,
        project: &str,
        group: &str,
        delivery: &Delivery,
    ) -> WebhookAnswer {
        let url = self.url(&format!("/webhooks/{project}/{group}"));
        let mut request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(delivery.body.clone());
        for (name, value) in &delivery.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        read_answer(send(request).await).await
    }

    /// Meta's subscription handshake:
    /// `GET /webhooks/<project>/<group>?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`.
    pub async fn webhook_handshake(
        &self,
        project: &str,
        group: &str,
        verify_token: &str,
        challenge: &str,
    ) -> WebhookAnswer {
        let url = self.url(&format!(
            "/webhooks/{project}/{group}?hub.mode=subscribe&hub.verify_token={}&hub.challenge={}",
            path_segment(verify_token),
            path_segment(challenge)
        ));
        read_answer(send(self.http.get(url)).await).await
    }
}

async fn read_answer(response: Response) -> WebhookAnswer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let body = response.text().await.unwrap_or_default();
    WebhookAnswer {
        status,
        content_type,
        body,
    }
}

/// `text` percent-encoded as one path segment or query value (everything but RFC 3986's
/// unreserved characters).
pub(crate) fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// The body of `PUT .../bots/<group>` for a Telegram bot.
pub fn telegram_bot(username: &str, token: &str, register_webhook: bool) -> Value {
    json!({
        "client_type": 1,
        "username": username,
        "token": token,
        "register_webhook": register_webhook,
    })
}

/// A Telegram update with a private text message from `user_id`.
pub fn text_update(update_id: i64, user_id: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_764_000_000,
            "from": {"id": user_id, "is_bot": false, "first_name": "Ann"},
            "chat": {"id": user_id, "type": "private"},
            "text": text,
        },
    })
}

/// A client id as it goes into a path: a JSON string as is, anything else as JSON text.
pub fn id_text(id: &Value) -> String {
    match id {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

async fn send(request: RequestBuilder) -> Response {
    let (client, request) = request.build_split();
    let request = request.expect("a well-formed request");
    let description = format!("{} {}", request.method(), request.url());
    client
        .execute(request)
        .await
        .unwrap_or_else(|err| panic!("{description} failed: {err}"))
}

async fn json_body(response: Response) -> Value {
    let text = response.text().await.unwrap_or_default();
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_go_into_paths_without_quotes() {
        assert_eq!(id_text(&json!(42)), "42");
        assert_eq!(id_text(&json!("c_42")), "c_42");
    }

    #[test]
    fn user_ids_are_escaped_in_paths() {
        assert_eq!(path_segment("555"), "555");
        assert_eq!(path_segment("01234567890A="), "01234567890A%3D");
        assert_eq!(path_segment("a+b/c"), "a%2Bb%2Fc");
    }

    #[test]
    fn updates_look_like_telegram_ones() {
        let update = text_update(1001, 555, "hello");
        assert_eq!(update["update_id"], 1001);
        assert_eq!(update["message"]["from"]["id"], 555);
        assert_eq!(update["message"]["chat"]["id"], 555);
        assert_eq!(update["message"]["text"], "hello");
    }
}
