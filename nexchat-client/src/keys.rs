//! The public keys of the users this client talks to, and the message keys derived from them.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use nexchat_core::protocol::ErrorCode;
use nexchat_core::protocol::rest::PublicKeyBody;
use nexchat_core::protocol::{PublicKey, is_valid_username};

use crate::api::Api;
use crate::crypto::{Identity, MessageKey, SafetyNumber, safety_number};
use crate::error::{Error, Result};
use crate::sender_keys::SenderKeys;

/// This user's identity and what it shares with each other user, fetched once per peer and
/// replaced when the server says a key changed (`key_changed`, `friendship_activated`); and the
/// group sender keys.
pub(crate) struct Keys {
    me: String,
    identity: Identity,
    api: Api,
    peers: Mutex<HashMap<String, Peer>>,
    sender_keys: SenderKeys,
}

#[derive(Clone)]
struct Peer {
    public_key: PublicKey,
    message_key: Arc<MessageKey>,
}

impl Keys {
    pub(crate) fn new(me: String, identity: Identity, api: Api) -> Self {
        Self {
            me,
            identity,
            api,
            peers: Mutex::default(),
            sender_keys: SenderKeys::default(),
        }
    }

    /// The group sender keys: this device's and those handed to this user.
    pub(crate) fn sender_keys(&self) -> &SenderKeys {
        &self.sender_keys
    }

    pub(crate) fn me(&self) -> &str {
        &self.me
    }

    pub(crate) fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The key of messages between this user and `peer`.
    ///
    /// # Errors
    /// The peer's key could not be fetched ([`Error::NoPublicKey`] when they have none yet), or
    /// is not a usable P-256 point.
    pub(crate) async fn message_key(&self, peer: &str) -> Result<Arc<MessageKey>> {
        Ok(self.peer(peer).await?.message_key)
    }

    /// The safety number of this user and `peer`, from the key the server gives for `peer`.
    pub(crate) async fn safety_number(&self, peer: &str) -> Result<SafetyNumber> {
        let theirs = self.peer(peer).await?.public_key;
        Ok(safety_number(
            &self.me,
            &self.identity.public_key(),
            peer,
            &theirs,
        ))
    }

    async fn peer(&self, name: &str) -> Result<Peer> {
        check_username(name)?;
        if let Some(peer) = self.peers.lock().get(&name.to_ascii_lowercase()) {
            return Ok(peer.clone());
        }
        let body: PublicKeyBody = self
            .api
            .get(&format!("/users/{name}/public-key"))
            .await
            .map_err(|error| match error {
                Error::Api {
                    code: Some(ErrorCode::NotFound),
                    ..
                } => Error::NoPublicKey(name.to_owned()),
                other => other,
            })?;
        self.learn(&body.username, body.public_key)
    }

    /// Checks that the account publishes this client's identity key.
    ///
    /// # Errors
    /// [`Error::KeyMismatch`] when it publishes another key or none.
    pub(crate) async fn check_published(&self) -> Result<()> {
        let published = match self.peer(&self.me).await {
            Ok(peer) => peer.public_key,
            Err(Error::NoPublicKey(_)) => return Err(Error::KeyMismatch),
            Err(error) => return Err(error),
        };
        if published == self.identity.public_key() {
            Ok(())
        } else {
            Err(Error::KeyMismatch)
        }
    }

    /// Takes `key` as `peer`'s key from now on; `Ok(true)` when it replaced another one.
    pub(crate) fn learn_changed(&self, peer: &str, key: PublicKey) -> Result<bool> {
        let known = self
            .peers
            .lock()
            .get(&peer.to_ascii_lowercase())
            .map(|p| p.public_key.clone());
        if known.as_ref() == Some(&key) {
            return Ok(false);
        }
        self.learn(peer, key)?;
        Ok(known.is_some())
    }

    fn learn(&self, peer: &str, public_key: PublicKey) -> Result<Peer> {
        let message_key = self.identity.message_key(&self.me, peer, &public_key)?;
        let entry = Peer {
            public_key,
            message_key: Arc::new(message_key),
        };
        self.peers
            .lock()
            .insert(peer.to_ascii_lowercase(), entry.clone());
        Ok(entry)
    }
}

/// The protocol's username rule (`docs/protocol.md`, "Ground rules"), checked before a name
/// goes into a URL path.
///
/// # Errors
/// [`Error::InvalidUsername`].
pub(crate) fn check_username(name: &str) -> Result<()> {
    if is_valid_username(name) {
        Ok(())
    } else {
        Err(Error::InvalidUsername(name.to_owned()))
    }
}
