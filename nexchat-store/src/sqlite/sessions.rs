//! Login sessions: one row per open session, deleted when it ends.

use async_trait::async_trait;
use nexchat_core::store::{SessionRecord, SessionStore, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{Fields, collect};
use super::{Error, SqliteStore, is_unique_violation};

const COLUMNS: &str = "id, username, created_at, last_seen_at, expires_at, user_agent";

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let session = session.clone();
        self.write_statement(move |conn, _| create_session(conn, &session))
            .await
    }

    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        let id = id.to_owned();
        self.read(move |conn| {
            let found = conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"))?
                .query_row([&id], |row| Ok(decode_session(row)))
                .optional()?;
            Ok(found.transpose()?)
        })
        .await
    }

    async fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>> {
        let username = username.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM sessions WHERE username = ?1
                 ORDER BY created_at DESC, id DESC"
            ))?;
            collect(stmt.query([&username])?, decode_session)
        })
        .await
    }

    async fn existing_sessions(&self, ids: &[String]) -> StoreResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        // One primary-key lookup per id on one reader: in-process, each costs microseconds.
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT 1 FROM sessions WHERE id = ?1")?;
            let mut found = Vec::new();
            for id in ids {
                if stmt.exists([&id])? {
                    found.push(id);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn touch_session(&self, id: &str, at: i64) -> StoreResult<()> {
        let id = id.to_owned();
        self.write_statement(move |conn, _| {
            conn.prepare_cached(
                "UPDATE sessions SET last_seen_at = ?2 WHERE id = ?1 AND last_seen_at < ?2",
            )?
            .execute(params![id, at])?;
            Ok(())
        })
        .await
    }

    async fn delete_session(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write_statement(move |conn, _| {
            let deleted = conn
                .prepare_cached("DELETE FROM sessions WHERE id = ?1")?
                .execute([&id])?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn delete_expired_sessions(&self, username: &str, now: i64) -> StoreResult<u64> {
        let username = username.to_owned();
        self.write_statement(move |conn, _| {
            let deleted = conn
                .prepare_cached("DELETE FROM sessions WHERE username = ?1 AND expires_at <= ?2")?
                .execute(params![username, now])?;
            Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
        })
        .await
    }
}

fn create_session(conn: &Connection, session: &SessionRecord) -> Result<(), Error> {
    let inserted = conn
        .prepare_cached(&format!(
            "INSERT INTO sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))?
        .execute(params![
            session.id,
            session.username,
            session.created_at,
            session.last_seen_at,
            session.expires_at,
            session.user_agent
        ]);
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            Err(StoreError::Conflict(format!("session {}", session.id)).into())
        }
        Err(e) => Err(e.into()),
    }
}

fn decode_session(row: &Row<'_>) -> Result<SessionRecord, StoreError> {
    let f = Fields::new(row, "sessions", 0);
    Ok(SessionRecord {
        id: f.get(0, "id")?,
        username: f.get(1, "username")?,
        created_at: f.get(2, "created_at")?,
        last_seen_at: f.get(3, "last_seen_at")?,
        expires_at: f.get(4, "expires_at")?,
        user_agent: f.get(5, "user_agent")?,
    })
}
