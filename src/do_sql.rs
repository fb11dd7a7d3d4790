//! `mlink-core`'s [`Sql`] over a Durable Object's SQLite storage.

use js_sys::{Function, Reflect};
use mlink_core::store::{Row, Sql, StoreError, Value};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{SqlStorage, SqlStorageValue, Storage};

pub struct DoSql {
    sql: SqlStorage,
    storage: JsValue,
}

impl DoSql {
    pub fn new(storage: &Storage) -> Self {
        DoSql {
            sql: storage.sql(),
            storage: AsRef::<JsValue>::as_ref(storage.as_raw()).clone(),
        }
    }
}

/// A parameter as the runtime takes it. Straight to a `JsValue`, not through the `worker` crate's
/// `SqlStorageValue`, which copies each text once more in Rust and asks JS whether each integer
/// is a safe one (ours, ids and unix milliseconds, all are).
fn to_binding(v: &Value) -> JsValue {
    match v {
        Value::Null => JsValue::NULL,
        Value::Integer(i) => JsValue::from_f64(*i as f64),
        Value::Real(f) => JsValue::from_f64(*f),
        Value::Text(s) => JsValue::from_str(s),
    }
}

fn from_storage(v: SqlStorageValue) -> Value {
    match v {
        SqlStorageValue::Null => Value::Null,
        SqlStorageValue::Boolean(b) => Value::Integer(i64::from(b)),
        SqlStorageValue::Integer(i) => Value::Integer(i),
        SqlStorageValue::Float(f) => Value::Real(f),
        SqlStorageValue::String(s) => Value::Text(s),
        SqlStorageValue::Blob(b) => Value::Text(String::from_utf8_lossy(&b).into_owned()),
    }
}

fn sql_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Sql(e.to_string())
}

type Body<'a> = dyn FnMut() -> Result<(), StoreError> + 'a;

impl Sql for DoSql {
    fn exec(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let bindings: Vec<JsValue> = params.iter().map(to_binding).collect();
        let cursor = self.sql.exec_raw(sql, bindings).map_err(sql_error)?;
        cursor
            .raw()
            .map(|row| {
                row.map(|values| Row(values.into_iter().map(from_storage).collect()))
                    .map_err(sql_error)
            })
            .collect()
    }

    /// `storage.transactionSync(body)`: the runtime rolls back every write if `body` throws.
    fn atomically(&self, body: &mut Body<'_>) -> Result<(), StoreError> {
        let transaction_sync: Function = Reflect::get(&self.storage, &"transactionSync".into())
            .and_then(|f| f.dyn_into())
            .map_err(|_| StoreError::Sql("storage.transactionSync is missing".into()))?;
        let failure: Rc<RefCell<Option<StoreError>>> = Rc::default();
        let body: *mut Body<'_> = body;
        // SAFETY: transactionSync calls the closure synchronously, before `call1` returns, and the
        // closure is dropped right after; `body` outlives both.
        let body: *mut Body<'static> = unsafe { std::mem::transmute(body) };
        let seen = failure.clone();
        let closure = Closure::<dyn FnMut() -> Result<JsValue, JsValue>>::new(move || {
            // SAFETY: see above; nothing else holds `body` while the closure runs.
            match unsafe { (*body)() } {
                Ok(()) => Ok(JsValue::UNDEFINED),
                Err(e) => {
                    *seen.borrow_mut() = Some(e);
                    Err(JsValue::from_str("rolled back"))
                }
            }
        });
        let result = transaction_sync.call1(&self.storage, closure.as_ref());
        drop(closure);
        match result {
            Ok(_) => Ok(()),
            Err(js) => Err(failure
                .borrow_mut()
                .take()
                .unwrap_or_else(|| StoreError::Sql(format!("{js:?}")))),
        }
    }
}
