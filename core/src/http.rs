//! Plain HTTP values shared by the service layer and the worker glue.

use serde::Serialize;

/// An HTTP request mlink makes (a messenger API call, a callback), as data. The worker glue sends
/// it; tests inspect it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl OutboundRequest {
    pub fn post_json(url: String, body: &impl Serialize) -> Self {
        OutboundRequest {
            method: "POST",
            url,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_string(body).expect("plain data serializes"),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// Header lookup that the service layer needs from an inbound request (case-insensitive names).
pub trait Headers {
    fn get(&self, name: &str) -> Option<String>;
}

impl Headers for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// Why a body is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAnObject(pub String);

/// Reads a body that must be a JSON object. serde's derived structs would also take an array
/// (fields in order) and skip invalid UTF-8 in fields they ignore: neither is a valid body.
pub fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, NotAnObject> {
    let text =
        std::str::from_utf8(body).map_err(|_| NotAnObject("the body is not UTF-8".into()))?;
    if !text.trim_start().starts_with('{') {
        return Err(NotAnObject("the body must be a JSON object".into()));
    }
    serde_json::from_str(text).map_err(|e| NotAnObject(e.to_string()))
}

/// The path and query of an absolute URL (`https://host/path?query#fragment`), without parsing
/// the host: all the worker needs, and lighter than a full URL parser in the wasm module.
pub fn path_and_query(url: &str) -> (&str, &str) {
    // A byte scan: every click comes through here, and a substring search sets up a searcher.
    let after_scheme = url
        .as_bytes()
        .windows(3)
        .position(|w| w == b"://")
        .map_or(url, |at| &url[at + 3..]);
    let target = after_scheme
        .find('/')
        .map_or("/", |start| &after_scheme[start..]);
    let target = target.split('#').next().unwrap_or_default();
    target.split_once('?').unwrap_or((target, ""))
}

/// The parts joined, in one allocation: deep links are built on every click, and `format!`'s
/// machinery is most of what building one costs.
pub fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|p| out.push_str(p));
    out
}

/// `application/x-www-form-urlencoded` pairs of a query string (`+` is a space).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenates() {
        assert_eq!(
            concat(&["https://t.me/", "Bot", "?start=", "x"]),
            "https://t.me/Bot?start=x"
        );
        assert_eq!(concat(&[]), "");
    }

    #[test]
    fn splits_urls() {
        assert_eq!(
            path_and_query("https://h.example/webhooks/p/g?hub.mode=subscribe#x"),
            ("/webhooks/p/g", "hub.mode=subscribe")
        );
        assert_eq!(path_and_query("http://127.0.0.1:8787"), ("/", ""));
        assert_eq!(path_and_query("https://h/mlink/abc"), ("/mlink/abc", ""));
    }

    #[test]
    fn decodes_query_pairs() {
        assert_eq!(
            query_pairs("a=1&b=x+y%21&&c&d=%E2%82%AC"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y!".into()),
                ("c".into(), "".into()),
                ("d".into(), "€".into()),
            ]
        );
        assert_eq!(query_pairs(""), vec![]);
    }

    #[test]
    fn json_bodies_must_be_objects() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Two {
            a: i64,
        }
        assert_eq!(
            json_object::<Two>(br#" {"a": 1, "x": "y"}"#),
            Ok(Two { a: 1 })
        );
        assert!(
            json_object::<Two>(b"[1]").is_err(),
            "arrays fill structs in order"
        );
        assert!(json_object::<Two>(b"{\"a\": 1, \"x\": \"\xff\"}").is_err());
        assert!(json_object::<Two>(b"").is_err());
    }
}
