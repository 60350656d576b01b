//! `nexchat-load`: drives a running nexchat server (or the bare relay) over real WebSockets as
//! many users, and reports throughput, latency and memory as a table and as one JSON line.
//!
//! ```text
//! nexchat-load [--url http://127.0.0.1:8080] [--target nexchat|bare] [--server-pid PID] messages ...
//! nexchat-load [...] group --members 256 --senders 1 --rate 50
//! nexchat-load [...] connections --conns 10000 --source-ips 4
//! nexchat-load [...] attachments --size-mib 25 --rounds 5 --concurrent 10
//! ```
//! See `benches/README.md` for the server flags and limits to set first.

use clap::{Parser, Subcommand};
use nexchat_benches::load::{Common, attachments, connections, group, hostile, messages};

#[derive(Parser)]
#[command(
    name = "nexchat-load",
    version,
    about = "Load generator for nexchat (and the bare relay)"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// Tokio worker threads of the load generator (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Friend pairs send each other messages; reports msg/s and latency.
    Messages(messages::MessagesArgs),
    /// One group, all members online, some sending into it; reports fan-out msg/s and latency.
    Group(group::GroupArgs),
    /// Open N idle connections and hold them; reports memory per connection.
    Connections(connections::ConnectionsArgs),
    /// Clients that try to exhaust the server (never-reading sockets, floods, junk, slowloris).
    Hostile(hostile::HostileArgs),
    /// Upload and download files over REST, one at a time then several at once; reports MiB/s
    /// and the server's memory during each.
    Attachments(attachments::AttachmentsArgs),
}

fn main() {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nexchat-load: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    let result = rt.block_on(async {
        match &cli.command {
            Command::Messages(args) => messages::run(&cli.common, args)
                .await
                .map(|r| (r.table(), serde_json::to_string(&r))),
            Command::Group(args) => group::run(&cli.common, args)
                .await
                .map(|r| (r.table(), serde_json::to_string(&r))),
            Command::Connections(args) => connections::run(&cli.common, args)
                .await
                .map(|r| (r.table(), serde_json::to_string(&r))),
            Command::Hostile(args) => hostile::run(&cli.common, args)
                .await
                .map(|r| (r.table(), serde_json::to_string(&r))),
            Command::Attachments(args) => attachments::run(&cli.common, args)
                .await
                .map(|r| (r.table(), serde_json::to_string(&r))),
        }
    });
    match result {
        Ok((table, json)) => {
            if !cli.common.json_only {
                println!("{table}");
            }
            match json {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("nexchat-load: cannot write the JSON report: {e}"),
            }
        }
        Err(e) => {
            eprintln!("nexchat-load: {e}");
            std::process::exit(1);
        }
    }
}
