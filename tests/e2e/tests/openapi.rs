//! End-to-end: the owner API's OpenAPI document, `www/api/v1/openapi.json`, and the running
//! worker agree. The document is served as a static asset at `/api/v1/openapi.json`, names every
//! route `core/src/service/routes.rs` parses (and nothing else), and Schemathesis, generating
//! requests from it, finds no answer that breaks it: no 5xx, no undocumented status, content type
//! or header, no body that does not match its schema.
//!
//! Needs `scripts/build` (the worker) and `scripts/setup` (Schemathesis, in `.venv/`).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mlink_e2e::{
    BotSpec, CallbackReceiver, ConnectedBot, Fakes, Method, Project, Worker, ADMIN_TOKEN,
};
use serde_json::{json, Value};

/// The document, relative to the repository root; the worker serves `www/` as static assets.
const DOCUMENT: &str = "www/api/v1/openapi.json";
const DOCUMENT_URL: &str = "/api/v1/openapi.json";
/// Where the routes are parsed; read by [`parsed_routes`].
const ROUTES_SOURCE: &str = "core/src/service/routes.rs";

/// Every route the worker parses, as the document names it. A route added to `routes.rs` fails
/// [`the_document_is_served_and_valid`] until it is listed here and documented. `HEAD /mlink` is
/// GET's twin and not listed.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/mlink/{token}"),
    ("POST", "/webhooks/{project}/{group}"),
    ("GET", "/webhooks/{project}/{group}"),
    ("PUT", "/api/v1/projects/{project}"),
    ("GET", "/api/v1/projects/{project}"),
    ("GET", "/api/v1/projects/{project}/bots"),
    ("PUT", "/api/v1/projects/{project}/bots/{group}"),
    ("GET", "/api/v1/projects/{project}/deliveries"),
    (
        "POST",
        "/api/v1/projects/{project}/deliveries/{delivery_id}/resend",
    ),
    ("GET", "/api/v1/projects/{project}/stats"),
    ("GET", "/api/v1/projects/{project}/clients"),
    ("GET", "/api/v1/projects/{project}/clients/{client_id}"),
    (
        "POST",
        "/api/v1/projects/{project}/clients/{client_id}/merge-links",
    ),
    (
        "POST",
        "/api/v1/projects/{project}/clients/{client_id}/merge",
    ),
    ("GET", "/api/v1/projects/{project}/clients/{client_id}/main"),
    (
        "GET",
        "/api/v1/projects/{project}/clients/{client_id}/dialogs",
    ),
    (
        "GET",
        "/api/v1/projects/{project}/clients/{client_id}/reachable",
    ),
    (
        "GET",
        "/api/v1/projects/{project}/clients/{client_id}/variables",
    ),
    (
        "PUT",
        "/api/v1/projects/{project}/clients/{client_id}/variables",
    ),
    (
        "GET",
        "/api/v1/projects/{project}/contacts/{group}/{user_id}",
    ),
    (
        "POST",
        "/api/v1/projects/{project}/contacts/{group}/{user_id}/unmerge",
    ),
    (
        "GET",
        "/api/v1/projects/{project}/platform-ids/{client_type}/{platform_id}",
    ),
];

/// Tags of the operations Schemathesis leaves out: the messengers' webhooks (they need the
/// messengers' signatures) and the client's click (HTML and redirects, not the owner API).
const EXCLUDED_TAGS: [&str; 2] = ["Webhooks", "Redirect"];

/// What Schemathesis checks on every answer.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance";
/// Generated cases per operation and phase: enough to reach every documented status, and a run
/// of a couple of minutes.
const MAX_EXAMPLES: u32 = 30;
/// The run's seed, so a failure can be replayed; `MLINK_OPENAPI_SEED` picks another.
const DEFAULT_SEED: &str = "20261125";
/// The longest the run may take before the test stops it.
const RUN_LIMIT: Duration = Duration::from_secs(15 * 60);

