//! Benchmarks and load tools for nexchat.
//!
//! - [`load`]: the engine of the `nexchat-load` load generator (many users over real WebSockets,
//!   speaking the wire protocol of `docs/protocol.md` as raw JSON).
//! - [`relay`]: the bare relay baseline (`bare-relay`): the smallest WebSocket relay, no auth,
//!   no storage, no checks; the ceiling of the networking stack on a machine.
//! - [`msgid`], [`wire`], [`procfs`]: the small pieces both share.
//!
//! The criterion benchmarks live in `benches/` of this crate; see the crate's README.

pub mod load;
pub mod msgid;
pub mod procfs;
pub mod relay;
pub mod wire;
