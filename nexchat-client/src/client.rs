//! [`Client`]: one signed-in user, over REST and one socket.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use nexchat_core::protocol::rest::{
    AttachmentStored, AuthParams, ConversationsResponse, CreateGroupRequest, FriendAnswerBody,
    FriendRemoveBody, FriendRequestBody, FriendStatusBody, FriendStatusKind, FriendsStatus,
    GroupMemberBody, GroupSummary, GroupsResponse, LoginRequest, LoginResponse,
    PasswordChangeRequest, RegisterRequest, RegisterResponse, TokenResponse, UserSearchResponse,
    UserSummary,
};
use nexchat_core::protocol::{ClientEvent, Group, PublicKey};

use crate::api::Api;
use crate::connection::{
    Command, Connection, Options, Sent, Undecryptable, decrypt, encode, key_message_frame,
};
use crate::crypto::{
    AccountKeys, Attachment, Identity, KdfParams, MessageBody, SafetyNumber, SenderKey,
    decrypt_file, encrypt_file, open_backup_v1,
};
use crate::error::{Error, Result};
use crate::event::{Event, Message};
use crate::keys::{Keys, check_username};

/// Events waiting to be read before the socket stops reading the server (backpressure).
const EVENT_BUFFER: usize = 1024;
/// How long a history page may take, reconnects included.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(30);

/// One signed-in user: their identity key, their login, and (once [`Client::connect`]ed) their
/// socket. Cheap to clone; every clone is the same client.
///
/// # Example: an echo bot
///
/// ```no_run
/// use futures::StreamExt;
/// use nexchat_client::{Client, Event};
///
/// # async fn run() -> Result<(), nexchat_client::Error> {
/// let bot = Client::login("http://localhost:3000", "echo_bot", "a long bot password").await?;
/// let mut events = bot.connect().await?;
/// while let Some(event) = events.next().await {
///     match event {
///         // Befriend whoever asks.
///         Event::FriendRequest { from } => {
///             bot.accept_friend(&from).await?;
///         }
///         // Answer every message from someone else with its own text.
///         Event::Message(message) if message.sender != bot.username() => {
///             bot.mark_seen(&message.sender, vec![message.id.clone()]).await?;
///             bot.send(&message.sender, &format!("echo: {}", message.text)).await?;
///         }
///         Event::SessionEnded { reason } => {
///             eprintln!("signed out: {reason}");
///             break;
///         }
///         _ => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    keys: Arc<Keys>,
    expires_at: Mutex<i64>,
    socket: Mutex<Option<mpsc::Sender<Command>>>,
    /// Held while a group message (and a new sender key's hand-out) is queued.
    group_sends: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.api.server())
            .field("username", &self.username())
            .finish_non_exhaustive()
    }
}

/// What a client needs to go on without the password: the server, the login's token and the
/// identity key. Keep it as secret as the key it holds (the terminal client writes it to a file
/// only its user can read); it never holds the password or anything derived from it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The server's URL.
    pub server: String,
    /// The user, as registered.
    pub username: String,
    /// The login's bearer token.
    pub token: String,
    /// When the token expires, in milliseconds since the Unix epoch.
    pub expires_at: i64,
    /// The identity key as a private JWK (`docs/protocol.md`, "Key backup").
    pub identity: Value,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How [`Client::connect_with`] sets up the socket.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// Acknowledge each message to this user as `delivered` (two ticks for its sender) once it
    /// is decrypted and handed on as an [`Event::Message`]. On by default; a client that only
    /// looks (say, to print history) turns it off, so the messages still reach the next one.
    pub deliver_receipts: bool,
    /// The first wait before connecting again after the socket is lost; doubled per failed
    /// attempt up to `max_backoff`, with jitter (each wait between half and all of it).
    pub min_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            deliver_receipts: true,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// The events of a connected client, in the order the server sent them. A [`futures::Stream`];
/// also [`Events::next`]. Read them, or drop them: while 1024 are kept unread, the client stops
/// reading its socket, so sends and history pages wait too (a client that only sends drops
/// them at once). Ends after [`Event::SessionEnded`] or when every [`Client`] clone is dropped.
#[derive(Debug)]
pub struct Events {
    events: mpsc::Receiver<Event>,
}

