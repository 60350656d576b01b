//! The attachments workload (protocol version 1.3): upload and download throughput of one file
//! size, and the server's memory while several uploads stream at once.
//!
//! Setup registers and logs in `max(--concurrent, 1)` users. Then, in four phases, each measured
//! on its own (time, the server's VmRSS sampled every `--sample-ms`, its VmHWM, CPU of both
//! sides):
//! 1. the first user uploads `--rounds` files of `--size-mib`, one after the other;
//! 2. it downloads each of them back, one after the other;
//! 3. `--concurrent` users upload one file each, all at once;
//! 4. each of them downloads its own file, all at once.
//!
//! No file is ever held whole on this side: a file is the output of a seeded generator
//! ([`Pattern`]), made chunk by chunk as the request body is sent (reqwest's
//! `Body::wrap_stream`), and made again chunk by chunk to compare every downloaded byte with it
//! ([`Expected`]). So the load generator's memory does not grow with the file, and the server's
//! is the one being measured: streaming uploads should leave it flat whatever the size.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use rand::rngs::SmallRng;
use rand::{RngCore as _, SeedableRng as _};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};

use super::monitor::RssSampler;
use super::report::{AttachmentsReport, PhaseMemory, Rates, TransferPhase};
use super::{Common, Endpoint, Errors, Target, setup};
use crate::procfs;

/// Settings of the attachments workload.
#[derive(Debug, Clone, clap::Args)]
pub struct AttachmentsArgs {
    /// Size of every file in MiB (the example server takes 25 at most unless started with
    /// `--max-attachment-mib`).
    #[arg(long, default_value_t = 25)]
    pub size_mib: u64,
    /// Files the first user uploads one after the other, then downloads one after the other.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Uploads at once, one per user, then as many downloads at once (0: none).
    #[arg(long, default_value_t = 10)]
    pub concurrent: usize,
    /// KiB per chunk of the streamed upload body.
    #[arg(long, default_value_t = 64)]
    pub chunk_kib: usize,
    /// Send uploads without `Content-Length` (chunked transfer encoding): the server then
    /// reserves its size limit against the quota and checks the size as bytes arrive.
    #[arg(long)]
    pub chunked: bool,
    /// Milliseconds between readings of the server's VmRSS during each phase.
    #[arg(long, default_value_t = 50)]
    pub sample_ms: u64,
    /// Seconds to wait before each phase, so that the server is idle when it starts.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
}

impl Default for AttachmentsArgs {
    fn default() -> Self {
        Self {
            size_mib: 25,
            rounds: 5,
            concurrent: 10,
            chunk_kib: 64,
            chunked: false,
            sample_ms: 50,
            settle: 1.0,
        }
    }
}

const MIB: f64 = 1_048_576.0;

/// One file: `size` bytes from a generator seeded with `seed`, in chunks of `chunk` bytes.
#[derive(Debug, Clone, Copy)]
struct File {
    seed: u64,
    size: u64,
    chunk: usize,
}

/// The bytes of one file, one chunk at a time. The same file gives the same chunks every
/// time, so a download is compared with a second pass instead of a copy kept in memory.
pub struct Pattern {
    rng: SmallRng,
    left: u64,
    chunk: usize,
}

impl Pattern {
    /// The `size` bytes made from `seed`, in chunks of `chunk` bytes (the last one shorter).
    pub fn new(seed: u64, size: u64, chunk: usize) -> Self {
        Self {
            rng: SmallRng::seed_from_u64(seed),
            left: size,
            chunk: chunk.max(1),
        }
    }
}

impl Iterator for Pattern {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.left == 0 {
            return None;
        }
        let n = usize::try_from(self.left).map_or(self.chunk, |left| left.min(self.chunk));
        let mut buf = vec![0u8; n];
        self.rng.fill_bytes(&mut buf);
        self.left -= n as u64;
        Some(buf)
    }
}

/// Compares a download, piece by piece as it arrives, with the [`Pattern`] it should be.
pub struct Expected {
    pattern: Pattern,
    current: Vec<u8>,
    at: usize,
    seen: u64,
}

