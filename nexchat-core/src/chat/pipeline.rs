//! Per-socket pipelining of the writes a client streams: sends and ticks.
//!
//! A client may send its next message before the last one is acknowledged, and acknowledges
//! every message it receives. Were each frame's durable write awaited before the next frame is
//! read, a socket would move one message or tick per commit. Instead, these writes overlap,
//! while everything the socket sees keeps the order its frames came in:
//! - each send is checked (friend guard, rate, timestamp) as its frame arrives, in frame order;
//! - the checked messages go to the store as one ordered batch
//!   ([`crate::store::MessageStore::insert_messages`]) while the next batch gathers behind it;
//! - acknowledgements, refusals and pushes of sends go out in frame order once their batch is
//!   stored;
//! - ticks (`message_delivered`, `message_seen`) run beside the sends and each other: the store
//!   only ever moves a tick forward, so their order cannot matter, and they concern messages to
//!   this user where sends concern messages from them;
//! - any other frame waits until every send and tick before it is answered, so it sees them
//!   stored.
//!
//! At most [`crate::Limits::writes_in_flight`] writes wait per socket; past that the socket is
//! not read until one is answered. The writes run on tasks of their own, so writes already
//! checked are stored, answered and pushed even if the socket closes meanwhile.

use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Chat;
use crate::error::ChatError;
use crate::friend_guard::Pass;
use crate::protocol::{MessageStatus, StoredMessage};
use crate::session::Session;
use crate::store::{Inserted, StoreResult};

/// The writes of one session that are on their way to the store.
#[derive(Debug)]
pub(crate) struct WritePipeline {
    queue: Mutex<Queue>,
    room: Arc<Semaphore>,
    depth: u32,
}

#[derive(Debug, Default)]
struct Queue {
    /// Every waiting send, in frame order.
    steps: Vec<Queued>,
    /// The messages of the [`Answer::Stored`] sends, in the same order.
    messages: Vec<StoredMessage>,
    /// Whether a task is writing batches.
    flushing: bool,
}

#[derive(Debug)]
struct Queued {
    answer: Answer,
    /// The message id a refusal names.
    reference: Option<String>,
    /// Held until the send is answered: the room it takes in the pipeline.
    _permit: OwnedSemaphorePermit,
}

/// How a queued send is answered.
#[derive(Debug)]
enum Answer {
    /// By the store's answer to its message, the next one of the batch. A rate token was taken
    /// at `charged_at` (ms) and is given back unless the message turns out new. The friend
    /// guard's pass is held until the message is pushed, so an unfriend waits for it.
    Stored { charged_at: i64, _pass: Pass },
    /// A resend of a stored message: acknowledged again.
    Resend(StoredMessage),
    /// Refused by the checks.
    Refuse(ChatError),
}

/// A send that passed its checks.
#[derive(Debug)]
pub(super) enum Checked {
    /// A message to store, which took a rate token at `charged_at` (ms), between two users
    /// who stay friends while `pass` is held.
    Store {
        message: StoredMessage,
        charged_at: i64,
        pass: Pass,
    },
    /// A resend of a stored message by a sender out of rate tokens: acknowledged again, free.
    Resend(StoredMessage),
}

impl WritePipeline {
    pub(crate) fn new(depth: usize) -> Self {
        // `acquire_many` counts in u32.
        let depth = u32::try_from(depth).unwrap_or(u32::MAX).max(1);
        Self {
            queue: Mutex::default(),
            room: Arc::new(Semaphore::new(depth as usize)),
            depth,
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock()
    }

    /// Waits for room for one more write.
    async fn room(&self) -> OwnedSemaphorePermit {
        Arc::clone(&self.room)
            .acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("the pipeline's semaphore is never closed"))
    }

    /// Waits until every write queued so far is answered.
    pub(crate) async fn drained(&self) {
        // Permits are handed out first come, first served: this waits behind every write
        // already queued and holds the room only for a moment.
        drop(self.room.acquire_many(self.depth).await);
    }

