//! One open socket of one user, and the outbox its writer drains.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use crate::chat::WritePipeline;
use crate::config::Limits;

/// Identifies a session within one server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u64);

impl SessionId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number: with the node's id, it names a socket to the other nodes.
    pub(crate) fn number(self) -> u64 {
        self.0
    }
}

/// Why and how a session is being closed, as a WebSocket close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseReason {
    /// WebSocket close code (1008 policy violation, 4001 token expired, ...).
    pub code: u16,
    /// Short text for the close frame.
    pub reason: &'static str,
}

impl CloseReason {
    /// A close frame with this code and text (the text at most 123 bytes, as WebSocket allows).
    pub const fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }

    /// The session's token expired.
    pub const TOKEN_EXPIRED: Self = Self {
        code: 4001,
        reason: "token expired",
    };
    /// The session ended: logout, revoked, password changed or account deleted.
    pub const SESSION_ENDED: Self = Self {
        code: 4003,
        reason: "session ended",
    };
    /// Too many refusals, or a frame past the hard size limit.
    pub const POLICY: Self = Self {
        code: 1008,
        reason: "policy violation",
    };
    /// The outbox filled up: the client reads too slowly.
    pub const TOO_SLOW: Self = Self {
        code: 1008,
        reason: "client too slow",
    };
    /// The server is shutting down.
    pub const GOING_AWAY: Self = Self {
        code: 1001,
        reason: "server shutting down",
    };
    /// The peer closed the socket; this answers its close frame.
    pub const NORMAL: Self = Self {
        code: 1000,
        reason: "",
    };
    /// A text frame that is not valid UTF-8.
    pub const INVALID_TEXT: Self = Self {
        code: 1007,
        reason: "text frame is not valid UTF-8",
    };
    /// The user already has as many sockets open as allowed.
    pub const TOO_MANY_SOCKETS: Self = Self {
        code: 1008,
        reason: "too many sockets",
    };
    /// The server could not set the session up (its store failed).
    pub const SERVER_ERROR: Self = Self {
        code: 1011,
        reason: "server error",
    };
}

/// What a session's writer task receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// One encoded JSON text frame (shared between every session it fans out to).
    Frame(Arc<str>),
    /// Close the socket with this reason; nothing more follows.
    Close(CloseReason),
}

#[derive(Debug, Default)]
struct CloseSignal {
    reason: OnceLock<CloseReason>,
    /// When the close was asked for: the writer's deadline for the close frame counts from it.
    at: OnceLock<tokio::time::Instant>,
    notify: Notify,
}

/// The bytes queued to one socket and not yet taken by its writer, against the socket's budget
/// ([`Limits::outbox_bytes`]): what one socket can make the server hold is bounded in bytes,
/// whatever the frames' count or size.
#[derive(Debug)]
struct Budget {
    queued: AtomicUsize,
    max: usize,
}

impl Budget {
    /// Counts `len` more bytes; false, counting nothing, when they would pass the budget.
    fn admit(&self, len: usize) -> bool {
        let before = self.queued.fetch_add(len, Ordering::AcqRel);
        if before.saturating_add(len) > self.max {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn release(&self, len: usize) {
        self.queued.fetch_sub(len, Ordering::AcqRel);
    }
}

/// Room for one more answer a socket asked for (a page of history, a page of its greeting).
/// Held until the writer has taken the answer's last frame: a socket has at most
/// [`Limits::answers_in_flight`] such answers queued, and its next request is not read until
/// one drains. Dropping it unused gives the room back.
#[derive(Debug)]
pub(crate) struct AnswerSlot {
    _permit: OwnedSemaphorePermit,
}

/// One queued frame, with the answer slot it frees once written.
#[derive(Debug)]
struct Queued {
    frame: Arc<str>,
    _slot: Option<AnswerSlot>,
}

/// Pushes that reach a new session while its greeting is being sent wait here, so the greeting
/// (`online_users` … `sync_done`) is always the first thing the socket sees. Held frames count
/// against the socket's byte budget like queued ones.
#[derive(Debug)]
struct Hold {
    /// False once released: pushes then skip the lock.
    active: AtomicBool,
    frames: Mutex<Option<Vec<HeldFrame>>>,
}

/// A push held behind the greeting.
#[derive(Debug)]
struct HeldFrame {
    frame: Arc<str>,
    /// A `presence` event: the greeting's `online_users` supersedes it when read after it.
    presence: bool,
}

impl Hold {
    fn holding() -> Self {
        Self {
            active: AtomicBool::new(true),
            frames: Mutex::new(Some(Vec::new())),
        }
    }

    fn frames(&self) -> MutexGuard<'_, Option<Vec<HeldFrame>>> {
        self.frames.lock()
    }
}

/// The sending half of a session, held by the [`crate::Hub`] and by the [`Session`] itself.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    pub(crate) id: SessionId,
    pub(crate) expires_at: Option<i64>,
    tx: mpsc::Sender<Queued>,
    close: Arc<CloseSignal>,
    hold: Arc<Hold>,
    budget: Arc<Budget>,
}

