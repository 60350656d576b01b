//! `nexchat`, the terminal client: an interactive chat in the terminal (no subcommand), and
//! subcommands that print JSON lines for scripts and bots.
//!
//! ```text
//! nexchat register alice                # asks for a password twice
//! nexchat login alice --server https://chat.example.org
//! nexchat                               # the interactive client
//! nexchat friends add bob
//! nexchat send bob "hello"              # {"id":…,"to":"bob","timestamp":…}
//! nexchat history bob --limit 20        # one message per line, oldest first
//! nexchat listen --seen                 # every event as a JSON line
//! nexchat safety-number bob
//! nexchat groups create bob carol       # {"id":…,"members":[…]}
//! nexchat groups send GROUP "hello all"
//! ```

mod commands;
mod credentials;
mod interactive;
mod tui;

/// The SDK tests' server and helpers, for the interactive client's end-to-end test.
#[cfg(test)]
#[path = "../../../tests/common/mod.rs"]
mod test_server;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{FriendAction, GroupAction, PasswordFrom};
use credentials::Credentials;

/// The server the example server listens on by default.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// End-to-end-encrypted chat in the terminal, with the browser client's users.
#[derive(Debug, Parser)]
#[command(name = "nexchat", version)]
struct Cli {
    /// The server's URL, for `register` and `login` (default http://127.0.0.1:8080); later
    /// commands use the signed-in session's.
    #[arg(long, env = "NEXCHAT_SERVER", global = true)]
    server: Option<String>,
    /// Where the session is kept (default: the platform's config directory, e.g.
    /// ~/.config/nexchat).
    #[arg(long, env = "NEXCHAT_CONFIG_DIR", global = true)]
    config_dir: Option<PathBuf>,
    /// Without a command: the interactive client.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates an account and signs in (the password never leaves this machine).
    Register {
        /// The username: 3–32 of A-Z a-z 0-9 _ . -
        username: String,
        /// Read the password from the first line of stdin instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Signs in to an account made by any nexchat client, from its key backup.
    Login {
        /// The username.
        username: String,
        /// Read the password from the first line of stdin instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Ends the login on the server and forgets it here.
    Logout,
    /// Friends and requests (`friends add|accept|reject|remove USER`).
    Friends {
        /// What to do (default: list).
        #[command(subcommand)]
        action: Option<FriendAction>,
    },
    /// Sends TEXT to USER; prints {id, to, timestamp} once the server has stored it.
    Send {
        /// The friend.
        user: String,
        /// The message.
        text: String,
    },
    /// The conversation with USER, oldest first, one JSON object per line.
    History {
        /// The other user.
        user: String,
        /// How many of the latest messages.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Prints every event (messages, ticks, typing, presence, friends) as a JSON line.
    Listen {
        /// Also mark every message received as seen.
        #[arg(long)]
        seen: bool,
    },
    /// The safety number with USER: compare it with theirs (the browser shows the same).
    SafetyNumber {
        /// The other user.
        user: String,
    },
    /// Groups: list (the default), create, add, remove, send.
    Groups {
        /// What to do.
        #[command(subcommand)]
        action: Option<GroupAction>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("nexchat: {failure}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), commands::Failure> {
    let credentials = Credentials::new(cli.config_dir)?;
    let server = cli.server.unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let password_from = |stdin: bool| {
        if stdin {
            PasswordFrom::Stdin
        } else {
            PasswordFrom::Terminal
        }
    };
    match cli.command {
        Some(Command::Register {
            username,
            password_stdin,
        }) => {
            let password = commands::read_password(password_from(password_stdin), true)?;
            commands::sign_in(&server, &username, &password, true, &credentials).await
        }
        Some(Command::Login {
            username,
            password_stdin,
        }) => {
            let password = commands::read_password(password_from(password_stdin), false)?;
            commands::sign_in(&server, &username, &password, false, &credentials).await
        }
        Some(Command::Logout) => commands::logout(&credentials).await,
        Some(Command::Friends { action }) => {
            let client = commands::signed_in(&credentials)?;
            commands::friends(&client, action.unwrap_or(FriendAction::List)).await
        }
        Some(Command::Send { user, text }) => {
            commands::send(&commands::signed_in(&credentials)?, &user, &text).await
        }
        Some(Command::History { user, limit }) => {
            commands::history(&commands::signed_in(&credentials)?, &user, limit).await
        }
        Some(Command::Listen { seen }) => {
            commands::listen(&commands::signed_in(&credentials)?, seen).await
        }
        Some(Command::SafetyNumber { user }) => {
            commands::safety_number(&commands::signed_in(&credentials)?, &user).await
        }
        Some(Command::Groups { action }) => {
            let client = commands::signed_in(&credentials)?;
            commands::groups(&client, action.unwrap_or(GroupAction::List)).await
        }
        None => interactive::run(commands::signed_in(&credentials)?).await,
    }
}
