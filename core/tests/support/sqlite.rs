//! The test backend: the same SQL on rusqlite, in memory.

use mlink_core::store::{Row, Sql, StoreError, Value};
use rusqlite::types::ValueRef;

pub struct Sqlite(rusqlite::Connection);

impl Sqlite {
    pub fn memory() -> Self {
        Sqlite(rusqlite::Connection::open_in_memory().expect("in-memory SQLite opens"))
    }
}

fn to_sql(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Integer(i) => rusqlite::types::Value::Integer(*i),
        Value::Real(f) => rusqlite::types::Value::Real(*f),
        Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
    }
}

fn from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
    }
}

fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Sql(e.to_string())
}

impl Sql for Sqlite {
    fn exec(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.0.prepare(sql).map_err(err)?;
        let columns = statement.column_count();
        let params: Vec<_> = params.iter().map(to_sql).collect();
        let mut rows = statement
            .query(rusqlite::params_from_iter(params))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let values = (0..columns)
                .map(|i| row.get_ref(i).map(from_sql).map_err(err))
                .collect::<Result<_, _>>()?;
            out.push(Row(values));
        }
        Ok(out)
    }

    fn atomically(
        &self,
        body: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.0.execute_batch("SAVEPOINT tx").map_err(err)?;
        match body() {
            Ok(()) => self.0.execute_batch("RELEASE tx").map_err(err),
            Err(e) => {
                self.0
                    .execute_batch("ROLLBACK TO tx; RELEASE tx")
                    .map_err(err)?;
                Err(e)
            }
        }
    }
}
