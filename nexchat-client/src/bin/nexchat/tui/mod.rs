//! The interactive terminal screen: a list of conversations beside the open one, an input line
//! and a status bar.
//!
//! The screen is pure state so that every behaviour can be tested without a terminal or a
//! server. A live loop owns an [`App`] and does four things, each a call here:
//!
//! - on every SDK [`Event`](nexchat_client::Event): [`App::apply`];
//! - on every key: [`App::on_key`]; on a terminal resize: [`App::resize`];
//! - about once a second: [`App::tick`] (typing reports go quiet, stale indicators expire);
//! - before waiting again: [`draw`] the screen.
//!
//! Each of them returns the [`Action`]s the loop performs with the SDK. Actions are optimistic:
//! the screen already shows their effect, and the loop reports an SDK error with
//! [`App::action_failed`], which undoes what it can and tells the user.

mod action;
mod app;
mod conversation;
mod editor;
mod events;
mod keys;
mod typing;
mod ui;

#[cfg(test)]
pub(crate) mod testing;

pub use action::Action;
pub use app::App;
pub use ui::draw;