/// The test project, as the document's examples name it (so the examples phase reads real data).
const PROJECT: &str = "acme";
/// The project `PUT /api/v1/projects/{project}` is pointed at during the run: generated callback
/// URLs may name any host, so they go to a project that has no bots and so never sends one.
const SCRATCH_PROJECT: &str = "scratch";

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_served_and_valid() {
    let document = read_document();
    let fakes = Fakes::start().await;
    let worker = Worker::start(fakes.worker_options()).await;

    // Served as is, by the assets binding (no code).
    let served = worker.get_page(&worker.url(DOCUMENT_URL)).await;
    assert_eq!(served.status, 200, "GET {DOCUMENT_URL}: {}", served.body);
    let content_type = served.content_type.clone().unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "GET {DOCUMENT_URL} answered Content-Type {content_type:?}"
    );
    let served: Value = serde_json::from_str(&served.body)
        .unwrap_or_else(|e| panic!("GET {DOCUMENT_URL} is not JSON: {e}"));
    assert!(
        served == document,
        "GET {DOCUMENT_URL} differs from {DOCUMENT}"
    );

    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["servers"], json!([{"url": "/"}]));
    assert_refs_resolve(&document);

    // The document names exactly the routes the worker parses.
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(listed.len(), ROUTES.len(), "ROUTES lists a route twice");
    let documented = documented_operations(&document);
    let missing: Vec<_> = listed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&listed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{DOCUMENT} does not match the routes: undocumented {missing:?}, not a route {extra:?}"
    );
    let parsed = parsed_routes(&fs::read_to_string(root().join(ROUTES_SOURCE)).unwrap());
    assert!(
        parsed.len() > 10,
        "only {parsed:?} read from {ROUTES_SOURCE}: has its match changed shape?"
    );
    let listed_shapes: BTreeSet<(String, String)> = listed
        .iter()
        .map(|(method, path)| (method.clone(), shape(path)))
        .collect();
    let new: Vec<_> = parsed.difference(&listed_shapes).collect();
    let gone: Vec<_> = listed_shapes.difference(&parsed).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "{ROUTES_SOURCE} parses routes that ROUTES (and so {DOCUMENT}) lacks: {new:?}; \
         ROUTES lists routes it no longer parses: {gone:?}"
    );

    for (method, path) in ROUTES {
        let operation = &document["paths"][path][method.to_lowercase()];
        let label = format!("{method} {path}");
        assert_operation_documented(&document, path, operation, &label);
        assert_routed(&worker, &document, method, path, &label).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_violation() {
    let schemathesis = root().join(".venv/bin/schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing: run scripts/setup (it installs Schemathesis into .venv/)",
        schemathesis.display()
    );
    let fakes = Fakes::start().await;
    let callbacks = CallbackReceiver::start().await;
    let options = fakes
        .worker_options()
        .var("LINK_RATE_PER_MINUTE", "1000000");
    let worker = Worker::start(options).await;
    // Callbacks fail, so deliveries stay listed (pending, then failed) and can be resent.
    callbacks.answer_from_now_on(500);

    let project = seed(&worker, &callbacks).await;

    let run = run_schemathesis(&schemathesis, &worker, &project).await;
    if !run.status.success() {
        panic!(
            "Schemathesis found answers that break {DOCUMENT} ({}):\n{}\n\n{}\n\
             --- wrangler log (tail) ---\n{}",
            run.status,
            run.command,
            run.output,
            tail(&worker.settled_log().await, 80)
        );
    }
    println!("{}\n{}", run.command, run.output);

    // The run never touched the test project's callback URL (see SCRATCH_PROJECT).
    let (status, info) = worker.project_info(&project).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["callback_url"], callbacks.url(), "{info}");
}

// ---------------------------------------------------------------------------------------------
// The data