impl Expected {
    /// Expects the bytes of `pattern`.
    pub fn new(pattern: Pattern) -> Self {
        Self {
            pattern,
            current: Vec::new(),
            at: 0,
            seen: 0,
        }
    }

    /// Checks the next `piece` of the download; an error names the first byte that differs.
    pub fn check(&mut self, mut piece: &[u8]) -> Result<(), String> {
        while !piece.is_empty() {
            if self.at == self.current.len() {
                match self.pattern.next() {
                    Some(chunk) => {
                        self.current = chunk;
                        self.at = 0;
                    }
                    None => return Err(format!("longer than the {} B uploaded", self.seen)),
                }
            }
            let n = piece.len().min(self.current.len() - self.at);
            let want = &self.current[self.at..self.at + n];
            // A slice comparison (memcmp) first; the byte is looked for only when it fails.
            if piece[..n] != *want {
                let i = piece
                    .iter()
                    .zip(want)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                return Err(format!(
                    "differs from the upload at byte {}",
                    self.seen + i as u64
                ));
            }
            self.at += n;
            self.seen += n as u64;
            piece = &piece[n..];
        }
        Ok(())
    }

    /// Ends the comparison: an error when bytes of the upload never came.
    pub fn finish(mut self) -> Result<u64, String> {
        let missing = (self.current.len() - self.at) as u64
            + self.pattern.by_ref().map(|c| c.len() as u64).sum::<u64>();
        if missing > 0 {
            return Err(format!(
                "short: {} B of {} B",
                self.seen,
                self.seen + missing
            ));
        }
        Ok(self.seen)
    }
}

/// What one transfer gave: its seconds, or the kind of error it met (counted in [`Errors`]).
type Outcome<T> = Result<(T, f64), String>;

/// Uploads `file` as `token`'s; the new attachment's id and the seconds from the request's
/// start to the answer (which comes once every byte is durable).
async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    file: File,
    content_length: bool,
) -> Outcome<String> {
    let chunks = Pattern::new(file.seed, file.size, file.chunk).map(Ok::<_, Infallible>);
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let mut request = http
        .post(format!("{base}/attachments"))
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/octet-stream");
    if content_length {
        request = request.header(CONTENT_LENGTH, file.size);
    }
    let start = Instant::now();
    let answer = request
        .body(body)
        .send()
        .await
        .map_err(|e| format!("upload:{}", setup::req_kind(&e)))?;
    let status = answer.status().as_u16();
    let value = answer
        .json::<serde_json::Value>()
        .await
        .map_err(|_| format!("upload:{status} unreadable answer"))?;
    if status != 201 {
        let code = value.get("error").and_then(|c| c.as_str()).unwrap_or("");
        return Err(format!("upload:{status} {code}").trim_end().to_owned());
    }
    let secs = start.elapsed().as_secs_f64();
    if value.get("size").and_then(serde_json::Value::as_u64) != Some(file.size) {
        return Err("upload:201 with another size".to_owned());
    }
    match value.get("id").and_then(|v| v.as_str()) {
        Some(id) => Ok((id.to_owned(), secs)),
        None => Err("upload:201 without id".to_owned()),
    }
}

/// Downloads attachment `id` as `token` and compares every byte with `file`; the seconds from
/// the request's start to the last byte.
async fn download(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    file: File,
) -> Outcome<()> {
    let start = Instant::now();
    let answer = http
        .get(format!("{base}/attachments/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("download:{}", setup::req_kind(&e)))?;
    let status = answer.status().as_u16();
    if status != 200 {
        return Err(format!("download:{status}"));
    }
    let mut expected = Expected::new(Pattern::new(file.seed, file.size, file.chunk));
    let mut body = answer.bytes_stream();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| format!("download:{}", setup::req_kind(&e)))?;
        expected
            .check(&piece)
            .map_err(|e| format!("download:{e}"))?;
    }
    expected.finish().map_err(|e| format!("download:{e}"))?;
    Ok(((), start.elapsed().as_secs_f64()))
}

