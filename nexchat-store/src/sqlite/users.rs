//! Accounts. `username` is `COLLATE NOCASE`, so its unique index refuses a name taken in any
//! letter case and every comparison with it (lookup, search, exclude) ignores case.
//!
//! `erasure` is NULL for a live account, `pending` once an erasure has begun and `done` for the
//! tombstone that only keeps the name taken; every read and update of an account asks for
//! `erasure IS NULL`.

use async_trait::async_trait;
use nexchat_core::store::{Credentials, StoreError, StoreResult, UserRecord, UserStore};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{Fields, collect};
use super::{Error, SqliteStore, is_unique_violation, sql_limit};

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        let user = user.clone();
        self.write(move |conn, _| create_user(conn, &user)).await
    }

    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let username = username.to_owned();
        self.read(move |conn| find_user(conn, &username)).await
    }

    async fn set_public_key(&self, username: &str, public_key: &str) -> StoreResult<()> {
        let (username, public_key) = (username.to_owned(), public_key.to_owned());
        self.write(move |conn, _| set_public_key(conn, &username, &public_key))
            .await
    }

    async fn search_users(
        &self,
        prefix: &str,
        exclude: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let (prefix, exclude) = (prefix.to_owned(), exclude.to_owned());
        self.read(move |conn| search_users(conn, &prefix, &exclude, limit))
            .await
    }

    async fn replace_credentials(
        &self,
        username: &str,
        expected_hash: &str,
        credentials: &Credentials,
    ) -> StoreResult<bool> {
        let (username, expected_hash) = (username.to_owned(), expected_hash.to_owned());
        let credentials = credentials.clone();
        self.write_statement(move |conn, _| {
            let changed = conn
                .prepare_cached(
                    "UPDATE users SET password_hash = ?3, kdf = ?4, encrypted_private_key = ?5
                     WHERE username = ?1 AND password_hash = ?2 AND erasure IS NULL",
                )?
                .execute(params![
                    username,
                    expected_hash,
                    credentials.password_hash,
                    credentials.kdf,
                    credentials.encrypted_private_key
                ])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn mark_erasing(&self, username: &str) -> StoreResult<bool> {
        let username = username.to_owned();
        self.write_statement(move |conn, _| {
            let changed = conn
                .prepare_cached(
                    "UPDATE users SET erasure = 'pending' WHERE username = ?1 AND erasure IS NULL",
                )?
                .execute([username])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn erasing_users(&self) -> StoreResult<Vec<String>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT username FROM users WHERE erasure = 'pending'")?;
            let rows = stmt.query([])?;
            collect(rows, |row| Fields::new(row, "users", 0).get(0, "username"))
        })
        .await
    }

    async fn tombstone_user(&self, username: &str) -> StoreResult<()> {
        let username = username.to_owned();
        self.write_statement(move |conn, _| {
            conn.prepare_cached(
                "UPDATE users SET erasure = 'done', password_hash = NULL, public_key = NULL,
                     encrypted_private_key = NULL, kdf = NULL
                 WHERE username = ?1 AND erasure = 'pending'",
            )?
            .execute([username])?;
            Ok(())
        })
        .await
    }
}

fn create_user(conn: &Connection, user: &UserRecord) -> Result<(), Error> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO users
                 (username, password_hash, public_key, encrypted_private_key, created_at, kdf)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            user.username,
            user.password_hash,
            user.public_key,
            user.encrypted_private_key,
            user.created_at,
            user.kdf
        ]);
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            Err(StoreError::Conflict(format!("username {}", user.username)).into())
        }
        Err(e) => Err(e.into()),
    }
}

fn find_user(conn: &Connection, username: &str) -> Result<Option<UserRecord>, Error> {
    let found = conn
        .prepare_cached(
            "SELECT username, password_hash, public_key, encrypted_private_key, created_at, kdf
             FROM users WHERE username = ?1 AND erasure IS NULL",
        )?
        .query_row([username], |row| Ok(decode_user(row)))
        .optional()?;
    Ok(found.transpose()?)
}

fn decode_user(row: &Row<'_>) -> Result<UserRecord, StoreError> {
    let f = Fields::new(row, "users", 0);
    Ok(UserRecord {
        username: f.get(0, "username")?,
        password_hash: f.get(1, "password_hash")?,
        public_key: f.get(2, "public_key")?,
        encrypted_private_key: f.get(3, "encrypted_private_key")?,
        created_at: f.get(4, "created_at")?,
        kdf: f.get(5, "kdf")?,
    })
}

fn set_public_key(conn: &Connection, username: &str, public_key: &str) -> Result<(), Error> {
    let changed = conn
        .prepare_cached("UPDATE users SET public_key = ?2 WHERE username = ?1 AND erasure IS NULL")?
        .execute([username, public_key])?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("user {username}")).into());
    }
    Ok(())
}

/// The range `[prefix, prefix || U+10FFFF)` lets the unique index find the candidates (every
/// name that starts with `prefix` sorts inside it); the `substr` test then keeps exactly those
/// that start with it. `LIKE` is avoided on purpose: `_` is both a wildcard there and a legal
/// character in usernames.
fn search_users(
    conn: &Connection,
    prefix: &str,
    exclude: &str,
    limit: usize,
) -> Result<Vec<String>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT username FROM users
         WHERE username >= ?1 AND username < ?1 || char(1114111)
           AND substr(username, 1, length(?1)) = ?1 COLLATE NOCASE
           AND username <> ?2 AND erasure IS NULL
         ORDER BY username
         LIMIT ?3",
    )?;
    let rows = stmt.query(params![prefix, exclude, sql_limit(limit)])?;
    collect(rows, |row| Fields::new(row, "users", 0).get(0, "username"))
}
