//! The scriptable subcommands: each prints JSON (one object per line) on stdout, for shell
//! scripts and bots, and says what went wrong on stderr.

use std::io::{BufRead, IsTerminal, Write};

use nexchat_client::{Client, ConnectOptions, Event, Session};
use nexchat_core::{Clock, SystemClock};
use serde_json::json;

use crate::credentials::Credentials;

/// What a subcommand failed with, for people.
pub type Failure = String;

/// Where the password comes from.
#[derive(Debug, Clone, Copy)]
pub enum PasswordFrom {
    /// Asked for on the terminal, without echo.
    Terminal,
    /// The first line of standard input (for scripts).
    Stdin,
}

/// Reads the password; `confirm` asks twice on a terminal (a new account's).
pub fn read_password(from: PasswordFrom, confirm: bool) -> Result<String, Failure> {
    match from {
        PasswordFrom::Stdin => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("reading the password from stdin: {e}"))?;
            let password = line.trim_end_matches(['\n', '\r']).to_owned();
            if password.is_empty() {
                return Err("no password on stdin".into());
            }
            Ok(password)
        }
        PasswordFrom::Terminal => {
            if !std::io::stdin().is_terminal() {
                return Err("no terminal to ask for the password on: pass --password-stdin".into());
            }
            let password = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
            if confirm {
                let again =
                    rpassword::prompt_password("Password again: ").map_err(|e| e.to_string())?;
                if again != password {
                    return Err("the two passwords differ".into());
                }
                eprintln!(
                    "Keep this password safe: it alone unlocks your key backup, and nobody, the \
                     server included, can recover it."
                );
            }
            Ok(password)
        }
    }
}

/// Prints one JSON value as a line, safe to show on a terminal.
pub fn print_json(value: &impl serde::Serialize) {
    let line = terminal_safe(&serde_json::to_string(value).expect("JSON values serialize"));
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) ends the program quietly, as other command-line tools do.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// JSON text with every character a terminal could act on written as a `\uXXXX` escape: JSON
/// escapes only U+0000–U+001F, and a peer's text may hold DEL, the C1 controls (U+009B starts
/// an escape sequence on some terminals), line and paragraph separators and the bidirectional
/// overrides that reorder what follows. Such characters only occur inside JSON strings, where
/// the escape means the same character.
fn terminal_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        let risky = matches!(c, '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        if risky {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// What to tell a user whose login the server no longer takes.
fn explain(error: nexchat_client::Error) -> Failure {
    use nexchat_client::Error;
    match error {
        Error::SessionEnded(_) | Error::Api { status: 401, .. } => format!(
            "{error}: the login is no longer valid (logged out, revoked or expired); run \
             `nexchat login NAME` again"
        ),
        other => other.to_string(),
    }
}

/// `register` and `login`: signs in and keeps the session.
pub async fn sign_in(
    server: &str,
    username: &str,
    password: &str,
    new_account: bool,
    credentials: &Credentials,
) -> Result<(), Failure> {
    let client = if new_account {
        Client::register(server, username, password).await
    } else {
        Client::login(server, username, password).await
    }
    .map_err(|e| e.to_string())?;
    let session = client.session();
    credentials.save(&session)?;
    print_json(&json!({"username": session.username, "server": session.server}));
    Ok(())
}

/// The kept session as a client, or why there is none.
pub fn signed_in(credentials: &Credentials) -> Result<Client, Failure> {
    let session: Session = credentials
        .load()?
        .ok_or("not signed in: run `nexchat login NAME` (or `nexchat register NAME`) first")?;
    if session.expires_at <= SystemClock.now_ms() {
        return Err(format!(
            "the login of {} expired: run `nexchat login {}` again",
            session.username, session.username
        ));
    }
    Client::resume(&session).map_err(|e| e.to_string())
}

/// `logout`: ends the login on the server and forgets it here.
/// Prints `{username, status: "logged_out"}`, or `{status: "logged_out"}` when no session was
/// kept.
pub async fn logout(credentials: &Credentials) -> Result<(), Failure> {
    let mut username = None;
    if let Ok(client) = signed_in(credentials) {
        // A login the server already ended is as good as ended.
        if let Err(error) = client.logout().await {
            eprintln!("the server did not end the login ({error}); forgetting it here anyway");
        }
        username = Some(client.username().to_owned());
    }
    credentials.clear()?;
    print_json(&json!({"username": username, "status": "logged_out"}));
    Ok(())
}

/// Friend actions of `nexchat friends`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum FriendAction {
    /// Friends and requests, as one JSON object (the default).
    List,
    /// Asks USER to be friends.
    Add {
        /// Who.
        user: String,
    },
    /// Accepts USER's request.
    Accept {
        /// Who.
        user: String,
    },
    /// Rejects USER's request.
    Reject {
        /// Who.
        user: String,
    },
    /// Ends the friendship with USER, or withdraws a request to them.
    Remove {
        /// Who.
        user: String,
    },
}