/// Time, the server's memory and both sides' CPU over one phase.
struct PhaseWatch {
    pid: Option<u32>,
    before: Option<u64>,
    hwm_before: Option<u64>,
    cpu: (Option<u64>, Option<u64>),
    sampler: RssSampler,
    start: Instant,
}

impl PhaseWatch {
    fn start(common: &Common, every: Duration) -> Self {
        let pid = common.server_pid;
        Self {
            pid,
            before: pid.and_then(procfs::rss_kib),
            hwm_before: pid.and_then(procfs::hwm_kib),
            cpu: (
                common.server_cpu_ticks(),
                procfs::cpu_ticks(std::process::id()),
            ),
            sampler: RssSampler::start(pid, every),
            start: Instant::now(),
        }
    }

    /// Ends the phase of `started` transfers, of which `done` finished, each of `bytes` bytes.
    async fn stop(
        self,
        common: &Common,
        started: usize,
        bytes: u64,
        done: Vec<f64>,
    ) -> TransferPhase {
        let secs = self.start.elapsed().as_secs_f64();
        let cpu = (
            common.server_cpu_ticks(),
            procfs::cpu_ticks(std::process::id()),
        );
        let peak = self.sampler.stop().await;
        let finished = done.len() as f64;
        TransferPhase {
            started,
            secs,
            aggregate_mib_per_sec: if secs > 0.0 {
                finished * bytes as f64 / MIB / secs
            } else {
                0.0
            },
            rates: Rates::of(
                done.into_iter()
                    .map(|s| bytes as f64 / MIB / s.max(1e-9))
                    .collect(),
            ),
            server_rss: PhaseMemory {
                before_kib: self.before,
                peak_kib: peak.peak_kib,
                end_kib: self.pid.and_then(procfs::rss_kib),
                samples: peak.samples,
                hwm_before_kib: self.hwm_before,
                hwm_after_kib: self.pid.and_then(procfs::hwm_kib),
            },
            server_cpu_percent: procfs::cpu_percent(self.cpu.0, cpu.0, secs),
            loadgen_cpu_percent: procfs::cpu_percent(self.cpu.1, cpu.1, secs),
        }
    }
}

