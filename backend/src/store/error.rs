//! What can go wrong in the store, and which of it passes: a database that cannot take writes
//! now (full, unreachable, shutting down, read-only) is *unavailable* — the service answers 503
//! and tries again — while a conflict between transactions (a deadlock, a serialization failure)
//! is retried by the store itself, and anything else is a fault of its own.

/// A database error, or a conflict the caller should report as such.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database failed or could not be reached.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// Another process holds the embedded database.
    #[error("{0}")]
    InUse(String),
    /// A stored value could not be read back.
    #[error("a stored {what} could not be read: {message}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// Why.
        message: String,
    },
}

/// Why the database cannot take the work now, in words a client may read (no detail of the
/// database's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// No space left for the database.
    Full,
    /// The database cannot be reached, or the connection broke.
    Unreachable,
    /// The database is busy (locks, too many connections, transactions in conflict).
    Busy,
    /// The database takes no writes (a standby, a read-only file).
    ReadOnly,
}

impl Unavailable {
    /// For people: what is wrong.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Full => "the database has no space left",
            Self::Unreachable => "the database does not answer",
            Self::Busy => "the database is busy",
            Self::ReadOnly => "the database takes no writes",
        }
    }
}

/// SQLite's primary result codes that mean the database cannot take the work now.
fn sqlite_unavailable(code: i64) -> Option<Unavailable> {
    Some(match code & 0xff {
        13 => Unavailable::Full,
        5 | 6 => Unavailable::Busy,
        8 => Unavailable::ReadOnly,
        // IOERR, CANTOPEN, NOMEM, PROTOCOL, NOTADB-adjacent I/O trouble.
        7 | 10 | 14 | 15 => Unavailable::Unreachable,
        _ => return None,
    })
}

/// PostgreSQL's SQLSTATEs that mean the database cannot take the work now.
fn postgres_unavailable(state: &str) -> Option<Unavailable> {
    Some(match state {
        "53100" => Unavailable::Full,
        "25006" => Unavailable::ReadOnly,
        "40001" | "40P01" | "55P03" | "57014" => Unavailable::Busy,
        s if s.starts_with("53") => Unavailable::Busy,
        s if s.starts_with("08") || s.starts_with("57P") || s.starts_with("58") => {
            Unavailable::Unreachable
        }
        _ => return None,
    })
}

impl DbError {
    /// Why the database cannot take the work now, when that is what went wrong (it may pass).
    pub fn unavailable(&self) -> Option<Unavailable> {
        let Self::Sqlx(e) = self else {
            return None;
        };
        match e {
            sqlx::Error::Io(io) if io.raw_os_error() == Some(28) => Some(Unavailable::Full),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => Some(Unavailable::Unreachable),
            sqlx::Error::PoolTimedOut => Some(Unavailable::Busy),
            sqlx::Error::Database(db) => {
                if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    postgres_unavailable(pg.code())
                } else {
                    sqlite_unavailable(db.code()?.parse().ok()?)
                }
            }
            _ => None,
        }
    }

    /// Whether this is a conflict between transactions that the same work, tried again from the
    /// start, gets past (PostgreSQL's deadlock and serialization failure).
    pub fn is_conflict(&self) -> bool {
        match self {
            Self::Sqlx(sqlx::Error::Database(db)) => {
                matches!(db.code().as_deref(), Some("40001" | "40P01"))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_a_lost_connection_and_a_standby_are_unavailable_and_a_bug_is_not() {
        assert_eq!(sqlite_unavailable(13), Some(Unavailable::Full));
        // SQLITE_IOERR_WRITE, an extended code.
        assert_eq!(sqlite_unavailable(778), Some(Unavailable::Unreachable));
        assert_eq!(sqlite_unavailable(2067), None, "a unique constraint");
        assert_eq!(postgres_unavailable("53100"), Some(Unavailable::Full));
        assert_eq!(
            postgres_unavailable("57P01"),
            Some(Unavailable::Unreachable)
        );
        assert_eq!(
            postgres_unavailable("08006"),
            Some(Unavailable::Unreachable)
        );
        assert_eq!(postgres_unavailable("25006"), Some(Unavailable::ReadOnly));
        assert_eq!(postgres_unavailable("40P01"), Some(Unavailable::Busy));
        assert_eq!(postgres_unavailable("22P05"), None, "a NUL in text");
        assert_eq!(postgres_unavailable("23505"), None, "a unique violation");
        let closed = DbError::Sqlx(sqlx::Error::PoolClosed);
        assert_eq!(closed.unavailable(), Some(Unavailable::Unreachable));
        assert!(!closed.is_conflict());
        let corrupt = DbError::Corrupt {
            what: "spec",
            message: "m".into(),
        };
        assert_eq!(corrupt.unavailable(), None);
    }
}
