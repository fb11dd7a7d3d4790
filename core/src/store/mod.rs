//! The project's storage: one SQLite database per project (its Durable Object), reached through
//! the small [`Sql`] trait. The same SQL runs natively on rusqlite in tests.

use std::cell::RefCell;
use std::rc::Rc;

mod cards;
mod links;
mod outbox;
mod project;
mod schema;

pub use cards::{ClientRecord, Contact, HistoryEntry};
pub use links::{FunnelRow, LinkRecord};
pub use outbox::{NewOutboxItem, OutboxItem, OutboxKind};
pub use project::{BotRecord, Endpoint, ProjectRecord};

/// A SQLite value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sql(String),
    #[error("storage holds an unexpected value: {0}")]
    Corrupt(String),
    #[error("transaction rolled back")]
    RolledBack,
}

/// What a storage engine must offer: run one statement, and run a body atomically.
pub trait Sql {
    fn exec(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;

    /// Runs `body`; if it returns an error, none of its writes remain.
    fn atomically(
        &self,
        body: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// A borrowed engine is an engine (tests look at a database the store has opened).
impl<T: Sql + ?Sized> Sql for &T {
    fn exec(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        (**self).exec(sql, params)
    }

    fn atomically(
        &self,
        body: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        (**self).atomically(body)
    }
}

/// One result row, read by column position.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn value(&self, i: usize) -> Result<&Value, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("missing column {i}")))
    }

    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.value(i)? {
            Value::Integer(v) => Ok(*v),
            Value::Real(v) if v.fract() == 0.0 => Ok(*v as i64),
            other => Err(StoreError::Corrupt(format!("column {i}: {other:?}"))),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.value(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.value(i)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!("column {i}: {other:?}"))),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.value(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
}

/// Typed access to one project's database.
///
/// It keeps the rows nearly every request reads (the project, the bots) in memory: the store is
/// the only writer of its database (one Durable Object per project), so its own writes are the
/// only way they can change, and each such write forgets them.
pub struct Store<S: Sql> {
    sql: S,
    project: RefCell<Option<Option<(ProjectRecord, Endpoint)>>>,
    bots: RefCell<Option<Rc<[BotRecord]>>>,
}

impl<S: Sql> Store<S> {
    /// Opens the store, creating or upgrading the schema.
    pub fn open(sql: S) -> Result<Self, StoreError> {
        let store = Store {
            sql,
            project: RefCell::default(),
            bots: RefCell::default(),
        };
        schema::migrate(&store.sql)?;
        Ok(store)
    }

    /// Forgets the rows kept in memory: after a write to them, or a rolled-back transaction
    /// (which may have read its own writes).
    fn forget(&self) {
        self.project.take();
        self.bots.take();
    }

    fn exec(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        self.sql.exec(sql, params)
    }

    fn first(&self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.exec(sql, params)?.into_iter().next())
    }

    /// Runs `body` as one transaction: everything it wrote stays, or nothing does.
    pub fn transaction<T, E: From<StoreError>>(
        &self,
        body: impl FnOnce(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut body = Some(body);
        let mut outcome: Option<Result<T, E>> = None;
        let committed = self.sql.atomically(&mut || {
            let run = body.take().ok_or(StoreError::RolledBack)?;
            let result = run(self);
            let failed = result.is_err();
            outcome = Some(result);
            if failed {
                Err(StoreError::RolledBack)
            } else {
                Ok(())
            }
        });
        if !matches!((&committed, &outcome), (Ok(()), Some(Ok(_)))) {
            self.forget();
        }
        match (committed, outcome) {
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(Ok(v))) => Ok(v),
            (Err(e), _) => Err(e.into()),
            (Ok(()), None) => Err(StoreError::RolledBack.into()),
        }
    }
}
