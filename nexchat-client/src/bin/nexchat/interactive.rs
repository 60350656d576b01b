//! The interactive client: the [`tui`] screen driven by the terminal's keys and the SDK's
//! events, its actions performed with the SDK.
//!
//! Everything the screen asks for that talks to the server runs in a task of its own and
//! answers on a channel, so the screen never waits for the network; sends go through one task,
//! in the order they were written.

use std::io::stdout;
use std::time::Duration;

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, Event as Input, EventStream};
use futures::{Stream, StreamExt};
use nexchat_client::{Client, Event};
use nexchat_core::{Clock, SystemClock};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use crate::commands::Failure;
use crate::tui::{self, Action, App};

/// What a task the loop started came back with.
enum Answer {
    /// The action failed: the screen undoes what it showed.
    Failed(Action, String),
    /// A page of history for the screen.
    History {
        peer: String,
        messages: Vec<nexchat_client::Message>,
        undecryptable: Vec<Event>,
        has_more: bool,
    },
    /// A safety number for the screen.
    SafetyNumber { peer: String, digits: String },
    /// Friends and requests, read again after the socket came back.
    Friends(nexchat_client::protocol::rest::FriendsStatus, Vec<String>),
}

/// Runs the interactive client until the user quits or the session ends.
pub async fn run(client: Client) -> Result<(), Failure> {
    let app = load(&client).await?;
    let events = client.connect().await.map_err(|e| e.to_string())?;

    let mut terminal = ratatui::init();
    // Pasted text arrives as one piece, not as keys (a pasted newline would send).
    let _ = crossterm::execute!(stdout(), EnableBracketedPaste);
    let outcome = drive(client, app, events, &mut terminal, EventStream::new()).await;
    let _ = crossterm::execute!(stdout(), DisableBracketedPaste);
    ratatui::restore();
    outcome
}

/// The screen with what the server knows before the socket opens: friends, requests, and the
/// conversation list with last messages and unread counts.
async fn load(client: &Client) -> Result<App, Failure> {
    let mut app = App::new(client.username().to_owned());
    let status = client.friends().await.map_err(|e| e.to_string())?;
    app.load_friends(
        status.friends,
        status.pending_received,
        status.pending_sent,
        &[],
    );
    let conversations = client.conversations().await.map_err(|e| e.to_string())?;
    app.load_conversations(
        conversations
            .into_iter()
            .map(|c| {
                let unread = usize::try_from(c.unread).unwrap_or(usize::MAX);
                (c.peer, c.last_message.ok(), unread)
            })
            .collect(),
    );
    Ok(app)
}

/// The loop: draws, then waits for a key, an event, an answer or the clock, and performs the
/// actions the screen returns.
async fn drive<B: Backend>(
    client: Client,
    mut app: App,
    mut events: nexchat_client::Events,
    terminal: &mut Terminal<B>,
    mut input: impl Stream<Item = std::io::Result<Input>> + Unpin,
) -> Result<(), Failure> {
    let (client, app) = (&client, &mut app);
    let (answers_tx, mut answers) = mpsc::unbounded_channel();
    let sends = sender(client.clone(), answers_tx.clone());
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let size = terminal.size().map_err(|e| e.to_string())?;
    let mut actions = app.resize(size.width, size.height);
    loop {
        for action in actions.drain(..) {
            if matches!(action, Action::Quit) {
                return Ok(());
            }
            perform(client, action, &sends, &answers_tx);
        }
        terminal
            .draw(|frame| tui::draw(frame, app))
            .map_err(|e| e.to_string())?;
        actions = tokio::select! {
            key = input.next() => match key {
                Some(Ok(Input::Key(key))) => app.on_key(key, now()),
                Some(Ok(Input::Paste(text))) => app.on_paste(&text, now()),
                Some(Ok(Input::Resize(width, height))) => app.resize(width, height),
                Some(Ok(_)) => Vec::new(),
                Some(Err(error)) => return Err(format!("the terminal failed: {error}")),
                None => return Ok(()),
            },
            event = events.next() => match event {
                Some(Event::SessionEnded { reason }) => {
                    return Err(format!("the session ended ({reason}): sign in again"));
                }
                Some(event) => {
                    if let Event::Connected { online } = &event {
                        reload_friends(client, online.clone(), &answers_tx);
                    }
                    app.apply(&event, now())
                }
                None => return Ok(()),
            },
            Some(answer) = answers.recv() => match answer {
                Answer::Failed(action, reason) => {
                    app.action_failed(&action, &reason);
                    Vec::new()
                }
                Answer::History { peer, messages, undecryptable, has_more } => {
                    let mut actions = app.load_history(&peer, messages, has_more);
                    for event in &undecryptable {
                        actions.extend(app.apply(event, now()));
                    }
                    actions
                }
                Answer::SafetyNumber { peer, digits } => {
                    app.show_safety_number(&peer, digits);
                    Vec::new()
                }
                Answer::Friends(status, online) => {
                    app.load_friends(status.friends, status.pending_received, status.pending_sent, &online);
                    Vec::new()
                }
            },
            _ = clock.tick() => app.tick(now()),
        };
    }
}

