//! Deleting everything of one user (account erasure) without holding up the writer.
//!
//! No index finds a user's messages or calls on both ends (adding one would cost every message
//! a page write, see the schema's version 3), so they are found by scanning the table. One scan
//! of a whole large table in a single writer job would stall every other write for its length;
//! instead each job deletes within one range of `seq` of [`CHUNK`] rows, and other writes commit
//! between the jobs. A rerun after an interruption finds nothing left in the ranges already done.

use nexchat_core::store::StoreResult;
use rusqlite::Connection;

use super::{Error, SqliteStore};

/// Rows of `seq` scanned by one writer job.
const CHUNK: i64 = 20_000;

/// A table holding rows of two users, with the columns naming them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Parties {
    pub(super) table: &'static str,
    pub(super) first: &'static str,
    pub(super) second: &'static str,
}

/// `messages`: sender and receiver.
pub(super) const MESSAGES: Parties = Parties {
    table: "messages",
    first: "sender",
    second: "receiver",
};

/// `calls`: caller and callee.
pub(super) const CALLS: Parties = Parties {
    table: "calls",
    first: "caller",
    second: "callee",
};

impl SqliteStore {
    /// Deletes every row of `parties.table` with `user` on either end, one range of `seq` per
    /// writer job.
    pub(super) async fn delete_rows_of(&self, parties: Parties, user: &str) -> StoreResult<()> {
        self.delete_rows_in_chunks(parties, user, CHUNK).await
    }

    async fn delete_rows_in_chunks(
        &self,
        parties: Parties,
        user: &str,
        chunk: i64,
    ) -> StoreResult<()> {
        let Parties { table, .. } = parties;
        let last: i64 = self
            .read(move |conn| {
                let last = conn
                    .prepare_cached(&format!("SELECT coalesce(max(seq), 0) FROM {table}"))?
                    .query_row([], |row| row.get(0))?;
                Ok(last)
            })
            .await?;
        let mut from = 0;
        while from < last {
            let to = from.saturating_add(chunk);
            let user = user.to_owned();
            self.write_statement(move |conn, _| delete_range(conn, parties, &user, from, to))
                .await?;
            from = to;
        }
        Ok(())
    }
}

fn delete_range(
    conn: &Connection,
    parties: Parties,
    user: &str,
    from: i64,
    to: i64,
) -> Result<(), Error> {
    let Parties {
        table,
        first,
        second,
    } = parties;
    conn.prepare_cached(&format!(
        "DELETE FROM {table} WHERE seq > ?1 AND seq <= ?2 AND ({first} = ?3 OR {second} = ?3)"
    ))?
    .execute(rusqlite::params![from, to, user])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use nexchat_core::protocol::{MessageStatus, StoredMessage};
    use nexchat_core::store::MessageStore;

    use super::{MESSAGES, SqliteStore};

    fn message(i: usize, sender: &str, receiver: &str) -> StoredMessage {
        StoredMessage {
            id: format!("m{i}"),
            sender: sender.to_owned(),
            receiver: receiver.to_owned(),
            ciphertext: "Y2lwaGVy".to_owned(),
            iv: "aXY=".to_owned(),
            timestamp: 1_700_000_000_000,
            status: MessageStatus::Sent,
        }
    }

    /// Chunks smaller than the table: every row of the user goes, whichever chunk it is in
    /// (the first and last `seq` included), and no row of anyone else.
    #[tokio::test]
    async fn deletes_across_many_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("chat.db")).unwrap();
        let messages: Vec<_> = (0..23)
            .map(|i| match i % 3 {
                0 => message(i, "alice", "bob"),
                1 => message(i, "carol", "alice"),
                _ => message(i, "bob", "carol"),
            })
            .collect();
        for result in store.insert_messages(messages.clone()).await {
            result.unwrap();
        }
        store
            .delete_rows_in_chunks(MESSAGES, "alice", 4)
            .await
            .unwrap();
        for m in &messages {
            let kept = store.get_message(&m.id).await.unwrap().is_some();
            let theirs = m.sender == "alice" || m.receiver == "alice";
            assert_eq!(
                kept, !theirs,
                "{} from {} to {}",
                m.id, m.sender, m.receiver
            );
        }
    }
}