/// `friends`.
pub async fn friends(client: &Client, action: FriendAction) -> Result<(), Failure> {
    let e = explain;
    match action {
        FriendAction::List => {
            let status = client.friends().await.map_err(e)?;
            print_json(&json!({
                "friends": status.friends,
                "pendingReceived": status.pending_received,
                "pendingSent": status.pending_sent,
            }));
        }
        FriendAction::Add { user } => {
            let status = client.request_friend(&user).await.map_err(e)?;
            print_json(&json!({"user": user, "status": status}));
        }
        FriendAction::Accept { user } => {
            client.accept_friend(&user).await.map_err(e)?;
            print_json(&json!({"user": user, "status": "accepted"}));
        }
        FriendAction::Reject { user } => {
            client.reject_friend(&user).await.map_err(e)?;
            print_json(&json!({"user": user, "status": "rejected"}));
        }
        FriendAction::Remove { user } => {
            client.remove_friend(&user).await.map_err(e)?;
            print_json(&json!({"user": user, "status": "removed"}));
        }
    }
    Ok(())
}

/// Group actions of `nexchat groups`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum GroupAction {
    /// The groups this user is in, one JSON object per line: `{id, members, unread}`.
    List,
    /// Creates a group of this user and USERS (friends of this user); prints `{id, members}`.
    Create {
        /// The other members.
        users: Vec<String>,
    },
    /// Adds USER, a friend, to GROUP (admins only).
    Add {
        /// The group's id.
        group: String,
        /// Who.
        user: String,
    },
    /// Removes USER from GROUP (admins; yourself to leave).
    Remove {
        /// The group's id.
        group: String,
        /// Who.
        user: String,
    },
    /// Sends TEXT to GROUP; prints `{id, group, timestamp}` once stored. Each run of this
    /// command is a device of its own: it hands a new sender key to the members first.
    Send {
        /// The group's id.
        group: String,
        /// The message.
        text: String,
    },
}

/// `{id, members: [{username, role}]}` of a group.
fn group_json(group: &nexchat_client::protocol::Group) -> serde_json::Value {
    let members: Vec<_> = group
        .members
        .iter()
        .map(|m| json!({"username": m.username, "role": m.role}))
        .collect();
    json!({"id": group.id, "members": members})
}

/// `groups`.
pub async fn groups(client: &Client, action: GroupAction) -> Result<(), Failure> {
    match action {
        GroupAction::List => {
            for summary in client.groups().await.map_err(explain)? {
                let mut line = group_json(&summary.group);
                line["unread"] = summary.unread.into();
                print_json(&line);
            }
        }
        GroupAction::Create { users } => {
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            let group = client.create_group(&users).await.map_err(explain)?;
            print_json(&group_json(&group));
        }
        GroupAction::Add { group, user } => {
            let group = client
                .add_group_member(&group, &user)
                .await
                .map_err(explain)?;
            print_json(&group_json(&group));
        }
        GroupAction::Remove { group, user } => {
            client
                .remove_group_member(&group, &user)
                .await
                .map_err(explain)?;
            print_json(&json!({"group": group, "user": user, "status": "removed"}));
        }
        GroupAction::Send { group, text } => {
            drop(client.connect_with(looking()).await.map_err(explain)?);
            let sent = client.send_group(&group, &text).await.map_err(explain)?;
            print_json(&json!({"id": sent.id, "group": sent.to, "timestamp": sent.timestamp}));
        }
    }
    Ok(())
}