/// The one task that sends, one message after the other, so they keep the order they were
/// written in (the SDK sends each once it is encrypted, and again after a reconnect).
fn sender(client: Client, answers: mpsc::UnboundedSender<Answer>) -> mpsc::UnboundedSender<Action> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();
    tokio::spawn(async move {
        while let Some(action) = rx.recv().await {
            if let Action::Send { to, id, text } = &action {
                if let Err(error) = client.send_with_id(to, id, text).await {
                    let _ = answers.send(Answer::Failed(action.clone(), error.to_string()));
                }
            }
        }
    });
    tx
}

/// Starts what `action` asks of the SDK; its answer comes back on `answers`.
fn perform(
    client: &Client,
    action: Action,
    sends: &mpsc::UnboundedSender<Action>,
    answers: &mpsc::UnboundedSender<Answer>,
) {
    if matches!(action, Action::Send { .. }) {
        let _ = sends.send(action);
        return;
    }
    let (client, answers) = (client.clone(), answers.clone());
    tokio::spawn(async move {
        let result = match &action {
            Action::Typing { to, typing } => client.typing(to, *typing).await,
            Action::MarkSeen { peer, ids } => client.mark_seen(peer, ids.clone()).await,
            Action::RequestFriend { user } => client.request_friend(user).await.map(drop),
            Action::AcceptFriend { user } => client.accept_friend(user).await,
            Action::RejectFriend { user } => client.reject_friend(user).await,
            Action::LoadOlder { peer, before } => {
                match client.history(peer, before.as_deref(), 50).await {
                    Ok(page) => {
                        let (mut messages, mut undecryptable) = (Vec::new(), Vec::new());
                        for entry in page.messages {
                            match entry {
                                Ok(message) => messages.push(message),
                                Err(failed) => undecryptable.push(Event::from(failed)),
                            }
                        }
                        let peer = peer.clone();
                        let has_more = page.has_more;
                        let _ = answers.send(Answer::History {
                            peer,
                            messages,
                            undecryptable,
                            has_more,
                        });
                        Ok(())
                    }
                    Err(error) => Err(error),
                }
            }
            Action::ShowSafetyNumber { peer } => match client.safety_number(peer).await {
                Ok(number) => {
                    let (peer, digits) = (peer.clone(), number.to_string());
                    let _ = answers.send(Answer::SafetyNumber { peer, digits });
                    Ok(())
                }
                Err(error) => Err(error),
            },
            Action::Send { .. } | Action::Quit => Ok(()),
        };
        if let Err(error) = result {
            let _ = answers.send(Answer::Failed(action, error.to_string()));
        }
    });
}

/// Reads friends and requests again: what changed while the socket was away.
fn reload_friends(client: &Client, online: Vec<String>, answers: &mpsc::UnboundedSender<Answer>) {
    let (client, answers) = (client.clone(), answers.clone());
    tokio::spawn(async move {
        if let Ok(status) = client.friends().await {
            let _ = answers.send(Answer::Friends(status, online));
        }
    });
}