/// Project acme with the data the document's examples name, so the examples phase reads real
/// cards: Telegram bot botA, WhatsApp bot wa1 and Viber bot vb1; card 1 holds a dialog of each
/// (Telegram user 555, and the WhatsApp and Viber users' cards 3 and 4 merged into it), card 2
/// Telegram user 777; delivery 1 is the first `message` callback.
async fn seed(worker: &Worker, callbacks: &CallbackReceiver) -> Project {
    let project = worker.create_project(PROJECT, &callbacks.url()).await;
    let specs = [
        (
            "botA",
            BotSpec::telegram("AcmeBot", "123456:AAF-test_token"),
        ),
        (
            "wa1",
            BotSpec::whatsapp(
                "+1 555 010 0199",
                "106540352242922",
                "EAABtest",
                "wa-secret",
            ),
        ),
        (
            "vb1",
            BotSpec::viber("acmeviber", "4453b6ac-viber-token", "Acme"),
        ),
    ];
    let mut bots = Vec::new();
    for (group, spec) in specs {
        let (status, bot) = worker
            .connect_bot(&project, group, &spec.connect_body())
            .await;
        assert_eq!(status, 201, "connect {group}: {bot}");
        let text = |field: &str| bot[field].as_str().expect(field).to_string();
        bots.push(ConnectedBot {
            spec,
            project: PROJECT.to_string(),
            group: group.to_string(),
            webhook_url: text("webhook_url"),
            webhook_secret: text("webhook_secret"),
        });
    }
    let users = [
        (&bots[0], "555"),
        (&bots[0], "777"),
        (&bots[1], "15550100111"),
        (&bots[2], "vbUser01+/Ann=="),
    ];
    for (n, (bot, user)) in users.iter().enumerate() {
        let answer = worker
            .post_webhook(PROJECT, &bot.group, &bot.text(user, "hello", n as u64 + 1))
            .await;
        assert_eq!(answer.status, 200, "message from {user}: {}", answer.body);
        let (status, card) = worker.contact_card(&project, &bot.group, user).await;
        assert_eq!(status, 200, "{card}");
        assert_eq!(card["client_id"], n + 1, "card of {user}: {card}");
    }
    for other in [3, 4] {
        let path = project.path("/clients/1/merge");
        let body = json!({"client_id": other, "reason": "the same person"});
        let (status, merged) = worker
            .api(Method::POST, &path, Some(&project.api_key), Some(&body))
            .await;
        assert_eq!(status, 200, "merge {other} into 1: {merged}");
    }
    let (status, card) = worker.client_card(&project, &json!(1)).await;
    assert_eq!(status, 200, "{card}");
    assert_windows(&card);
    project
}

