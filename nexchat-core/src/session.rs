//! One open socket of one user, and the outbox its writer drains.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{Notify, mpsc};

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

/// The sending half of a session, held by the [`crate::Hub`] and by the [`Session`] itself.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    pub(crate) id: SessionId,
    pub(crate) expires_at: Option<i64>,
    tx: mpsc::Sender<Arc<str>>,
    close: Arc<CloseSignal>,
}

impl SessionHandle {
    /// Queues a frame; a session whose outbox is full is closed rather than allowed to grow.
    pub(crate) fn push(&self, frame: &Arc<str>) {
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
/// [`crate::Chat::disconnect`] when the socket closes.
#[derive(Debug)]
pub struct Session {
    user: Arc<str>,
    handle: SessionHandle,
    refusals: Mutex<VecDeque<i64>>,
}

impl Session {
    pub(crate) fn new(
        user: &str,
        expires_at: Option<i64>,
        outbox_frames: usize,
    ) -> (Self, SessionOutbox) {
        let (tx, rx) = mpsc::channel(outbox_frames.max(1));
        let close = Arc::new(CloseSignal::default());
        let handle = SessionHandle {
            id: SessionId::next(),
            expires_at,
            tx,
            close: Arc::clone(&close),
        };
        let session = Self {
            user: user.into(),
            handle,
            refusals: Mutex::new(VecDeque::new()),
        };
        (session, SessionOutbox { rx, close })
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

    /// Sends an answer to this socket only.
    pub(crate) fn send(&self, frame: Arc<str>) {
        self.handle.push(&frame);
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
}

impl SessionOutbox {
    /// The next thing to write if one is ready now, without waiting: lets a writer gather every
    /// queued frame into one flush.
    pub fn try_next(&mut self) -> Option<Outbound> {
        if let Some(reason) = self.close.reason.get() {
            return Some(Outbound::Close(reason.clone()));
        }
        self.rx.try_recv().ok().map(Outbound::Frame)
    }

    /// The next thing to write. A close request wins over queued frames, so a session closed for
    /// being slow does not first drain its backlog. `None` when every sender is gone.
    pub async fn next(&mut self) -> Option<Outbound> {
        loop {
            if let Some(reason) = self.close.reason.get() {
                return Some(Outbound::Close(reason.clone()));
            }
            tokio::select! {
                biased;
                () = self.close.notify.notified() => continue,
                frame = self.rx.recv() => return frame.map(Outbound::Frame),
            }
        }
    }
}