/// Milliseconds since the Unix epoch, the unit of the protocol's times.
fn now() -> i64 {
    SystemClock.now_ms()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crossterm::event::{KeyCode, KeyEvent};
    use nexchat_client::protocol::MessageStatus;
    use parking_lot::Mutex;
    use ratatui::backend::{ClearType, TestBackend, WindowSize};
    use ratatui::buffer::{Buffer, Cell};
    use ratatui::layout::{Position, Size};
    use ratatui::style::Color;

    use super::*;
    use crate::test_server::*;
    use crate::tui::testing::{ctrl, key, screen};

    /// A [`TestBackend`] the test reads while the loop draws on it.
    #[derive(Clone)]
    struct Screen(Arc<Mutex<TestBackend>>);

    impl Backend for Screen {
        type Error = <TestBackend as Backend>::Error;

        fn draw<'a, I: Iterator<Item = (u16, u16, &'a Cell)>>(
            &mut self,
            content: I,
        ) -> Result<(), Self::Error> {
            self.0.lock().draw(content)
        }
        fn hide_cursor(&mut self) -> Result<(), Self::Error> {
            self.0.lock().hide_cursor()
        }
        fn show_cursor(&mut self) -> Result<(), Self::Error> {
            self.0.lock().show_cursor()
        }
        fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
            self.0.lock().get_cursor_position()
        }
        fn set_cursor_position<P: Into<Position>>(
            &mut self,
            position: P,
        ) -> Result<(), Self::Error> {
            self.0.lock().set_cursor_position(position)
        }
        fn clear(&mut self) -> Result<(), Self::Error> {
            self.0.lock().clear()
        }
        fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
            self.0.lock().clear_region(clear_type)
        }
        fn size(&self) -> Result<Size, Self::Error> {
            self.0.lock().size()
        }
        fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
            self.0.lock().window_size()
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            self.0.lock().flush()
        }
    }

    impl Screen {
        fn buffer(&self) -> Buffer {
            self.0.lock().buffer().clone()
        }

        /// Waits until the screen shows what `shows` looks for; panics with the screen after
        /// [`WAIT`].
        async fn until(&self, what: &str, shows: impl Fn(&Buffer) -> bool) -> Buffer {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let buffer = self.buffer();
                if shows(&buffer) {
                    return buffer;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the screen never showed {what}:\n{}",
                    screen(&buffer)
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    fn contains(text: &str) -> impl Fn(&Buffer) -> bool + '_ {
        move |buffer| screen(buffer).contains(text)
    }

    /// The colour of the ticks on the row of the conversation where `text` is (the list shows
    /// the text too, without ticks).
    fn tick_colour(buffer: &Buffer, text: &str) -> Option<Color> {
        (0..buffer.area.height).find_map(|y| {
            let row: String = (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect();
            if !row.contains(text) {
                return None;
            }
            (0..buffer.area.width)
                .map(|x| &buffer[(x, y)])
                .find(|cell| cell.symbol() == "✓")
                .map(|cell| cell.fg)
        })
    }

    #[tokio::test]
    async fn the_interactive_client_chats_with_a_user_of_the_sdk_through_a_real_server() {
        let server = TestServer::start().await;
        let alice = register(&server.url(), "alice").await;
        let bob = register(&server.url(), "bob").await;
        befriend(&alice, &bob).await;
        let mut bob_events = bob.connect().await.expect("bob connects");
        connected(&mut bob_events).await;
        let waiting = bob
            .send(alice.username(), "are you there?")
            .await
            .expect("send");

        // Alice's terminal: 100 × 30, keys from the test.
        let terminal_screen = Screen(Arc::new(Mutex::new(TestBackend::new(100, 30))));
        let mut terminal = Terminal::new(terminal_screen.clone()).expect("terminal");
        let (keys, input) = futures::channel::mpsc::unbounded::<std::io::Result<Input>>();
        let press = |k: KeyEvent| {
            keys.unbounded_send(Ok(Input::Key(k)))
                .expect("the loop runs")
        };
        let app = load(&alice).await.expect("load");
        let events = alice.connect().await.expect("alice connects");
        let client = alice.clone();
        let running =
            tokio::spawn(async move { drive(client, app, events, &mut terminal, input).await });

        // The list shows Bob with one unread message; opening it shows the message and tells
        // Bob it was seen.
        terminal_screen
            .until("bob's unread badge", contains(" 1"))
            .await;
        press(key(KeyCode::Down));
        press(key(KeyCode::Enter));
        terminal_screen
            .until("bob's message", contains("are you there?"))
            .await;
        next_matching(&mut bob_events, "seen", |e| match e {
            Event::Receipt {
                ids,
                status: MessageStatus::Seen,
                ..
            } if *ids == [waiting.id.clone()] => Some(()),
            _ => None,
        })
        .await;

        // Alice answers: Bob's client gets it decrypted and acknowledges it (two grey ticks),
        // then Bob reads it (the ticks turn blue).
        for c in "yes, here ☕".chars() {
            press(key(KeyCode::Char(c)));
        }
        next_matching(&mut bob_events, "alice typing", |e| {
            matches!(e, Event::Typing { typing: true, .. }).then_some(())
        })
        .await;
        press(key(KeyCode::Enter));
        let reply = next_matching(&mut bob_events, "the reply", |e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .await;
        assert_eq!(
            (reply.sender.as_str(), reply.text.as_str()),
            (alice.username(), "yes, here ☕")
        );
        let delivered = terminal_screen
            .until("two ticks", |b| {
                screen(b).contains("✓✓") && tick_colour(b, "yes, here").is_some()
            })
            .await;
        let grey = tick_colour(&delivered, "yes, here");
        bob.mark_seen(alice.username(), vec![reply.id.clone()])
            .await
            .expect("seen");
        terminal_screen
            .until("blue ticks", |b| tick_colour(b, "yes, here") != grey)
            .await;

        // Bob types: Alice sees it in the header.
        bob.typing(alice.username(), true).await.expect("typing");
        terminal_screen
            .until("bob typing", contains("typing…"))
            .await;

        // The safety number on screen is the one Bob's client computes.
        let expected = bob
            .safety_number(alice.username())
            .await
            .expect("number")
            .to_string();
        press(ctrl('s'));
        terminal_screen
            .until("the safety number", contains(&expected[..11]))
            .await;
        let shown = screen(&terminal_screen.buffer());
        for group in expected.split(' ') {
            assert!(shown.contains(group), "{group} missing:\n{shown}");
        }
        press(key(KeyCode::Esc));
        press(ctrl('q'));
        tokio::time::timeout(WAIT, running)
            .await
            .expect("the loop ends on Ctrl-Q")
            .expect("task")
            .expect("no error");
    }
}