impl Events {
    /// The next event; `None` once the connection is over.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }
}

impl futures::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.events.poll_recv(cx)
    }
}

/// One page of a conversation's history, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// The messages, each decrypted or with why it could not be.
    pub messages: Vec<Result<Message, Undecryptable>>,
    /// Whether older messages exist (ask again with `before` = the oldest id here).
    pub has_more: bool,
}

/// One entry of the conversation list (`GET /conversations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The other user (a friend now or not).
    pub peer: String,
    /// The latest message between the two, whoever sent it.
    pub last_message: Result<Message, Undecryptable>,
    /// Messages from `peer` not seen yet.
    pub unread: u64,
}

impl Client {
    /// Creates an account and signs in: derives the auth and vault keys from the password
    /// (Argon2id, then HKDF: `docs/protocol.md`, "Key derivation"), makes an identity key,
    /// seals it into the key backup, and registers; the server never sees the password.
    ///
    /// Takes about a second of CPU and 64 MiB of memory, on a blocking thread.
    ///
    /// # Errors
    /// [`Error::InvalidUsername`]; [`Error::InvalidPassword`] for a password outside 8–1024
    /// characters; [`Error::Api`] 409 for a taken name, 429 past the registration limit;
    /// [`Error::Http`].
    pub async fn register(server: &str, username: &str, password: &str) -> Result<Self> {
        check_username(username)?;
        if !(8..=1024).contains(&password.chars().count()) {
            return Err(Error::InvalidPassword);
        }
        let api = Api::new(server)?;
        let kdf = KdfParams::generate();
        let keys = derive(kdf.clone(), password).await;
        let identity = Identity::generate();
        let request = RegisterRequest {
            username: username.to_owned(),
            password: keys.auth_key.clone(),
            public_key: identity.public_key(),
            encrypted_private_key: keys.vault_key.seal(&identity, username),
            kdf: Some(kdf.to_json()),
        };
        let _: RegisterResponse = api.post("/auth/register", &request).await?;
        let login = sign_in(&api, username, &keys.auth_key).await?;
        Self::start(api, login, identity)
    }

    /// Signs in as an account made by any nexchat client (the browser client included): asks
    /// for the account's `kdf`, derives the auth key and sends it, and opens the key backup
    /// with the vault key. An account made before protocol 1.1 (`kdf: null`) is moved to 1.1
    /// on the way, as the browser client does, so its password is never sent again.
    ///
    /// # Errors
    /// [`Error::Api`] 401 for a wrong password or an unknown name (alike), 429 when throttled;
    /// [`Error::Crypto`] when the server offers unsafe `kdf` parameters (checked before any
    /// work) or a backup that does not open; [`Error::KeyMismatch`] when the backup holds
    /// another key than the account publishes.
    pub async fn login(server: &str, username: &str, password: &str) -> Result<Self> {
        check_username(username)?;
        let api = Api::new(server)?;
        let params: AuthParams = api
            .get_query("/auth/params", &[("username", username)])
            .await?;
        let Some(kdf) = params.kdf else {
            return Self::login_v1(api, username, password).await;
        };
        let kdf = KdfParams::from_server(&kdf)?;
        let keys = derive(kdf, password).await;
        let login = sign_in(&api, username, &keys.auth_key).await?;
        let identity = keys
            .vault_key
            .open(&login.encrypted_private_key, &login.username)?;
        Self::start(api, login, identity)
    }

    /// `docs/protocol.md`, "Moving a v1 account".
    async fn login_v1(api: Api, username: &str, password: &str) -> Result<Self> {
        let mut login = sign_in(&api, username, password).await?;
        let backup = login.encrypted_private_key.clone();
        let secret = password.to_owned();
        let identity = tokio::task::spawn_blocking(move || open_backup_v1(&backup, &secret))
            .await
            .expect("the PBKDF2 task does not panic")?;
        let kdf = KdfParams::generate();
        let keys = derive(kdf.clone(), password).await;
        api.set_token(login.token.clone());
        let change = PasswordChangeRequest {
            current_password: password.to_owned(),
            new_password: keys.auth_key.clone(),
            kdf: kdf.to_json(),
            encrypted_private_key: keys.vault_key.seal(&identity, &login.username),
        };
        let moved: TokenResponse = api.post("/auth/password", &change).await?;
        login.token = moved.token;
        login.expires_at = moved.expires_at;
        Self::start(api, login, identity)
    }