/// A socket that leaves the messages waiting for this user to the next client: this one only
/// sends or looks.
fn looking() -> ConnectOptions {
    ConnectOptions {
        deliver_receipts: false,
        ..ConnectOptions::default()
    }
}

/// `send USER TEXT`: prints `{id, to, timestamp}` once the server has stored it.
pub async fn send(client: &Client, to: &str, text: &str) -> Result<(), Failure> {
    // The events are not needed: dropped, they never hold the socket up.
    drop(client.connect_with(looking()).await.map_err(explain)?);
    let sent = client.send(to, text).await.map_err(explain)?;
    print_json(&json!({"id": sent.id, "to": sent.to, "timestamp": sent.timestamp}));
    Ok(())
}

/// `history USER`: the latest `limit` messages, oldest first, one JSON object per line
/// (`{"type":"message",…}` or `{"type":"undecryptable",…}`).
pub async fn history(client: &Client, peer: &str, limit: u32) -> Result<(), Failure> {
    drop(client.connect_with(looking()).await.map_err(explain)?);
    let mut lines = Vec::new();
    let mut before: Option<String> = None;
    while lines.len() < limit as usize {
        let want = (limit as usize - lines.len()).min(200) as u32;
        let page = client
            .history(peer, before.as_deref(), want)
            .await
            .map_err(explain)?;
        before = page.messages.last().map(|m| match m {
            Ok(m) => m.id.clone(),
            Err(u) => u.id.clone(),
        });
        lines.extend(page.messages.into_iter().map(|m| match m {
            Ok(message) => Event::Message(message),
            Err(undecryptable) => Event::from(undecryptable),
        }));
        if !page.has_more || before.is_none() {
            break;
        }
    }
    for line in lines.iter().rev() {
        print_json(line);
    }
    Ok(())
}

/// `listen`: every event as a JSON line until the session ends (exit status 1) or the
/// program is stopped. Messages are acknowledged as delivered; with `seen`, also as seen.
pub async fn listen(client: &Client, seen: bool) -> Result<(), Failure> {
    let mut events = client.connect().await.map_err(explain)?;
    while let Some(event) = events.next().await {
        print_json(&event);
        match event {
            Event::Message(message) if seen && message.sender != client.username() => {
                client
                    .mark_seen(&message.sender, vec![message.id])
                    .await
                    .map_err(explain)?;
            }
            Event::SessionEnded { reason } => {
                return Err(explain(nexchat_client::Error::SessionEnded(reason)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `safety-number USER`: the six groups of digits both users see.
pub async fn safety_number(client: &Client, peer: &str) -> Result<(), Failure> {
    let number = client.safety_number(peer).await.map_err(explain)?;
    print_json(&json!({"user": peer, "safetyNumber": number.to_string()}));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_terminal_could_act_on_is_escaped_and_the_json_means_the_same() {
        let text =
            "csi \u{9b}31m del \u{7f} rlo \u{202e}txet sep \u{2028} esc \u{1b}[2J ok é 日本 🔑";
        let line = terminal_safe(&serde_json::to_string(&json!({"text": text})).expect("json"));
        assert!(
            line.chars()
                .all(|c| !c.is_control() && !matches!(c, '\u{2028}' | '\u{202e}')),
            "{line:?}"
        );
        assert!(line.contains("é 日本 🔑"), "{line}");
        let back: serde_json::Value = serde_json::from_str(&line).expect("still JSON");
        assert_eq!(back["text"], text);
    }
}
