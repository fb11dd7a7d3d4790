//! The test backend: the same SQL on rusqlite, in memory or (to count what a commit writes) in a
//! file in WAL mode, as a Durable Object keeps it.

use mlink_core::store::{Row, Sql, StoreError, Value};
use rusqlite::types::ValueRef;
use std::cell::Cell;
use std::rc::Rc;

pub struct Sqlite {
    connection: rusqlite::Connection,
    /// Statements run so far (shared, so a test can read it while a store owns the backend).
    statements: Rc<Cell<u64>>,
}

impl Sqlite {
    pub fn memory() -> Self {
        Self::over(rusqlite::Connection::open_in_memory().expect("in-memory SQLite opens"))
    }

    /// A database file in WAL mode with 4 KiB pages, as workerd keeps a Durable Object's.
    pub fn wal_file(path: &std::path::Path) -> Self {
        let connection = rusqlite::Connection::open(path).expect("SQLite file opens");
        connection
            .execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;")
            .expect("WAL mode");
        Self::over(connection)
    }

    fn over(connection: rusqlite::Connection) -> Self {
        Sqlite {
            connection,
            statements: Rc::default(),
        }
    }

    /// The count of statements this backend runs (`exec` calls; a transaction's own
    /// SAVEPOINT and RELEASE are not counted).
    pub fn statement_counter(&self) -> Rc<Cell<u64>> {
        self.statements.clone()
    }
}

/// Pages the commits since the last call wrote (frames appended to the WAL), counted from a
/// second connection to the same file; the WAL is checkpointed and emptied each time.
pub struct WalMeter(rusqlite::Connection);

impl WalMeter {
    pub fn new(path: &std::path::Path) -> Self {
        let meter = WalMeter(rusqlite::Connection::open(path).expect("SQLite file opens"));
        meter.pages_written();
        meter
    }

    /// Which table or index each page in the WAL belongs to, in the order they were written.
    pub fn trees_written(&self, path: &std::path::Path) -> Vec<String> {
        let wal = std::fs::read(path.with_extension("sqlite-wal")).unwrap_or_default();
        let mut names = Vec::new();
        let mut at = 32;
        while at + 24 + 4096 <= wal.len() {
            let page = u32::from_be_bytes(wal[at..at + 4].try_into().unwrap());
            let name: String = self
                .0
                .query_row("SELECT name FROM dbstat WHERE pageno = ?", [page], |r| {
                    r.get(0)
                })
                .unwrap_or_else(|_| format!("page {page}"));
            names.push(name);
            at += 24 + 4096;
        }
        names
    }

    pub fn pages_written(&self) -> i64 {
        // PASSIVE says how many frames the WAL holds; TRUNCATE (which says 0) empties it.
        let frames = self.checkpoint("PASSIVE");
        self.checkpoint("TRUNCATE");
        frames
    }

    fn checkpoint(&self, mode: &str) -> i64 {
        let (busy, frames): (i64, i64) = self
            .0
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .expect("checkpoint");
        assert_eq!(busy, 0, "nothing else holds the database");
        frames
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
        self.statements.set(self.statements.get() + 1);
        let mut statement = self.connection.prepare(sql).map_err(err)?;
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
        self.connection.execute_batch("SAVEPOINT tx").map_err(err)?;
        match body() {
            Ok(()) => self.connection.execute_batch("RELEASE tx").map_err(err),
            Err(e) => {
                self.connection
                    .execute_batch("ROLLBACK TO tx; RELEASE tx")
                    .map_err(err)?;
                Err(e)
            }
        }
    }
}