    /// Queues a checked send; true when no task is writing batches and the caller must start
    /// one.
    fn push(
        &self,
        checked: Result<Checked, ChatError>,
        reference: Option<String>,
        permit: OwnedSemaphorePermit,
    ) -> bool {
        let mut queue = self.queue();
        let answer = match checked {
            Ok(Checked::Store {
                message,
                charged_at,
                pass,
            }) => {
                queue.messages.push(message);
                Answer::Stored {
                    charged_at,
                    _pass: pass,
                }
            }
            Ok(Checked::Resend(existing)) => Answer::Resend(existing),
            Err(err) => Answer::Refuse(err),
        };
        queue.steps.push(Queued {
            answer,
            reference,
            _permit: permit,
        });
        !std::mem::replace(&mut queue.flushing, true)
    }

    /// Everything queued, or `None` (and no task writing any more) when nothing is.
    fn take_batch(&self) -> Option<(Vec<Queued>, Vec<StoredMessage>)> {
        let mut queue = self.queue();
        if queue.steps.is_empty() {
            queue.flushing = false;
            return None;
        }
        Some((
            std::mem::take(&mut queue.steps),
            std::mem::take(&mut queue.messages),
        ))
    }
}

impl Chat {
    /// Checks a send in frame order and queues it behind the session's earlier sends.
    pub(super) async fn queue_send(
        &self,
        session: &Session,
        receiver: &str,
        ciphertext: String,
        iv: String,
        id: Option<String>,
        attachments: Vec<String>,
    ) {
        let pipeline = session.writes();
        let permit = pipeline.room().await;
        let reference = id.clone();
        let checked = self
            .check_send(session, receiver, ciphertext, iv, id, attachments)
            .await;
        if pipeline.push(checked, reference, permit) {
            tokio::spawn(self.clone().flush_sends(session.clone()));
        }
    }

    /// Moves messages to the session's user forward to `status` beside the session's other
    /// writes.
    pub(super) async fn queue_tick(
        &self,
        session: &Session,
        from: String,
        ids: Option<Vec<String>>,
        status: MessageStatus,
    ) {
        let permit = session.writes().room().await;
        let (chat, session) = (self.clone(), session.clone());
        tokio::spawn(async move {
            if let Err(err) = chat.acknowledge(&session, &from, ids, status).await {
                chat.refuse(&session, &err, None);
            }
            drop(permit);
        });
    }

    /// Writes the session's queued sends batch by batch, answering each in frame order, until
    /// none is left.
    async fn flush_sends(self, session: Session) {
        while let Some((steps, messages)) = session.writes().take_batch() {
            let mut stored = self.store().insert_messages(messages).await.into_iter();
            for queued in steps {
                let outcome = match queued.answer {
                    Answer::Stored { charged_at, .. } => match stored.next() {
                        Some(result) => self.answer_stored(&session, result, charged_at),
                        None => Err(ChatError::Internal(
                            "the store answered fewer messages than it was given".into(),
                        )),
                    },
                    Answer::Resend(existing) => self.acknowledge_resend(&session, existing),
                    Answer::Refuse(err) => Err(err),
                };
                if let Err(err) = outcome {
                    self.refuse(&session, &err, queued.reference);
                }
            }
        }
    }

    /// Acknowledges and pushes a newly stored message; a resend is acknowledged again and its
    /// rate token given back, as is the token of a message that could not be stored.
    fn answer_stored(
        &self,
        session: &Session,
        result: StoreResult<Inserted>,
        charged_at: i64,
    ) -> Result<(), ChatError> {
        match result {
            Ok(Inserted::New(stored)) => {
                self.deliver_new(session, stored);
                Ok(())
            }
            Ok(Inserted::Existing(existing)) => {
                self.inner.message_rate.refund(session.user(), charged_at);
                self.acknowledge_resend(session, existing)
            }
            Err(err) => {
                self.inner.message_rate.refund(session.user(), charged_at);
                Err(err.into())
            }
        }
    }
}
