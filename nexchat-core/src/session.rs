//! One open socket of one user, and the outbox its writer drains.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{Notify, mpsc};

use crate::chat::WritePipeline;
use crate::config::Limits;

/// Identifies a session within one server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u64);

impl SessionId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Why and how a session is being closed, as a WebSocket close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// WebSocket close code (1008 policy violation, 4001 token expired, ...).
    pub code: u16,
    /// Short text for the close frame.
    pub reason: &'static str,
}

impl CloseReason {
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
    notify: Notify,
}

/// Pushes that reach a new session while its greeting is being put together wait here, so the
/// greeting (`online_users` … `sync_done`) is always the first thing the socket sees.
#[derive(Debug)]
struct Hold {
    /// False once released: pushes then skip the lock.
    active: AtomicBool,
    frames: Mutex<Option<Vec<Arc<str>>>>,
}

impl Hold {
    fn holding() -> Self {
        Self {
            active: AtomicBool::new(true),
            frames: Mutex::new(Some(Vec::new())),
        }
    }

    fn frames(&self) -> std::sync::MutexGuard<'_, Option<Vec<Arc<str>>>> {
        self.frames.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending half of a session, held by the [`crate::Hub`] and by the [`Session`] itself.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    pub(crate) id: SessionId,
    pub(crate) expires_at: Option<i64>,
    tx: mpsc::Sender<Arc<str>>,
    close: Arc<CloseSignal>,
    hold: Arc<Hold>,
}

impl SessionHandle {
    /// Queues a pushed frame, behind the greeting while that is still being assembled.
    pub(crate) fn push(&self, frame: &Arc<str>) {
        if self.hold.active.load(Ordering::Acquire) {
            let mut held = self.hold.frames();
            if let Some(frames) = held.as_mut() {
                if frames.len() < self.tx.max_capacity() {
                    frames.push(Arc::clone(frame));
                } else {
                    tracing::warn!(
                        session = self.id.0,
                        "too much held during greeting; closing"
                    );
                    self.close(CloseReason::TOO_SLOW);
                }
                return;
            }
        }
        self.enqueue(frame);
    }

    /// Queues a frame; a session whose outbox is full is closed rather than allowed to grow.
    fn enqueue(&self, frame: &Arc<str>) {
        if self.close.reason.get().is_some() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(Arc::clone(frame)) {
            tracing::warn!(session = self.id.0, "outbox full; closing a slow session");
            self.close(CloseReason::TOO_SLOW);
        }
    }

    /// Asks the writer to close the socket (the first reason wins).
    pub(crate) fn close(&self, reason: CloseReason) {
        if self.close.reason.set(reason).is_ok() {
            self.close.notify.notify_one();
        }
    }
}

/// One open socket of one user. The adapter gets it from [`crate::Chat::connect`], feeds each
/// incoming frame to [`crate::Chat::handle_frame`], and hands it back to
/// [`crate::Chat::disconnect`] when the socket closes. Clones are the same socket.
#[derive(Debug, Clone)]
pub struct Session {
    user: Arc<str>,
    handle: SessionHandle,
    refusals: Arc<Mutex<VecDeque<i64>>>,
    writes: Arc<WritePipeline>,
}

impl Session {
    pub(crate) fn new(
        user: &str,
        expires_at: Option<i64>,
        limits: &Limits,
    ) -> (Self, SessionOutbox) {
        let (tx, rx) = mpsc::channel(limits.outbox_frames.max(1));
        let close = Arc::new(CloseSignal::default());
        let handle = SessionHandle {
            id: SessionId::next(),
            expires_at,
            tx,
            close: Arc::clone(&close),
            hold: Arc::new(Hold::holding()),
        };
        let session = Self {
            user: user.into(),
            handle,
            refusals: Arc::default(),
            writes: Arc::new(WritePipeline::new(limits.writes_in_flight)),
        };
        let outbox = SessionOutbox {
            rx,
            close,
            greeting: None,
        };
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
        self.handle.enqueue(&frame);
    }

    /// The greeting is queued: sends the pushes held back meanwhile, in order, and lets later
    /// pushes straight through.
    pub(crate) fn release_held(&self) {
        let hold = &self.handle.hold;
        // Enqueued under the lock, so a push racing with the release lands after them.
        let mut held = hold.frames();
        for frame in held.take().unwrap_or_default() {
            self.handle.enqueue(&frame);
        }
        hold.active.store(false, Ordering::Release);
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
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
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
    rx: mpsc::Receiver<Arc<str>>,
    close: Arc<CloseSignal>,
    /// The greeting, written before anything else. Not bounded like `rx`: it holds every
    /// message still queued for the user, however many, and is freed once written.
    greeting: Option<VecDeque<Arc<str>>>,
}

impl SessionOutbox {
    /// Appends a frame to the greeting.
    pub(crate) fn greet(&mut self, frame: Arc<str>) {
        self.greeting
            .get_or_insert_with(VecDeque::new)
            .push_back(frame);
    }

    fn next_greeting(&mut self) -> Option<Outbound> {
        let greeting = self.greeting.as_mut()?;
        let frame = greeting.pop_front();
        if greeting.is_empty() {
            self.greeting = None;
        }
        frame.map(Outbound::Frame)
    }

    /// The next thing to write if one is ready now, without waiting: lets a writer gather every
    /// queued frame into one flush.
    pub fn try_next(&mut self) -> Option<Outbound> {
        if let Some(reason) = self.close.reason.get() {
            return Some(Outbound::Close(reason.clone()));
        }
        if let Some(greeting) = self.next_greeting() {
            return Some(greeting);
        }
        self.rx.try_recv().ok().map(Outbound::Frame)
    }

    /// The next thing to write: the greeting first, then answers and pushes. A close request
    /// wins over queued frames, so a session closed for being slow does not first drain its
    /// backlog. `None` when every sender is gone.
    pub async fn next(&mut self) -> Option<Outbound> {
        loop {
            if let Some(reason) = self.close.reason.get() {
                return Some(Outbound::Close(reason.clone()));
            }
            if let Some(greeting) = self.next_greeting() {
                return Some(greeting);
            }
            tokio::select! {
                biased;
                () = self.close.notify.notified() => continue,
                frame = self.rx.recv() => return frame.map(Outbound::Frame),
            }
        }
    }
}
