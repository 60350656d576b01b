//! `bare-relay`: the smallest WebSocket relay (no auth, no storage, no checks), the baseline that
//! `nexchat-load --target bare` measures. See `nexchat_benches::relay` for what it does.

use std::net::SocketAddr;

use clap::Parser;
use nexchat_benches::relay::{self, RelayConfig};

#[derive(Parser)]
#[command(
    name = "bare-relay",
    version,
    about = "Bare WebSocket relay: the networking ceiling for nexchat-load"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: SocketAddr,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Initial read buffer per socket, in bytes.
    #[arg(long, default_value_t = RelayConfig::default().read_buffer_size)]
    read_buffer: usize,
    /// Write buffer per socket, in bytes.
    #[arg(long, default_value_t = RelayConfig::default().write_buffer_size)]
    write_buffer: usize,
    /// Listen backlog (pending connections the kernel queues).
    #[arg(long, default_value_t = 4096)]
    backlog: u32,
}

fn main() {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.threads {
        rt.worker_threads(n.max(1));
    }
    let result = rt
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(serve(&cli)));
    if let Err(e) = result {
        eprintln!("bare-relay: {e}");
        std::process::exit(1);
    }
}

async fn serve(cli: &Cli) -> Result<(), String> {
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let socket = if cli.addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    socket.set_reuseaddr(true).map_err(|e| e.to_string())?;
    socket
        .bind(cli.addr)
        .map_err(|e| format!("cannot bind {}: {e}", cli.addr))?;
    let listener = socket.listen(cli.backlog).map_err(|e| e.to_string())?;
    let config = RelayConfig {
        read_buffer_size: cli.read_buffer,
        write_buffer_size: cli.write_buffer,
        ..RelayConfig::default()
    };
    eprintln!(
        "bare-relay listening on {} (pid {}, RLIMIT_NOFILE {nofile})",
        listener.local_addr().map_err(|e| e.to_string())?,
        std::process::id()
    );
    relay::serve(listener, config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| e.to_string())
}
