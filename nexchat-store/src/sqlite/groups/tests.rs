//! What only this backend has: each query's plan, the upgrade from version 9, erasure in
//! chunks, and the last group timestamp read back on opening.
#![allow(clippy::unwrap_used)]
