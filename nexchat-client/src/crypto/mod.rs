//! The client-side cryptography of nexchat, compatible byte for byte with the browser client
//! (`nexchat-axum/client/*.js`) and written down in `docs/protocol.md`.

mod attachment;

pub use attachment::Attachment;