/// Each dialog's window follows its messenger's rule: Telegram none (always free-form), Viber
/// subscription (free-form once the user wrote), WhatsApp 24 hours from the last message.
fn assert_windows(card: &Value) {
    let contacts = card["contacts"].as_array().expect("contacts");
    assert_eq!(contacts.len(), 3, "{card}");
    for contact in contacts {
        let window = &contact["window"];
        let (rule, until) = match contact["messenger"].as_str() {
            Some("telegram") => ("none", Value::Null),
            Some("viber") => ("subscription", Value::Null),
            Some("whatsapp") => {
                let last = contact["last_message_at"]
                    .as_str()
                    .expect("last_message_at");
                let until = unix_seconds(last) + 24 * 3600;
                let until = window["until"]
                    .as_str()
                    .filter(|u| unix_seconds(u) == until)
                    .map_or(Value::Null, |u| json!(u));
                ("24h", until)
            }
            other => panic!("unexpected messenger {other:?}: {card}"),
        };
        let expected = json!({"free_form": true, "until": until, "rule": rule});
        assert_eq!(window, &expected, "{contact}");
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` → seconds since the epoch.
fn unix_seconds(time: &str) -> i64 {
    let number = |range: std::ops::Range<usize>| -> i64 {
        time.get(range)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{time:?} is not YYYY-MM-DDTHH:MM:SSZ"))
    };
    let (y, m, d) = (number(0..4), number(5..7), number(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + number(11..13) * 3600 + number(14..16) * 60 + number(17..19)
}

// ---------------------------------------------------------------------------------------------
// The document

/// The repository root (`<this crate>/../..`).
fn root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

fn read_document() -> Value {
    let path = root().join(DOCUMENT);
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DOCUMENT} is not JSON: {e}"))
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `(METHOD, path)` of every operation in the document.
fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

/// `/a/{x}/b` → `/a/{}/b`: a path with its parameters' names left out.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `$ref` in the document points at something in it.
fn assert_refs_resolve(document: &Value) {
    fn walk(document: &Value, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let pointer = target
                        .strip_prefix('#')
                        .unwrap_or_else(|| panic!("{at}: $ref {target} is not local"));
                    assert!(
                        document.pointer(pointer).is_some(),
                        "{at}: $ref {target} points at nothing"
                    );
                }
                for (key, child) in map {
                    walk(document, child, &format!("{at}/{key}"));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(document, child, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
    walk(document, document, "#");
}

/// `value`, or what its `$ref` points at.
fn resolved<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(target) => resolved(
            document,
            document
                .pointer(target.trim_start_matches('#'))
                .expect("refs resolve"),
        ),
        None => value,
    }
}

/// The parameters of an operation, with those of its path, resolved.
fn parameters<'a>(document: &'a Value, path: &str, operation: &'a Value) -> Vec<&'a Value> {
    let of = |value: &'a Value| -> Vec<&'a Value> {
        value
            .as_array()
            .map(|list| list.iter().map(|p| resolved(document, p)).collect())
            .unwrap_or_default()
    };
    let mut all = of(&document["paths"][path]["parameters"]);
    all.extend(of(&operation["parameters"]));
    all
}

/// An operation has an id, a tag, its path parameters described with a constrained schema and an
/// example, its answers with schemas, and, for project calls, the statuses every one can give.
fn assert_operation_documented(document: &Value, path: &str, operation: &Value, label: &str) {
    assert!(operation.is_object(), "{label} is not documented");
    assert!(
        operation["operationId"].is_string(),
        "{label}: no operationId"
    );
    assert!(operation["tags"][0].is_string(), "{label}: no tag");
    let parameters = parameters(document, path, operation);
    for name in path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
    {
        let parameter = parameters
            .iter()
            .find(|p| p["in"] == "path" && p["name"] == name)
            .unwrap_or_else(|| panic!("{label}: path parameter {name} is not described"));
        assert_eq!(
            parameter["required"], true,
            "{label}: {name} is not required"
        );
        assert!(
            !parameter["example"].is_null(),
            "{label}: {name} has no example"
        );
        let schema = resolved(document, &parameter["schema"]);
        let constrained = schema["pattern"].is_string()
            || (schema["type"] == "integer" && schema["minimum"] == 1)
            || schema["enum"].is_array();
        assert!(
            constrained,
            "{label}: {name} has no pattern, positive integer type or enum: {schema}"
        );
    }
    let responses = operation["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{label}: no responses"));
    assert!(
        responses
            .keys()
            .any(|s| s.starts_with('2') || s.starts_with('3')),
        "{label}: no success answer"
    );
    for (status, response) in responses {
        let response = resolved(document, response);
        assert!(
            response["description"].is_string(),
            "{label} {status}: no description"
        );
        if status != "302" {
            let content = response["content"]
                .as_object()
                .unwrap_or_else(|| panic!("{label} {status}: no content"));
            assert!(
                content.values().all(|media| media["schema"].is_object()),
                "{label} {status}: a content type without a schema"
            );
        }
        let json_error = &response["content"]["application/json"]["schema"];
        if (status.starts_with('4') || status.starts_with('5')) && !json_error.is_null() {
            assert_eq!(
                json_error["$ref"], "#/components/schemas/Error",
                "{label} {status}: JSON errors are Error"
            );
        }
    }
    if path.starts_with("/api/") {
        for status in ["400", "401"] {
            assert!(
                responses.contains_key(status),
                "{label}: status {status} is not documented"
            );
        }
        let scheme = if path == "/api/v1/projects/{project}" && label.starts_with("PUT") {
            "adminToken"
        } else {
            "apiKey"
        };
        let security = operation.get("security").unwrap_or(&document["security"]);
        assert_eq!(
            security,
            &json!([{ scheme: [] }]),
            "{label}: not secured by {scheme}"
        );
    }
}

/// The worker routes the documented operation: asked with the parameters' examples and no
/// credentials, it neither says the route is unknown nor refuses the method.
async fn assert_routed(worker: &Worker, document: &Value, method: &str, path: &str, label: &str) {
    let operation = &document["paths"][path][method.to_lowercase()];
    let parameters = parameters(document, path, operation);
    let concrete = path
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let parameter = parameters
                        .iter()
                        .find(|p| p["in"] == "path" && p["name"] == name)
                        .expect("described");
                    match &parameter["example"] {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    }
                }
                None => segment.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    let method = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let body = matches!(method, Method::POST | Method::PUT).then(|| json!({}));
    let (status, answer) = worker.api(method, &concrete, None, body.as_ref()).await;
    let what = format!("{label} as {concrete} without credentials answered {status}: {answer}");
    assert_ne!(status, 405, "{what}");
    assert_ne!(answer["error"]["code"], "route_not_found", "{what}");
    if path.starts_with("/api/") {
        assert_eq!(status, 401, "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// The routes in routes.rs

/// `(METHOD, shape)` of every route `routes.rs` parses, read from its source: each slice pattern
/// of a `match` arm (`["clients", id, "merge"] => (&["POST"], ...)`), with the methods named in
/// the arm (up to the next arm or function). Arms after `fn project_call` are under `/api/v1/projects/{}`; patterns with `..`
/// (catch-alls) are skipped; an arm that names no method (`/health`) is taken as GET; HEAD is
/// GET's twin and left out.
fn parsed_routes(source: &str) -> BTreeSet<(String, String)> {
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let project_calls = code
        .find("fn project_call")
        .expect("routes.rs has fn project_call");
    let arms = slice_arms(code);
    assert!(!arms.is_empty(), "no match arms found in {ROUTES_SOURCE}");
    let mut routes = BTreeSet::new();
    for (i, arm) in arms.iter().enumerate() {
        let Some(segments) = &arm.segments else {
            continue;
        };
        let end = arms.get(i + 1).map_or(code.len(), |next| next.start);
        let body = &code[arm.body..end];
        let body = body.find("\nfn ").map_or(body, |next_fn| &body[..next_fn]);
        let mut methods: Vec<String> = string_literals(body)
            .into_iter()
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase()))
            .filter(|s| s != "HEAD")
            .collect();
        if methods.is_empty() {
            methods.push("GET".into());
        }
        let prefix = if arm.start > project_calls {
            "/api/v1/projects/{}"
        } else {
            ""
        };
        let path = format!("{prefix}/{}", segments.join("/"));
        for method in methods {
            routes.insert((method, path.clone()));
        }
    }
    routes
}

/// A match arm whose pattern is a slice pattern.
struct Arm {
    /// Where the pattern starts.
    start: usize,
    /// Where the arm's body starts (after `=>`).
    body: usize,
    /// The path segments (`{}` for a binding), or `None` for a pattern with `..`.
    segments: Option<Vec<String>>,
}

/// Every `[ ... ] =>` (optionally `[ ... ] if guard =>`, or `[ ... ] | [ ... ] =>`) in `code`.
fn slice_arms(code: &str) -> Vec<Arm> {
    let bytes = code.as_bytes();
    let mut arms = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'[' {
            i += 1;
            continue;
        }
        let Some(close) = code[i..].find(']').map(|n| i + n) else {
            break;
        };
        let inside = &code[i + 1..close];
        let after = code[close + 1..].trim_start();
        let guarded = after.starts_with("if ")
            && matches!(
                (after.find("=>"), after.find('\n')),
                (Some(arrow), Some(line_end)) if arrow < line_end
            );
        let is_arm =
            !inside.contains('[') && (after.starts_with("=>") || after.starts_with('|') || guarded);
        if is_arm {
            let arrow = code[close..].find("=>").map_or(close, |n| close + n + 2);
            let items: Vec<&str> = inside.split(',').map(str::trim).collect();
            let segments = if items.iter().any(|item| item.contains("..")) {
                None
            } else {
                Some(
                    items
                        .iter()
                        .filter(|item| !item.is_empty())
                        .map(|item| match item.strip_prefix('"') {
                            Some(literal) => literal.trim_end_matches('"').to_string(),
                            None => "{}".to_string(),
                        })
                        .collect(),
                )
            };
            arms.push(Arm {
                start: i,
                body: arrow,
                segments,
            });
        }
        i = close + 1;
    }
    arms
}

/// The contents of the `"..."` literals in `code` (no escapes needed here).
fn string_literals(code: &str) -> Vec<String> {
    code.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Schemathesis

struct Run {
    command: String,
    status: ExitStatus,
    output: String,
}

/// Runs Schemathesis against the worker, every operation but the excluded tags, authenticated as
/// the document's security schemes say (the project's API key; the admin token for creating a
/// project, pointed at [`SCRATCH_PROJECT`]).
async fn run_schemathesis(schemathesis: &Path, worker: &Worker, project: &Project) -> Run {
    let dir = tempfile::Builder::new()
        .prefix("mlink-schemathesis-")
        .tempdir()
        .expect("a temporary folder");
    let config = dir.path().join("schemathesis.toml");
    fs::write(&config, config_toml(&project.api_key)).expect("write the Schemathesis config");
    let seed = std::env::var("MLINK_OPENAPI_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_string());
    let mut args: Vec<String> = vec![
        "--config-file".into(),
        config.display().to_string(),
        "run".into(),
        worker.url(DOCUMENT_URL),
        "--url".into(),
        worker.base_url(),
    ];
    for tag in EXCLUDED_TAGS {
        args.extend(["--exclude-tag".into(), tag.into()]);
    }
    args.extend(
        [
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            &MAX_EXAMPLES.to_string(),
            "--seed",
            &seed,
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--no-color",
        ]
        .map(String::from),
    );
    let command = format!("{} {}", schemathesis.display(), args.join(" "));
    let stdout = dir.path().join("stdout.txt");
    let mut child = Command::new(schemathesis)
        .args(&args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout).expect("create the output file"))
        .stderr(fs::File::create(dir.path().join("stderr.txt")).expect("create the error file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", schemathesis.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for Schemathesis") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "Schemathesis ran over {RUN_LIMIT:?}: {command}\n{}",
                fs::read_to_string(&stdout).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let output = format!(
        "{}{}",
        fs::read_to_string(&stdout).unwrap_or_default(),
        fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default()
    );
    Run {
        command,
        status,
        output,
    }
}

/// The run's configuration: credentials per security scheme, and the project every call names.
fn config_toml(api_key: &str) -> String {
    format!(
        r#"# Written by tests/e2e/tests/openapi.rs for one run.
[cache]
enabled = false

[auth.openapi.apiKey]
bearer = "{api_key}"

[auth.openapi.adminToken]
bearer = "{ADMIN_TOKEN}"

# The API key opens one project: every call names it.
[parameters]
"path.project" = "{PROJECT}"

# Except creating or updating a project: generated callback URLs may name any host, so they go
# to a project that has no bots and so never calls one.
[[operations]]
include-operation-id = "putProject"
parameters = {{ "path.project" = "{SCRATCH_PROJECT}" }}
"#
    )
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn reads_routes_from_match_arms() {
    let source = r#"
        match segments.as_slice() {
            ["health"] => Ok(Route::Health),
            ["mlink", token] => expect(method, &["GET", "HEAD"], Route::Mlink(token.to_string())),
            ["api", "v1", "projects", project] => {
                match method {
                    "GET" => Ok(Route::Project(project, ProjectCall::GetProject)),
                    _ => expect(method, &["PUT"], Route::PutProject(project)),
                }
            }
            ["api", "v1", "projects", project, rest @ ..] => {}
            ["api", ..] | ["webhooks", ..] => Err(ApiError::not_found("route_not_found", "x")),
            _ => Ok(Route::Static),
        }
        fn project_call(method: &str, rest: &[&str]) -> Result<ProjectCall, ApiError> {
            let (allowed, call): (&[&str], ProjectCall) = match rest {
                ["bots"] => (&["GET"], ListBots),
                ["clients", id, "variables"] if method == "PUT" => (&["PUT"], PutVariables(x)),
                ["clients", id, "variables"] => (&["GET", "PUT"], GetVariables(x)),
                ["contacts", group, user, "unmerge"] => {
                    (&["POST"], Unmerge(group_id(group)?, user_id(user)?))
                }
                ["platform-ids", client_type, platform_id] => (
                    &["GET"],
                    PlatformLookup(messenger(client_type)?, user_id(platform_id)?),
                ),
                _ => return Err(ApiError::not_found("route_not_found", "no such route")),
            };
            expect(method, allowed, call)
        }
        fn extra() { let e = ApiError::BadRequest("USE GET".into()); }
        #[cfg(test)]
        mod tests { fn t() { let [a, b] = ["PATCH", "x"]; } }
    "#;
    let routes: Vec<(String, String)> = parsed_routes(source).into_iter().collect();
    let expected: Vec<(String, String)> = [
        ("GET", "/api/v1/projects/{}"),
        ("GET", "/api/v1/projects/{}/bots"),
        ("GET", "/api/v1/projects/{}/clients/{}/variables"),
        ("GET", "/api/v1/projects/{}/platform-ids/{}/{}"),
        ("GET", "/health"),
        ("GET", "/mlink/{}"),
        ("POST", "/api/v1/projects/{}/contacts/{}/{}/unmerge"),
        ("PUT", "/api/v1/projects/{}"),
        ("PUT", "/api/v1/projects/{}/clients/{}/variables"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(routes, expected);
    assert_eq!(shape("/a/{x}/b/{y}"), "/a/{}/b/{}");
    assert_eq!(unix_seconds("2025-11-24T16:00:00Z"), 1_764_000_000);
    assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), 0);
}