impl SessionHandle {
    /// Queues a pushed frame, behind the greeting while that is still being sent.
    pub(crate) fn push(&self, frame: &Arc<str>) {
        self.push_held(frame, false);
    }

    /// Queues a `presence` frame like [`Self::push`]; held behind the greeting, it is dropped
    /// if the greeting's list of who is online is read after it (see
    /// [`Session::forget_held_presence`]).
    pub(crate) fn push_presence(&self, frame: &Arc<str>) {
        self.push_held(frame, true);
    }

    fn push_held(&self, frame: &Arc<str>, presence: bool) {
        if self.hold.active.load(Ordering::Acquire) {
            let mut held = self.hold.frames();
            if let Some(frames) = held.as_mut() {
                if frames.len() >= self.tx.max_capacity() || !self.budget.admit(frame.len()) {
                    tracing::warn!(
                        session = self.id.0,
                        "too much held during greeting; closing"
                    );
                    self.close(CloseReason::TOO_SLOW);
                } else {
                    frames.push(HeldFrame {
                        frame: Arc::clone(frame),
                        presence,
                    });
                }
                return;
            }
        }
        self.enqueue(Arc::clone(frame), None);
    }

    /// Queues a frame; a session whose outbox is full, in frames or in bytes, is closed rather
    /// than allowed to grow.
    fn enqueue(&self, frame: Arc<str>, slot: Option<AnswerSlot>) {
        if self.close.reason.get().is_some() {
            return;
        }
        if !self.budget.admit(frame.len()) {
            tracing::warn!(
                session = self.id.0,
                "outbox over its byte budget; closing a slow session"
            );
            self.close(CloseReason::TOO_SLOW);
            return;
        }
        self.enqueue_admitted(frame, slot);
    }

    /// Queues a frame whose bytes the budget already counts.
    fn enqueue_admitted(&self, frame: Arc<str>, slot: Option<AnswerSlot>) {
        let len = frame.len();
        match self.tx.try_send(Queued { frame, _slot: slot }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.budget.release(len);
                tracing::warn!(session = self.id.0, "outbox full; closing a slow session");
                self.close(CloseReason::TOO_SLOW);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.budget.release(len),
        }
    }

    /// Bytes queued to this socket and not yet taken by its writer.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.budget.queued.load(Ordering::Acquire)
    }

    /// Asks the writer to close the socket (the first reason wins).
    pub(crate) fn close(&self, reason: CloseReason) {
        if self.close.reason.set(reason).is_ok() {
            let _ = self.close.at.set(tokio::time::Instant::now());
            self.close.notify.notify_one();
        }
    }
}

/// One open socket of one user. The adapter gets it from [`crate::transport::Transport::connect`],
/// sends the greeting with [`crate::transport::Transport::greet`] while its writer drains the
/// [`SessionOutbox`], then feeds each incoming frame to
/// [`crate::transport::Transport::handle_frame`], and hands it back to
/// [`crate::transport::Transport::disconnect`] when the socket closes. Clones are the same
/// socket.
#[derive(Debug, Clone)]
pub struct Session {
    user: Arc<str>,
    handle: SessionHandle,
    refusals: Arc<Mutex<VecDeque<i64>>>,
    writes: Arc<WritePipeline>,
    answers: Arc<Semaphore>,
}

impl Session {
    pub(crate) fn new(
        user: &str,
        expires_at: Option<i64>,
        limits: &Limits,
    ) -> (Self, SessionOutbox) {
        let (tx, rx) = mpsc::channel(limits.outbox_frames.max(1));
        let close = Arc::new(CloseSignal::default());
        let budget = Arc::new(Budget {
            queued: AtomicUsize::new(0),
            max: limits.outbox_bytes,
        });
        let handle = SessionHandle {
            id: SessionId::next(),
            expires_at,
            tx,
            close: Arc::clone(&close),
            hold: Arc::new(Hold::holding()),
            budget: Arc::clone(&budget),
        };
        let session = Self {
            user: user.into(),
            handle,
            refusals: Arc::default(),
            writes: Arc::new(WritePipeline::new(limits.writes_in_flight)),
            answers: Arc::new(Semaphore::new(limits.answers_in_flight.max(1))),
        };
        let outbox = SessionOutbox { rx, close, budget };
        (session, outbox)
    }

    /// The session's user, as registered.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// This session's id.
    pub fn id(&self) -> SessionId {
        self.handle.id
    }

    /// When the session's token expires (ms), if it does.
    pub fn expires_at(&self) -> Option<i64> {
        self.handle.expires_at
    }

    pub(crate) fn handle(&self) -> &SessionHandle {
        &self.handle
    }

