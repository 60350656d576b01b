//! What `/proc` says about a process: resident memory and CPU time (Linux only).

use std::fs;

/// `VmRSS` of process `pid` in KiB (resident memory now), `None` when it cannot be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

/// `VmHWM` of process `pid` in KiB (the peak of resident memory over its life).
pub fn hwm_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

fn status_field(pid: u32, key: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// User + system CPU time of process `pid`, in clock ticks (see [`TICKS_PER_SEC`]).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ')' come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on (reading it would need `unsafe`).
pub const TICKS_PER_SEC: f64 = 100.0;

/// CPU use of `pid` between two [`cpu_ticks`] readings taken `secs` apart, in percent of one core.
pub fn cpu_percent(before: Option<u64>, after: Option<u64>, secs: f64) -> Option<f64> {
    let (b, a) = (before?, after?);
    (secs > 0.0).then(|| a.saturating_sub(b) as f64 / TICKS_PER_SEC / secs * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let me = std::process::id();
        assert!(rss_kib(me).is_some_and(|k| k > 0));
        assert!(hwm_kib(me).is_some_and(|k| k > 0));
        assert!(cpu_ticks(me).is_some());
        assert_eq!(rss_kib(u32::MAX), None);
    }
}