/// Runs the workload against the server at `common.url` and returns what it measured.
pub async fn run(common: &Common, args: &AttachmentsArgs) -> Result<AttachmentsReport, String> {
    if common.target != Target::Nexchat {
        return Err(
            "the attachments workload needs --target nexchat (the bare relay has no attachments)"
                .into(),
        );
    }
    if !common.nodes.is_empty() {
        return Err("the attachments workload drives one node (no --node)".into());
    }
    let ep = Endpoint::resolve(&common.url).await?;
    let base = ep.base.clone();
    let size = args.size_mib.saturating_mul(1 << 20);
    let chunk = args.chunk_kib.clamp(1, 16 * 1024) * 1024;
    let users = args.concurrent.max(1);
    let prefix = common.prefix();
    let names: Vec<String> = (0..users).map(|i| format!("{prefix}_{i}")).collect();
    let errors = Arc::new(Errors::default());
    let quiet = common.json_only;
    let every = Duration::from_millis(args.sample_ms.max(1));
    let settle = Duration::from_secs_f64(args.settle.max(0.0));

    let setup_start = Instant::now();
    let http = setup::client();
    if !quiet {
        eprintln!("setup: registering and logging in {users} users ...");
    }
    let tokens = setup::register_and_login(
        &http,
        &ep,
        &names,
        &common.password,
        common.setup_concurrency,
        &errors,
    )
    .await;
    let first = tokens[0]
        .clone()
        .ok_or_else(|| format!("setup failed for the first user: {:?}", errors.snapshot()))?;
    // The first user uploads the rounds, and one more file at once with the others.
    let files_of_first = args.rounds + usize::from(args.concurrent > 0);
    let server_max_bytes = limits(&http, &base, &first, size, files_of_first).await?;
    let setup_secs = setup_start.elapsed().as_secs_f64();
    let file = |seed: u64| File { seed, size, chunk };
    let mut verified = 0usize;

    // 1 and 2: one user, one transfer at a time.
    let mut uploads = TransferPhase::default();
    let mut downloads = TransferPhase::default();
    if args.rounds > 0 {
        tokio::time::sleep(settle).await;
        let watch = PhaseWatch::start(common, every);
        let mut stored = Vec::with_capacity(args.rounds);
        let mut times = Vec::with_capacity(args.rounds);
        for round in 0..args.rounds {
            let f = file(rand::random());
            match upload(&http, &base, &first, f, !args.chunked).await {
                Ok((id, secs)) => {
                    progress(quiet, "upload", round, size, secs);
                    stored.push((id, f));
                    times.push(secs);
                }
                Err(kind) => errors.add(kind),
            }
        }
        uploads = watch.stop(common, args.rounds, size, times).await;

        tokio::time::sleep(settle).await;
        let watch = PhaseWatch::start(common, every);
        let mut times = Vec::with_capacity(stored.len());
        for (round, (id, f)) in stored.iter().enumerate() {
            match download(&http, &base, &first, id, *f).await {
                Ok(((), secs)) => {
                    progress(quiet, "download (matched)", round, size, secs);
                    verified += 1;
                    times.push(secs);
                }
                Err(kind) => errors.add(kind),
            }
        }
        downloads = watch.stop(common, stored.len(), size, times).await;
    }

    // 3 and 4: every user at once, one file each.
    let at_once: Vec<String> = tokens
        .iter()
        .flatten()
        .take(args.concurrent)
        .cloned()
        .collect();
    let mut concurrent_uploads = TransferPhase::default();
    let mut concurrent_downloads = TransferPhase::default();
    if !at_once.is_empty() {
        if !quiet {
            eprintln!("{} uploads at once ...", at_once.len());
        }
        tokio::time::sleep(settle).await;
        let watch = PhaseWatch::start(common, every);
        let content_length = !args.chunked;
        let tasks: Vec<_> = at_once
            .iter()
            .map(|token| {
                let (http, base, token) = (http.clone(), base.clone(), token.clone());
                let f = file(rand::random());
                tokio::spawn(async move {
                    let done = upload(&http, &base, &token, f, content_length).await;
                    (token, f, done)
                })
            })
            .collect();
        let mut stored = Vec::with_capacity(tasks.len());
        let mut times = Vec::with_capacity(tasks.len());
        for task in futures::future::join_all(tasks).await {
            match task {
                Ok((token, f, Ok((id, secs)))) => {
                    stored.push((token, id, f));
                    times.push(secs);
                }
                Ok((_, _, Err(kind))) => errors.add(kind),
                Err(_) => errors.add("upload:task failed"),
            }
        }
        concurrent_uploads = watch.stop(common, at_once.len(), size, times).await;

        if !quiet {
            eprintln!("{} downloads at once ...", stored.len());
        }
        tokio::time::sleep(settle).await;
        let watch = PhaseWatch::start(common, every);
        let started = stored.len();
        let tasks: Vec<_> = stored
            .into_iter()
            .map(|(token, id, f)| {
                let (http, base) = (http.clone(), base.clone());
                tokio::spawn(async move { download(&http, &base, &token, &id, f).await })
            })
            .collect();
        let mut times = Vec::with_capacity(tasks.len());
        for task in futures::future::join_all(tasks).await {
            match task {
                Ok(Ok(((), secs))) => {
                    verified += 1;
                    times.push(secs);
                }
                Ok(Err(kind)) => errors.add(kind),
                Err(_) => errors.add("download:task failed"),
            }
        }
        concurrent_downloads = watch.stop(common, started, size, times).await;
    }

    let errors_map = errors.snapshot();
    Ok(AttachmentsReport {
        tool: "nexchat-load",
        mode: "attachments",
        url: ep.base,
        size_bytes: size,
        chunk_bytes: chunk,
        content_length: !args.chunked,
        server_max_bytes,
        users,
        setup_secs,
        uploads,
        downloads,
        concurrent_uploads,
        concurrent_downloads,
        verified,
        errors_total: errors_map.values().sum(),
        errors: errors_map,
    })
}

