//! Friend links. A pair has at most one link whoever sent it: the unique index on the
//! direction-free `(pair_lo, pair_hi)` enforces that, and finds the link from either side.
//! Every method is one statement or runs on the writer (which serialises the read-then-write of
//! `create_request`), so each is one atomic step as the trait requires.

use async_trait::async_trait;
use nexchat_core::store::{FriendLink, FriendStore, LinkStatus, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{Fields, collect};
use super::{Error, SqliteStore, pair};

#[async_trait]
impl FriendStore for SqliteStore {
    async fn link(&self, a: &str, b: &str) -> StoreResult<Option<FriendLink>> {
        let (a, b) = (a.to_owned(), b.to_owned());
        self.read(move |conn| Ok(find_link(conn, &a, &b)?.map(|(_, link)| link)))
            .await
    }

    async fn create_request(&self, sender: &str, receiver: &str) -> StoreResult<bool> {
        let (sender, receiver) = (sender.to_owned(), receiver.to_owned());
        self.write(move |conn, _| create_request(conn, &sender, &receiver))
            .await
    }

    async fn transition_link(
        &self,
        sender: &str,
        receiver: &str,
        from: LinkStatus,
        to: LinkStatus,
    ) -> StoreResult<bool> {
        let (sender, receiver) = (sender.to_owned(), receiver.to_owned());
        self.write(move |conn, _| {
            let changed = conn
                .prepare_cached(
                    "UPDATE friend_links SET status = ?4
                     WHERE sender = ?1 AND receiver = ?2 AND status = ?3",
                )?
                .execute([&sender, &receiver, from.as_str(), to.as_str()])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn delete_link(
        &self,
        sender: &str,
        receiver: &str,
        status: LinkStatus,
    ) -> StoreResult<bool> {
        let (sender, receiver) = (sender.to_owned(), receiver.to_owned());
        self.write(move |conn, _| {
            let deleted = conn
                .prepare_cached(
                    "DELETE FROM friend_links WHERE sender = ?1 AND receiver = ?2 AND status = ?3",
                )?
                .execute([&sender, &receiver, status.as_str()])?;
            Ok(deleted == 1)
        })
        .await
    }

    async fn links_of(&self, user: &str) -> StoreResult<Vec<FriendLink>> {
        let user = user.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT sender, receiver, status FROM friend_links
                 WHERE sender = ?1 OR receiver = ?1 ORDER BY rowid",
            )?;
            let rows = stmt.query([&user])?;
            collect(rows, decode_link)
        })
        .await
    }

    async fn are_friends(&self, a: &str, b: &str) -> StoreResult<bool> {
        let (a, b) = (a.to_owned(), b.to_owned());
        self.read(move |conn| {
            let (lo, hi) = pair(&a, &b);
            let found = conn
                .prepare_cached(
                    "SELECT 1 FROM friend_links
                     WHERE pair_lo = ?1 AND pair_hi = ?2 AND status = 'accepted'",
                )?
                .query_row([lo, hi], |_| Ok(()))
                .optional()?;
            Ok(found.is_some())
        })
        .await
    }

    async fn delete_links_of(&self, user: &str) -> StoreResult<()> {
        let user = user.to_owned();
        // Two statements, each served by an index (the primary key, `friend_links_receiver`).
        self.write(move |conn, _| {
            conn.prepare_cached("DELETE FROM friend_links WHERE sender = ?1")?
                .execute([&user])?;
            conn.prepare_cached("DELETE FROM friend_links WHERE receiver = ?1")?
                .execute([&user])?;
            Ok(())
        })
        .await
    }
}

/// The pair's link and its rowid.
fn find_link(conn: &Connection, a: &str, b: &str) -> Result<Option<(i64, FriendLink)>, Error> {
    let (lo, hi) = pair(a, b);
    let found = conn
        .prepare_cached(
            "SELECT sender, receiver, status, rowid FROM friend_links
             WHERE pair_lo = ?1 AND pair_hi = ?2",
        )?
        .query_row([lo, hi], |row| {
            Ok(decode_link(row).and_then(|link| {
                let rowid =
                    Fields::with_id(row, "friend_links", link_id(&link)).get::<i64>(3, "rowid")?;
                Ok((rowid, link))
            }))
        })
        .optional()?;
    Ok(found.transpose()?)
}

fn create_request(conn: &Connection, sender: &str, receiver: &str) -> Result<bool, Error> {
    match find_link(conn, sender, receiver)? {
        None => {
            conn.prepare_cached(
                "INSERT INTO friend_links (sender, receiver, status) VALUES (?1, ?2, 'pending')",
            )?
            .execute([sender, receiver])?;
            Ok(true)
        }
        Some((rowid, link)) if link.status == LinkStatus::Rejected => {
            // Asking again after a refusal (by either side) makes a fresh request from `sender`.
            conn.prepare_cached(
                "UPDATE friend_links SET sender = ?2, receiver = ?3, status = 'pending'
                 WHERE rowid = ?1",
            )?
            .execute(params![rowid, sender, receiver])?;
            Ok(true)
        }
        Some(_) => Ok(false),
    }
}

fn link_id(link: &FriendLink) -> String {
    format!("{}->{}", link.sender, link.receiver)
}

fn decode_link(row: &Row<'_>) -> Result<FriendLink, StoreError> {
    let sender: String = Fields::new(row, "friend_links", 0).get(0, "sender")?;
    let receiver: String = Fields::new(row, "friend_links", 1).get(1, "receiver")?;
    let f = Fields::with_id(row, "friend_links", format!("{sender}->{receiver}"));
    Ok(FriendLink {
        status: f.parse(2, "status", LinkStatus::parse)?,
        sender,
        receiver,
    })
}
