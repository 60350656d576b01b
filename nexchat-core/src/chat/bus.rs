//! Requests between nodes: a node asks another one something over the bus (a request and its
//! reply) and waits for the answer, which the node asked works out with its own state. Calls
//! hand their frames to the node relaying the call this way ([`super::calls`]), and a socket
//! ticket is used up on the node that issued it ([`crate::tickets`]).

use serde::{Deserialize, Serialize};

use super::Chat;
use super::calls::Relayed;
use crate::fanout::{BusEvent, Reached};

/// What one node asks another.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "request", rename_all = "snake_case")]
pub(super) enum NodeRequest {
    /// Run this for a call the node relays; answered with the call's reply.
    Call(Relayed),
    /// Use up socket ticket `ticket`, which the node issued; answered with its holder, or
    /// `null` when it is unknown, used or expired.
    TakeTicket { ticket: String },
}

impl Chat {
    /// Starts the task that answers other nodes' requests and closes out the calls of nodes
    /// found gone (nothing for a node alone).
    pub(super) fn listen_to_bus(&self) {
        let Some(mut events) = self.inner.hub.take_events() else {
            return;
        };
        let chat = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let Some(inner) = chat.upgrade() else { break };
                let chat = Chat { inner };
                // Each in a task of its own: a request waiting for a call's turn holds up no
                // other.
                match event {
                    BusEvent::Request { body, reply } => {
                        tokio::spawn(async move {
                            let _ = reply.send(chat.answer_node(&body).await);
                        });
                    }
                    BusEvent::NodesGone(nodes) => {
                        tokio::spawn(async move { chat.close_out_calls_of(&nodes).await });
                    }
                }
            }
        });
    }

    /// Runs a request from another node: the encoded answer (empty for an unreadable request,
    /// which the asking node cannot read either and takes for a failure).
    async fn answer_node(&self, body: &[u8]) -> Vec<u8> {
        match serde_json::from_slice::<NodeRequest>(body) {
            Ok(NodeRequest::Call(request)) => self.run_relayed(request).await,
            Ok(NodeRequest::TakeTicket { ticket }) => self.give_up_ticket(&ticket),
            Err(err) => {
                tracing::error!(%err, "an unreadable request from another node");
                Vec::new()
            }
        }
    }

    /// Hands `request` to node `node` and waits for its answer.
    pub(super) async fn ask(&self, node: &str, request: &NodeRequest) -> Reached {
        // Plain strings and JSON values: encoding cannot fail.
        let body = serde_json::to_vec(request).unwrap_or_default();
        self.inner.hub.request(node, body).await
    }
}