    fn start(api: Api, login: LoginResponse, identity: Identity) -> Result<Self> {
        if identity.public_key() != login.public_key {
            return Err(Error::KeyMismatch);
        }
        api.set_token(login.token);
        Ok(Self::new(api, login.username, identity, login.expires_at))
    }

    fn new(api: Api, username: String, identity: Identity, expires_at: i64) -> Self {
        let keys = Arc::new(Keys::new(username, identity, api.clone()));
        Self {
            inner: Arc::new(Inner {
                api,
                keys,
                expires_at: Mutex::new(expires_at),
                socket: Mutex::new(None),
                group_sends: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Goes on with a login kept from before ([`Client::session`]), without the password.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], or [`Error::Crypto`] when `identity` is not a P-256 private JWK.
    /// An expired or ended login shows at the first request ([`Error::Api`] 401) or at
    /// [`Client::connect`] ([`Error::SessionEnded`]).
    pub fn resume(session: &Session) -> Result<Self> {
        check_username(&session.username)?;
        let api = Api::new(&session.server)?;
        let identity = Identity::from_jwk(&session.identity)?;
        api.set_token(session.token.clone());
        Ok(Self::new(
            api,
            session.username.clone(),
            identity,
            session.expires_at,
        ))
    }

    /// What [`Client::resume`] needs to go on later.
    pub fn session(&self) -> Session {
        Session {
            server: self.inner.api.server().to_owned(),
            username: self.username().to_owned(),
            token: self.inner.api.token().unwrap_or_default(),
            expires_at: *self.inner.expires_at.lock(),
            identity: self.inner.keys.identity().to_jwk(),
        }
    }

    /// The signed-in user, as registered.
    pub fn username(&self) -> &str {
        self.inner.keys.me()
    }

    /// This user's public identity key.
    pub fn public_key(&self) -> PublicKey {
        self.inner.keys.identity().public_key()
    }

    /// Opens the socket with the default [`ConnectOptions`].
    ///
    /// # Errors
    /// As [`Client::connect_with`].
    pub async fn connect(&self) -> Result<Events> {
        self.connect_with(ConnectOptions::default()).await
    }

    /// Opens the socket (a ticket, then `GET /ws`) and keeps it open: when it is lost, the
    /// client connects again after a jittered, growing wait ([`Event::Disconnected`] says how
    /// long), and sends again, with the same ids, the messages the server had not acknowledged
    /// (the server stores a message once per id, so none arrives twice).
    ///
    /// A client has one socket; connecting again replaces it.
    ///
    /// # Errors
    /// The first socket could not be opened: [`Error::SessionEnded`] for a login that is no
    /// longer good, [`Error::Api`] or [`Error::Socket`] for a server that refused or could not
    /// be reached; [`Error::KeyMismatch`] when the identity key this client holds (from
    /// [`Client::resume`]) is not the one the account publishes, so friends could not read what
    /// it sends. Later failures are retried, not returned.
    pub async fn connect_with(&self, options: ConnectOptions) -> Result<Events> {
        self.inner.keys.check_published().await?;
        let (events_tx, events) = mpsc::channel(EVENT_BUFFER);
        let (commands_tx, commands) = mpsc::channel(64);
        let (opened_tx, opened) = oneshot::channel();
        let connection = Connection::new(
            Arc::clone(&self.inner.keys),
            self.inner.api.clone(),
            Options {
                deliver_receipts: options.deliver_receipts,
                backoff_base: options.min_backoff,
                backoff_cap: options.max_backoff,
            },
            events_tx,
        );
        tokio::spawn(connection.run(commands, opened_tx));
        opened.await.map_err(|_| Error::NotConnected)??;
        *self.inner.socket.lock() = Some(commands_tx);
        Ok(Events { events })
    }

    /// Encrypts `text` for `to` and sends it; returns once the server has stored it (one tick).
    /// While the socket is down the message waits, and goes with the same id once it is back.
    /// The first message to a user fetches their public key over REST, which needs the server:
    /// with the server down that fails at once ([`Error::Http`]).
    ///
    /// # Errors
    /// [`Error::Refused`] when the server refuses it (`not_friends`, `rate_limited`,
    /// `too_large`: nothing stored); [`Error::NoPublicKey`]; [`Error::SessionEnded`];
    /// [`Error::NotConnected`] before [`Client::connect`].
    pub async fn send(&self, to: &str, text: &str) -> Result<Sent> {
        let id = uuid::Uuid::new_v4().to_string();
        self.send_body(to, &id, MessageBody::text(text), Vec::new())
            .await
    }

    /// As [`Client::send`], under an id the caller made (a fresh UUID, so that an interface
    /// can show the message, pending, before the server answers). An id already used by this
    /// user is answered with that message's acknowledgement and nothing is sent again; one
    /// another user used is refused.
    ///
    /// # Errors
    /// As [`Client::send`]; [`Error::InvalidId`] when `id` is not a UUID.
    pub async fn send_with_id(&self, to: &str, id: &str, text: &str) -> Result<Sent> {
        let id = uuid::Uuid::parse_str(id).map_err(|_| Error::InvalidId(id.to_owned()))?;
        self.send_body(to, &id.to_string(), MessageBody::text(text), Vec::new())
            .await
    }

    /// Encrypts a file (`docs/protocol.md`, "Attachments": its own key, 64 KiB chunks), uploads
    /// the ciphertext, and sends `text` with the file's key and description to `to`.
    ///
    /// # Errors
    /// As [`Client::send`]; [`Error::Api`] 413 when the file passes the server's size limit or
    /// the user's quota, 404 when the server keeps no attachments.
    pub async fn send_file(
        &self,
        to: &str,
        text: &str,
        data: &[u8],
        name: &str,
        mime: &str,
    ) -> Result<Sent> {
        check_username(to)?;
        let (ciphertext, mut attachment) = encrypt_file(data, name, mime);
        let stored: AttachmentStored = self
            .inner
            .api
            .post_bytes("/attachments", ciphertext)
            .await?;
        attachment.id = stored.id.clone();
        let body = MessageBody {
            text: text.to_owned(),
            attachments: vec![attachment],
        };
        let id = uuid::Uuid::new_v4().to_string();
        self.send_body(to, &id, body, vec![stored.id]).await
    }

    /// Downloads and decrypts a file a message carries; checks its digest first.
    ///
    /// # Errors
    /// [`Error::Api`] 404 when this user may not read it (or it is gone); [`Error::Crypto`] when
    /// the bytes are not what the sender described.
    pub async fn download(&self, attachment: &Attachment) -> Result<Vec<u8>> {
        // The id comes from another user's message: never let it pick another route.
        let id = uuid::Uuid::parse_str(&attachment.id)
            .map_err(|_| crate::crypto::CryptoError::Malformed("attachment id".into()))?;
        let ciphertext = self
            .inner
            .api
            .get_bytes(&format!("/attachments/{id}"))
            .await?;
        Ok(decrypt_file(&ciphertext, attachment)?)
    }

    async fn send_body(
        &self,
        to: &str,
        id: &str,
        body: MessageBody,
        attachments: Vec<String>,
    ) -> Result<Sent> {
        check_username(to)?;
        let key = self.inner.keys.message_key(to).await?;
        let sealed = key.encrypt(id, self.username(), to, &body);
        let frame = encode(&ClientEvent::SendMessage {
            receiver: to.to_owned(),
            ciphertext: sealed.ciphertext,
            iv: sealed.iv,
            id: Some(id.to_owned()),
            attachments,
        });
        let answer = self.queue(id.to_owned(), frame, false).await?;
        answer.await.map_err(|_| Error::NotConnected)?
    }

    /// Hands a message frame to the socket; the answer comes on the returned channel.
    async fn queue(
        &self,
        id: String,
        frame: String,
        quiet: bool,
    ) -> Result<oneshot::Receiver<Result<Sent>>> {
        let (done, answer) = oneshot::channel();
        let command = Command::Send {
            id,
            frame,
            quiet,
            done,
        };
        self.command(command).await?;
        Ok(answer)
    }

    /// The groups this user is in, the one with the latest message first, each with its last
    /// chat message (still encrypted) and unread count (`GET /groups`).
    ///
    /// # Errors
    /// [`Error::Api`], [`Error::Http`].
    pub async fn groups(&self) -> Result<Vec<GroupSummary>> {
        let answer: GroupsResponse = self.inner.api.get("/groups").await?;
        Ok(answer.groups)
    }

    /// Creates a group of this user (its admin) and `members`, each a friend of this user.
    ///
    /// # Errors
    /// [`Error::Api`]: 403 `not_friends`, 404 `user_not_found`, 409 past a limit.
    pub async fn create_group(&self, members: &[&str]) -> Result<Group> {
        let request = CreateGroupRequest {
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            title: None,
            avatar: None,
        };
        self.inner.api.post("/groups", &request).await
    }

    /// Adds `user`, a friend of this user, to `group` (admins only).
    ///
    /// # Errors
    /// [`Error::Api`]: 403 when this user is not an admin or `user` not a friend, 404, 409.
    pub async fn add_group_member(&self, group: &str, user: &str) -> Result<Group> {
        let group = group_id(group)?;
        check_username(user)?;
        let body = GroupMemberBody {
            username: user.to_owned(),
        };
        let path = format!("/groups/{group}/members");
        self.inner.api.post(&path, &body).await
    }

    /// Removes `user` from `group` (admins; anyone removes themselves, which is leaving).
    ///
    /// # Errors
    /// [`Error::Api`]: 403, 404.
    pub async fn remove_group_member(&self, group: &str, user: &str) -> Result<()> {
        let group = group_id(group)?;
        check_username(user)?;
        let path = format!("/groups/{group}/members/{user}");
        self.inner.api.send_empty(Method::DELETE, &path).await
    }

    /// Sends `text` to `group` under this device's sender key (`docs/protocol.md`, "Sender
    /// keys"). Before the first message under a key, the key goes to every member (this
    /// user's other devices included) in key messages over the pairwise channels; after a
    /// member leaves, the next message makes a new key. Returns once the server stored the
    /// message.
    ///
    /// # Errors
    /// [`Error::Refused`] (`not_found` for a group this user is not in, `rate_limited`,
    /// `too_large`); [`Error::Api`] when the group's members cannot be read to hand a new key
    /// out (404 for a group this user is not in); as [`Client::send`] otherwise.
    pub async fn send_group(&self, group: &str, text: &str) -> Result<Sent> {
        let group = group_id(group)?;
        let me = self.username().to_owned();
        let id = uuid::Uuid::new_v4().to_string();
        let answer = {
            // One send at a time through the key's hand-out, so that no message under a new
            // key is queued before the key messages that carry it.
            let _turn = self.inner.group_sends.lock().await;
            let sender_keys = self.inner.keys.sender_keys();
            let (key, fresh) = sender_keys.own(&group);
            if fresh {
                if let Err(error) = self.hand_out(&group, &key).await {
                    sender_keys.forget_own(&group);
                    return Err(error);
                }
            }
            let sealed = key.encrypt(&group, &me, &id, &MessageBody::text(text));
            let frame = encode(&ClientEvent::SendGroupMessage {
                group: group.clone(),
                ciphertext: sealed.ciphertext,
                iv: sealed.iv,
                key_id: Some(key.key_id().to_owned()),
                to: None,
                id: Some(id.clone()),
                attachments: Vec::new(),
            });
            self.queue(id, frame, false).await?
        };
        answer.await.map_err(|_| Error::NotConnected)?
    }

    /// Queues a key message with `key` to every member of `group` who has a public key.
    async fn hand_out(&self, group: &str, key: &SenderKey) -> Result<()> {
        let record: Group = self.inner.api.get(&format!("/groups/{group}")).await?;
        let me = self.username();
        for member in record.members {
            let to = member.username;
            let pair = match self.inner.keys.message_key(&to).await {
                Ok(pair) => pair,
                // Nobody can encrypt to a user without a key; they get the next key.
                Err(Error::NoPublicKey(_)) => continue,
                Err(error) => return Err(error),
            };
            let id = uuid::Uuid::new_v4().to_string();
            let frame = key_message_frame(&pair, key, group, &id, me, &to);
            // Nobody waits for a key message's answer: a member who left meanwhile is refused
            // and needs no key.
            drop(self.queue(id, frame, true).await?);
        }
        Ok(())
    }

    /// Marks group messages as seen by this user (an empty `ids`: every one not seen yet).
    ///
    /// # Errors
    /// [`Error::InvalidId`] for a group id that is not a UUID; [`Error::NotConnected`].
    pub async fn mark_group_seen(&self, group: &str, ids: Vec<String>) -> Result<()> {
        let group = group_id(group)?;
        let ids = (!ids.is_empty()).then_some(ids);
        let frame = encode(&ClientEvent::GroupSeen { group, ids });
        self.command(Command::Tick(frame)).await
    }

    /// A page of the conversation with `peer`, newest first, strictly older than message
    /// `before`; at most `limit` messages (the server caps it at 200).
    ///
    /// # Errors
    /// [`Error::Refused`] when the server refuses the request (`user_not_found`, an unknown
    /// `before`, a `limit` of 0); [`Error::Timeout`] after 30 s without an answer;
    /// [`Error::NotConnected`].
    pub async fn history(
        &self,
        peer: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<HistoryPage> {
        check_username(peer)?;
        let frame = encode(&ClientEvent::FetchHistory {
            with_user: peer.to_owned(),
            before: before.map(str::to_owned),
            limit: Some(i64::from(limit)),
        });
        let (done, answer) = oneshot::channel();
        self.command(Command::History {
            peer: peer.to_owned(),
            frame,
            done,
        })
        .await?;
        let page = tokio::time::timeout(HISTORY_TIMEOUT, answer)
            .await
            .map_err(|_| Error::Timeout(HISTORY_TIMEOUT))?
            .map_err(|_| Error::NotConnected)??;
        let mut messages = Vec::with_capacity(page.messages.len());
        for stored in page.messages {
            messages.push(decrypt(&self.inner.keys, stored).await);
        }
        Ok(HistoryPage {
            messages,
            has_more: page.has_more,
        })
    }

    /// Marks messages from `peer` as seen (blue ticks for them; the user's other devices clear
    /// their badge). An empty `ids` marks every message from `peer` not yet seen.
    ///
    /// # Errors
    /// [`Error::NotConnected`].
    pub async fn mark_seen(&self, peer: &str, ids: Vec<String>) -> Result<()> {
        let ids = (!ids.is_empty()).then_some(ids);
        let frame = encode(&ClientEvent::MessageSeen {
            to: peer.to_owned(),
            ids,
        });
        self.command(Command::Tick(frame)).await
    }

    /// Tells `peer` this user is typing, or stopped. Dropped while the socket is down.
    ///
    /// # Errors
    /// [`Error::NotConnected`].
    pub async fn typing(&self, peer: &str, typing: bool) -> Result<()> {
        let frame = encode(&ClientEvent::Typing {
            to: peer.to_owned(),
            is_typing: typing,
        });
        self.command(Command::Typing(frame)).await
    }

    /// The safety number of this user and `peer` (`docs/protocol.md`, the same digits the
    /// browser client shows): compare it with `peer` out of band to be sure no one sits between.
    ///
    /// # Errors
    /// [`Error::NoPublicKey`]; [`Error::Api`].
    pub async fn safety_number(&self, peer: &str) -> Result<SafetyNumber> {
        self.inner.keys.safety_number(peer).await
    }

    /// Friends, and requests sent and received.
    ///
    /// # Errors
    /// [`Error::Api`], [`Error::Http`].
    pub async fn friends(&self) -> Result<FriendsStatus> {
        self.inner.api.get("/friends/status").await
    }

    /// Asks `user` to be friends; `Accepted` when they had already asked.
    ///
    /// # Errors
    /// [`Error::Api`] 404 for an unknown user, 409 when already asked or friends.
    pub async fn request_friend(&self, user: &str) -> Result<FriendStatusKind> {
        check_username(user)?;
        let body = FriendRequestBody {
            receiver: user.to_owned(),
        };
        let answer: FriendStatusBody = self.inner.api.post("/friends/request", &body).await?;
        Ok(answer.status)
    }

    /// Accepts `user`'s request.
    ///
    /// # Errors
    /// [`Error::Api`] 404 when there is no such request.
    pub async fn accept_friend(&self, user: &str) -> Result<()> {
        self.answer_friend("/friends/accept", user).await
    }

    /// Rejects `user`'s request.
    ///
    /// # Errors
    /// [`Error::Api`] 404 when there is no such request.
    pub async fn reject_friend(&self, user: &str) -> Result<()> {
        self.answer_friend("/friends/reject", user).await
    }

    async fn answer_friend(&self, path: &str, user: &str) -> Result<()> {
        check_username(user)?;
        let body = FriendAnswerBody {
            sender: user.to_owned(),
        };
        let _: FriendStatusBody = self.inner.api.post(path, &body).await?;
        Ok(())
    }

    /// Ends the friendship with `user`, or withdraws a request to them.
    ///
    /// # Errors
    /// [`Error::Api`] 404 when there is neither.
    pub async fn remove_friend(&self, user: &str) -> Result<()> {
        check_username(user)?;
        let body = FriendRemoveBody {
            target: user.to_owned(),
        };
        let _: FriendStatusBody = self.inner.api.post("/friends/remove", &body).await?;
        Ok(())
    }

    /// Users whose name starts with `prefix` (any letter case), at most 20.
    ///
    /// # Errors
    /// [`Error::Api`] 400 for an empty prefix.
    pub async fn search_users(&self, prefix: &str) -> Result<Vec<UserSummary>> {
        let answer: UserSearchResponse =
            self.inner.api.get_query("/users", &[("q", prefix)]).await?;
        Ok(answer.users)
    }

    /// Every conversation, newest first, with its last message decrypted and its unread count.
    ///
    /// # Errors
    /// [`Error::Api`], [`Error::Http`].
    pub async fn conversations(&self) -> Result<Vec<Conversation>> {
        let mut all = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let mut query = vec![("limit", "200")];
            if let Some(before) = &before {
                query.push(("before", before));
            }
            let page: ConversationsResponse =
                self.inner.api.get_query("/conversations", &query).await?;
            before = page.conversations.last().map(|c| c.with_user.clone());
            for entry in page.conversations {
                all.push(Conversation {
                    last_message: decrypt(&self.inner.keys, entry.last_message).await,
                    peer: entry.with_user,
                    unread: entry.unread,
                });
            }
            if !page.has_more || before.is_none() {
                return Ok(all);
            }
        }
    }

    /// Ends this login on the server (its token is refused from now on; its socket closes).
    ///
    /// # Errors
    /// [`Error::Api`], [`Error::Http`].
    pub async fn logout(&self) -> Result<()> {
        self.inner
            .api
            .send_empty(Method::POST, "/auth/logout")
            .await
    }

    async fn command(&self, command: Command) -> Result<()> {
        let socket = self.inner.socket.lock().clone();
        let socket = socket.ok_or(Error::NotConnected)?;
        socket.send(command).await.map_err(|_| Error::NotConnected)
    }
}

/// A group id as the server makes them (a UUID), checked before it goes into a path.
fn group_id(group: &str) -> Result<String> {
    uuid::Uuid::parse_str(group)
        .map(|id| id.to_string())
        .map_err(|_| Error::InvalidId(group.to_owned()))
}

/// Runs the slow, memory-hard derivation on a blocking thread.
async fn derive(kdf: KdfParams, password: &str) -> AccountKeys {
    let password = zeroize::Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || kdf.derive(&password))
        .await
        .expect("the key derivation does not panic")
}

async fn sign_in(api: &Api, username: &str, password: &str) -> Result<LoginResponse> {
    let request = LoginRequest {
        username: username.to_owned(),
        password: password.to_owned(),
    };
    api.post("/auth/login", &request).await
}
