//! The core of nexchat, an end-to-end-encrypted chat server: the wire protocol, the state
//! machines of messages and calls, the registry of open sessions, and the storage traits.
//!
//! Nothing here knows HTTP or a database driver: `nexchat-axum` drives [`Chat`] from sockets and
//! `nexchat-store` implements [`store::Store`]. One socket frame flows
//! socket → [`Chat::handle_frame`] → [`FriendGuard`] → [`store`] → [`Hub`] (and, with a bus
//! between nodes, every other node's hub) → each [`SessionOutbox`] → socket.

#![warn(missing_debug_implementations, unreachable_pub)]

mod call_log;
mod chat;
mod clock;
mod config;
mod error;
mod fanout;
mod friend_guard;
mod hub;
mod identity;
mod kdf;
mod live_sessions;
pub mod metrics;
mod node_sessions;
mod password;
pub mod protocol;
pub mod rate;
mod session;
pub mod store;
mod throttle;
mod tickets;
mod ticks;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use call_log::{CallEvent, CallLog, InvalidTransition};
pub use chat::{Caller, Chat, ChatBuilder, ClientInfo};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, ConfigError, Limits};
pub use error::{ChatError, ChatResult};
pub use fanout::BusConfig;
pub use friend_guard::{Exclusive, FriendGuard, Pass};
pub use hub::Hub;
pub use identity::{Identity, IdentityError, JwtIdentity, Principal};
pub use kdf::KdfDecoy;
pub use session::{CloseReason, Outbound, Session, SessionId, SessionOutbox};
pub use ticks::Ticks;