/// Reads the caller's limits (`GET /attachments`) and refuses a run the server would refuse:
/// a file over its size limit, or `files` of them past the first user's quota. Returns the
/// size limit.
async fn limits(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    size: u64,
    files: usize,
) -> Result<Option<u64>, String> {
    let answer = http
        .get(format!("{base}/attachments"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("GET /attachments: {}", setup::req_kind(&e)))?;
    let status = answer.status().as_u16();
    if status == 404 {
        return Err("GET /attachments is 404: this server takes no attachments".into());
    }
    let usage: serde_json::Value = answer
        .json()
        .await
        .map_err(|_| format!("GET /attachments: {status} without a usage body"))?;
    let number = |key: &str| usage.get(key).and_then(serde_json::Value::as_u64);
    let max = number("maxBytes");
    if let Some(max) = max.filter(|&max| size > max) {
        return Err(format!(
            "the server takes attachments of at most {max} B ({:.1} MiB), not {size} B: \
             lower --size-mib or start the server with a larger --max-attachment-mib",
            max as f64 / MIB
        ));
    }
    if let (Some(quota), Some(used)) = (number("quotaBytes"), number("usedBytes")) {
        let needed = size.saturating_mul(files as u64);
        if used.saturating_add(needed) > quota {
            return Err(format!(
                "{files} files of {size} B pass the first user's quota ({used} of {quota} B \
                 used): fewer --rounds, or a larger --attachment-quota-mib on the server"
            ));
        }
    }
    Ok(max)
}

fn progress(quiet: bool, what: &str, round: usize, size: u64, secs: f64) {
    if !quiet {
        eprintln!(
            "round {}: {what} {:.1} MiB in {:.3} s, {:.1} MiB/s",
            round + 1,
            size as f64 / MIB,
            secs,
            size as f64 / MIB / secs.max(1e-9)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_is_the_same_every_time_and_its_size() {
        let one: Vec<u8> = Pattern::new(7, 10_000, 4096).flatten().collect();
        let two: Vec<u8> = Pattern::new(7, 10_000, 4096).flatten().collect();
        assert_eq!(one.len(), 10_000);
        assert_eq!(one, two);
        let other: Vec<u8> = Pattern::new(8, 10_000, 4096).flatten().collect();
        assert_ne!(one, other);
        assert_eq!(Pattern::new(7, 0, 4096).count(), 0);
    }

    #[test]
    fn expected_takes_the_bytes_in_any_pieces_and_names_the_first_difference() {
        let bytes: Vec<u8> = Pattern::new(3, 5000, 1024).flatten().collect();
        let mut e = Expected::new(Pattern::new(3, 5000, 1024));
        for piece in bytes.chunks(777) {
            e.check(piece).expect("same bytes");
        }
        assert_eq!(e.finish(), Ok(5000));

        let mut changed = bytes.clone();
        changed[2500] ^= 1;
        let mut e = Expected::new(Pattern::new(3, 5000, 1024));
        let err = changed.chunks(1000).find_map(|p| e.check(p).err());
        assert_eq!(err.as_deref(), Some("differs from the upload at byte 2500"));

        let mut e = Expected::new(Pattern::new(3, 5000, 1024));
        e.check(&bytes[..4999]).expect("a prefix");
        assert_eq!(e.finish(), Err("short: 4999 B of 5000 B".to_owned()));

        let mut e = Expected::new(Pattern::new(3, 5000, 1024));
        e.check(&bytes).expect("all of it");
        assert!(e.check(&[0]).is_err());
    }

    #[test]
    fn rates_take_the_middle_and_the_ends() {
        let r = Rates::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((r.count, r.median, r.best, r.worst), (3, 2.0, 3.0, 1.0));
        assert_eq!(Rates::of(vec![4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(Rates::of(Vec::new()).count, 0);
    }
}