    /// The socket's writes on their way to the store.
    pub(crate) fn writes(&self) -> &WritePipeline {
        &self.writes
    }

    /// Sends an answer to this socket only. Answers are never held: a socket's frames are read
    /// only once its greeting is queued.
    pub(crate) fn send(&self, frame: Arc<str>) {
        self.handle.enqueue(frame, None);
    }

    /// Waits for room for one more large answer (see [`AnswerSlot`]): the socket's next frame
    /// is not read meanwhile, so a client that asks without reading stalls instead of making
    /// the server hold its answers. `None` only if the socket's slots are gone (never, in
    /// practice); the answer then goes without one.
    pub(crate) async fn answer_slot(&self) -> Option<AnswerSlot> {
        Arc::clone(&self.answers)
            .acquire_owned()
            .await
            .ok()
            .map(|permit| AnswerSlot { _permit: permit })
    }

    /// Sends the frames of one large answer, in order, freeing `slot` once the last is taken.
    pub(crate) fn send_answer(&self, frames: Vec<Arc<str>>, slot: Option<AnswerSlot>) {
        let mut slot = slot;
        let last = frames.len().saturating_sub(1);
        for (i, frame) in frames.into_iter().enumerate() {
            let slot = if i == last { slot.take() } else { None };
            self.handle.enqueue(frame, slot);
        }
    }

    /// The greeting is queued: sends the pushes held back meanwhile, in order, and lets later
    /// pushes straight through.
    pub(crate) fn release_held(&self) {
        let hold = &self.handle.hold;
        // Enqueued under the lock, so a push racing with the release lands after them.
        let mut held = hold.frames();
        for held in held.take().unwrap_or_default() {
            self.handle.enqueue_admitted(held.frame, None);
        }
        hold.active.store(false, Ordering::Release);
    }

    /// Drops the `presence` events held so far, before the greeting reads who is online: each
    /// was pushed after its change was recorded, so that list already holds the change (or a
    /// later one), and the socket would otherwise hear of it twice. Events pushed after this
    /// call stay held and follow the greeting.
    pub(crate) fn forget_held_presence(&self) {
        let mut held = self.handle.hold.frames();
        if let Some(frames) = held.as_mut() {
            frames.retain(|held| {
                if held.presence {
                    self.handle.budget.release(held.frame.len());
                }
                !held.presence
            });
        }
    }

    /// Whether this socket is being closed: frames still read from it are not acted on.
    pub fn is_closing(&self) -> bool {
        self.handle.close.reason.get().is_some()
    }

    /// Closes this socket.
    pub fn close(&self, reason: CloseReason) {
        self.handle.close(reason);
    }

    /// Counts one `too_large`/`rate_limited` refusal; true when the socket has now drawn more
    /// than `max` within `window_ms` and must be closed.
    pub(crate) fn count_refusal(&self, now_ms: i64, max: u32, window_ms: i64) -> bool {
        let mut refusals = self.refusals.lock();
        refusals.push_back(now_ms);
        while refusals.front().is_some_and(|t| now_ms - t >= window_ms) {
            refusals.pop_front();
        }
        refusals.len() > max as usize
    }
}

/// The receiving half of a session: the adapter's writer task drains it.
#[derive(Debug)]
pub struct SessionOutbox {
    rx: mpsc::Receiver<Queued>,
    close: Arc<CloseSignal>,
    budget: Arc<Budget>,
}

impl SessionOutbox {
    /// Takes a queued frame off the budget (and frees its answer slot) as the writer takes it.
    fn take(&self, queued: Queued) -> Outbound {
        self.budget.release(queued.frame.len());
        Outbound::Frame(queued.frame)
    }

    /// The next thing to write if one is ready now, without waiting: lets a writer gather every
    /// queued frame into one flush.
    pub fn try_next(&mut self) -> Option<Outbound> {
        if let Some(reason) = self.close.reason.get() {
            return Some(Outbound::Close(reason.clone()));
        }
        let queued = self.rx.try_recv().ok()?;
        Some(self.take(queued))
    }

    /// The next thing to write: the greeting first, then answers and pushes in the order they
    /// were queued. A close request wins over queued frames, so a session closed for being slow
    /// does not first drain its backlog. `None` when every sender is gone.
    pub async fn next(&mut self) -> Option<Outbound> {
        loop {
            if let Some(reason) = self.close.reason.get() {
                return Some(Outbound::Close(reason.clone()));
            }
            tokio::select! {
                biased;
                () = self.close.notify.notified() => continue,
                queued = self.rx.recv() => return queued.map(|q| self.take(q)),
            }
        }
    }

    /// When the session was asked to close, if it was: a writer's deadline for the close frame
    /// counts from then, not from when it got round to writing it.
    pub fn close_requested_at(&self) -> Option<tokio::time::Instant> {
        self.close.at.get().copied()
    }
}
