//! What the messengers' unit tests share: header pairs, and request bodies with one field
//! changed or removed.

use serde_json::Value;

pub fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// `body` with `field` set to `value`.
pub fn with(body: &Value, field: &str, value: Value) -> Value {
    let mut body = body.clone();
    body[field] = value;
    body
}

/// `body` without `field`.
pub fn without(body: &Value, field: &str) -> Value {
    let mut body = body.clone();
    if let Some(object) = body.as_object_mut() {
        object.remove(field);
    }
    body
}
