//! Call frames handed between nodes: a node that gets a frame about a call another node relays
//! asks that node to run it (a request and its reply over the bus, [`crate::chat::bus`]) and
//! answers its socket with what came back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Chat, Party};
use crate::chat::bus::NodeRequest;
use crate::error::{ChatError, ChatResult};
use crate::fanout::Reached;

/// What one node asks the node relaying a call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(in crate::chat) enum Relayed {
    /// `party`, the callee, answers call `call_id` from `to`.
    Answer {
        party: Party,
        to: String,
        call_id: String,
        answer: Value,
    },
    /// `party` sends an ICE candidate to `to`.
    Ice {
        party: Party,
        to: String,
        call_id: String,
        candidate: Value,
    },
    /// `party` hangs up, declines or cancels.
    End {
        party: Party,
        to: String,
        call_id: String,
    },
    /// `party`'s socket closed; `offline`: the user has no socket left on any node.
    Closed { party: Party, offline: bool },
    /// `remover` removed `removed` as a friend.
    Unfriended { remover: String, removed: String },
    /// `user`'s account is being erased.
    Erased { user: String },
    /// Whether the node is there (a node that starts asks before it closes out a call).
    Probe,
}

/// The relaying node's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Reply {
    /// Done; for an answer, the call's id.
    Done { call_id: Option<String> },
    /// Refused `not_found` with this message.
    NotFound { message: String },
    /// The relaying node failed (and logged why).
    Failed,
}

impl Chat {
    /// Runs a call request from another node; the encoded [`Reply`].
    pub(in crate::chat) async fn run_relayed(&self, request: Relayed) -> Vec<u8> {
        let done = |call_id| Ok(Reply::Done { call_id });
        let outcome = match request {
            Relayed::Answer {
                party,
                to,
                call_id,
                answer,
            } => self
                .answer_call(&party, &to, Some(&call_id), answer)
                .await
                .and_then(|id| done(Some(id))),
            Relayed::Ice {
                party,
                to,
                call_id,
                candidate,
            } => self
                .ice_call(&party, &to, Some(&call_id), candidate)
                .await
                .and_then(|()| done(None)),
            Relayed::End { party, to, call_id } => self
                .end_call(&party, &to, Some(&call_id))
                .await
                .and_then(|()| done(None)),
            Relayed::Closed { party, offline } => {
                self.end_calls_of_socket(&party, offline).await;
                done(None)
            }
            Relayed::Unfriended { remover, removed } => {
                self.end_calls_between_here(&remover, &removed).await;
                done(None)
            }
            Relayed::Erased { user } => {
                self.end_calls_of_user_here(&user).await;
                done(None)
            }
            Relayed::Probe => done(None),
        };
        let reply = match outcome {
            Ok(reply) => reply,
            Err(ChatError::NotFound(message)) => Reply::NotFound { message },
            Err(err) => {
                tracing::error!(?err, "a call request from another node failed");
                Reply::Failed
            }
        };
        serde_json::to_vec(&reply).unwrap_or_default()
    }

    /// Hands `request` to `node`, the node relaying its call. `Ok(Some(id))` when it answered
    /// with a call id, `Ok(None)` when it is done or unreachable (then it is gone or cut off,
    /// and the call ends with its close-out), its refusal otherwise.
    pub(super) async fn relay(&self, node: &str, request: Relayed) -> ChatResult<Option<String>> {
        match self.ask(node, &NodeRequest::Call(request)).await {
            Reached::Answer(body) => match serde_json::from_slice::<Reply>(&body) {
                Ok(Reply::Done { call_id }) => Ok(call_id),
                Ok(Reply::NotFound { message }) => Err(ChatError::NotFound(message)),
                Ok(Reply::Failed) => Err(ChatError::Internal(format!(
                    "node {node} failed to run a call request"
                ))),
                Err(err) => Err(ChatError::Internal(format!(
                    "unreadable answer from node {node}: {err}"
                ))),
            },
            Reached::Gone | Reached::NoAnswer => {
                tracing::warn!(node, "the node relaying a call did not answer");
                Ok(None)
            }
        }
    }

    /// [`Chat::relay`] for news nobody answers to (a socket closed, a friend removed): a
    /// failure is logged.
    pub(super) async fn relay_quietly(&self, node: &str, request: Relayed) {
        if let Err(err) = self.relay(node, request).await {
            tracing::warn!(?err, node, "a call request to another node failed");
        }
    }
}
