//! Throttling of password guessing and mass registration, per the protocol's table: failed
//! logins per (name, address), per name and per address, and successful registrations per
//! address.
//!
//! Why sliding windows and not `governor`: these rows count *outcomes* (a 401, a 201) of
//! attempts that take time to check (bcrypt), and must not let concurrent attempts slip past
//! the limit while their checks are in flight. So an attempt is booked before it is checked and
//! taken back when its outcome does not count ([`Booking`]). GCRA, which `governor` implements,
//! keeps a single "theoretical arrival time" per key and has no way to give a cell back, so
//! "count only failures" cannot be expressed with it; and "10 per 15 minutes" here means
//! exactly that, without the steady trickle of extra guesses a token bucket would allow.
//!
//! Memory: keys are only validated usernames (at most 32 bytes, lowercased) and client
//! addresses (IPv6 cut to its /64, what one subscriber usually holds), each key holds at most
//! its limit of timestamps, keys whose timestamps all left the window are dropped, and each map
//! holds at most [`crate::Limits::throttle_keys`] keys (the one idle the longest is forgotten
//! when a new one must fit), whatever is tried.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::config::Limits;

/// A client address as a throttle key: IPv4 as is, IPv6 cut to its /64 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AddressKey(IpAddr);

impl AddressKey {
    pub(crate) fn of(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(prefix.into()))
            }
            v4 => Self(v4),
        }
    }
}

/// At most `max` entries per key within any sliding `window` (`max` 0: no limit).
#[derive(Debug)]
struct Window<K> {
    max: usize,
    window_ms: i64,
    capacity: usize,
    keys: HashMap<K, VecDeque<i64>>,
}

impl<K: Hash + Eq + Clone> Window<K> {
    fn new(max: u32, window: Duration, capacity: usize) -> Self {
        Self {
            max: max as usize,
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            capacity: capacity.max(1),
            keys: HashMap::new(),
        }
    }

    /// `Err(seconds to wait)` when `key` has used up its limit at `now_ms`.
    fn check(&mut self, key: &K, now_ms: i64) -> Result<(), u64> {
        if self.max == 0 {
            return Ok(());
        }
        let Some(times) = self.keys.get_mut(key) else {
            return Ok(());
        };
        while times.front().is_some_and(|t| now_ms - t >= self.window_ms) {
            times.pop_front();
        }
        if times.is_empty() {
            self.keys.remove(key);
            return Ok(());
        }
        if times.len() < self.max {
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now_ms);
        let wait_ms = u64::try_from(oldest + self.window_ms - now_ms)
            .unwrap_or(1)
            .max(1);
        Err(wait_ms.div_ceil(1000))
    }

    /// Counts an entry for `key` at `now_ms` (after a successful [`Self::check`]).
    fn push(&mut self, key: &K, now_ms: i64) {
        if self.max == 0 {
            return;
        }
        if !self.keys.contains_key(key) && self.keys.len() >= self.capacity {
            self.prune(now_ms);
            if self.keys.len() >= self.capacity {
                self.evict_idlest();
            }
        }
        let times = self.keys.entry(key.clone()).or_default();
        times.push_back(now_ms);
        if times.len() > self.max {
            times.pop_front();
        }
    }

    /// Takes back the entry for `key` counted at `at_ms`.
    fn release(&mut self, key: &K, at_ms: i64) {
        if let Some(times) = self.keys.get_mut(key) {
            if let Some(i) = times.iter().rposition(|t| *t == at_ms) {
                times.remove(i);
            }
            if times.is_empty() {
                self.keys.remove(key);
            }
        }
    }

    /// Drops every key whose entries all left the window.
    fn prune(&mut self, now_ms: i64) {
        let window_ms = self.window_ms;
        self.keys
            .retain(|_, times| times.back().is_some_and(|t| now_ms - t < window_ms));
        self.keys.shrink_to_fit();
    }

    /// Forgets the key whose latest entry is the oldest. Linear, and only reached when the map
    /// is full of live keys: each attempt that gets here has cost a bcrypt check already.
    fn evict_idlest(&mut self) {
        let idlest = self
            .keys
            .iter()
            .min_by_key(|(_, times)| times.back().copied().unwrap_or(i64::MIN))
            .map(|(key, _)| key.clone());
        if let Some(key) = idlest {
            self.keys.remove(&key);
        }
    }
}

/// A booked attempt: counted until [`Throttle::release_login`] or
/// [`Throttle::release_registration`] takes it back.
#[derive(Debug)]
pub(crate) struct Booking {
    at_ms: i64,
    name: String,
    address: Option<AddressKey>,
}

#[derive(Debug)]
struct Logins {
    per_name_address: Window<(String, AddressKey)>,
    per_name: Window<String>,
    per_address: Window<AddressKey>,
}

/// The login and registration throttles of one node.
#[derive(Debug)]
pub(crate) struct Throttle {
    logins: Mutex<Logins>,
    registrations: Mutex<Window<AddressKey>>,
    /// When [`Throttle::prune`] last walked the maps (ms).
    pruned_at: AtomicI64,
}

/// How often [`Throttle::prune`] walks the maps at most (ms).
const PRUNE_EVERY_MS: i64 = 60_000;

impl Throttle {
    pub(crate) fn new(limits: &Limits) -> Self {
        let window = limits.login_failure_window;
        let cap = limits.throttle_keys;
        Self {
            logins: Mutex::new(Logins {
                per_name_address: Window::new(limits.login_failures_per_name_address, window, cap),
                per_name: Window::new(limits.login_failures_per_name, window, cap),
                per_address: Window::new(limits.login_failures_per_address, window, cap),
            }),
            registrations: Mutex::new(Window::new(
                limits.registrations_per_hour,
                Duration::from_secs(3600),
                cap,
            )),
            pruned_at: AtomicI64::new(i64::MIN),
        }
    }

    /// Books a login attempt for `name` (already validated) from `address` as a failure, or
    /// refuses it with the seconds to wait when any of the three limits is used up. Without an
    /// address only the per-name limit applies.
    pub(crate) fn book_login(
        &self,
        name: &str,
        address: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<Booking, u64> {
        let name = name.to_ascii_lowercase();
        let address = address.map(AddressKey::of);
        let mut logins = self.logins.lock();
        let mut wait = logins.per_name.check(&name, now_ms).err();
        if let Some(addr) = address {
            let pair = (name.clone(), addr);
            for refused in [
                logins.per_name_address.check(&pair, now_ms).err(),
                logins.per_address.check(&addr, now_ms).err(),
            ] {
                wait = wait.max(refused);
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        logins.per_name.push(&name, now_ms);
        if let Some(addr) = address {
            logins.per_name_address.push(&(name.clone(), addr), now_ms);
            logins.per_address.push(&addr, now_ms);
        }
        Ok(Booking {
            at_ms: now_ms,
            name,
            address,
        })
    }

    /// Takes back a booked login attempt that was not a failure (not answered 401).
    pub(crate) fn release_login(&self, booking: Booking) {
        let mut logins = self.logins.lock();
        logins.per_name.release(&booking.name, booking.at_ms);
        if let Some(addr) = booking.address {
            logins
                .per_name_address
                .release(&(booking.name, addr), booking.at_ms);
            logins.per_address.release(&addr, booking.at_ms);
        }
    }

    /// Books a registration from `address` as successful, or refuses it with the seconds to
    /// wait. Without an address nothing is counted.
    pub(crate) fn book_registration(
        &self,
        address: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<Booking, u64> {
        let address = address.map(AddressKey::of);
        if let Some(addr) = address {
            let mut registrations = self.registrations.lock();
            registrations.check(&addr, now_ms)?;
            registrations.push(&addr, now_ms);
        }
        Ok(Booking {
            at_ms: now_ms,
            name: String::new(),
            address,
        })
    }

    /// Takes back a booked registration that was refused.
    pub(crate) fn release_registration(&self, booking: Booking) {
        if let Some(addr) = booking.address {
            self.registrations.lock().release(&addr, booking.at_ms);
        }
    }

    /// Drops the keys that went idle, and gives their memory back (at most once a minute).
    pub(crate) fn prune(&self, now_ms: i64) {
        let last = self.pruned_at.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < PRUNE_EVERY_MS
            || self
                .pruned_at
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        {
            let mut logins = self.logins.lock();
            logins.per_name_address.prune(now_ms);
            logins.per_name.prune(now_ms);
            logins.per_address.prune(now_ms);
        }
        self.registrations.lock().prune(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    fn window(max: u32, capacity: usize) -> Window<&'static str> {
        Window::new(max, Duration::from_secs(15 * 60), capacity)
    }

    fn book(w: &mut Window<&'static str>, key: &'static str, at: i64) -> Result<(), u64> {
        w.check(&key, at)?;
        w.push(&key, at);
        Ok(())
    }

    #[test]
    fn entries_lock_a_key_for_the_whole_window() {
        let mut w = window(3, 100);
        for t in [0, MINUTE, 2 * MINUTE] {
            book(&mut w, "a", t).unwrap();
        }
        assert_eq!(book(&mut w, "a", 2 * MINUTE), Err(13 * 60));
        assert!(book(&mut w, "a", 15 * MINUTE - 1).is_err(), "no trickle");
        assert!(book(&mut w, "b", 0).is_ok(), "keys are independent");
        assert!(book(&mut w, "a", 15 * MINUTE).is_ok(), "the oldest left");
        assert!(book(&mut w, "a", 15 * MINUTE).is_err());
    }

    #[test]
    fn released_entries_do_not_count() {
        let mut w = window(2, 100);
        book(&mut w, "a", 5).unwrap();
        book(&mut w, "a", 5).unwrap();
        assert!(book(&mut w, "a", 5).is_err());
        w.release(&"a", 5);
        assert!(book(&mut w, "a", 6).is_ok());
        assert!(book(&mut w, "a", 6).is_err());
    }

    #[test]
    fn the_key_map_is_bounded_and_shrinks() {
        let mut w = window(5, 3);
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            book(&mut w, key, i as i64).unwrap();
        }
        assert_eq!(w.keys.len(), 3, "never more keys than the capacity");
        assert!(!w.keys.contains_key("a"), "the idlest key was forgotten");
        w.prune(15 * MINUTE + 2);
        assert_eq!(w.keys.len(), 1, "keys that went idle are dropped");
        w.prune(15 * MINUTE + 3);
        assert!(w.keys.is_empty());
    }

    #[test]
    fn zero_means_no_limit() {
        let mut w = window(0, 3);
        for t in 0..50 {
            book(&mut w, "a", t).unwrap();
        }
        assert!(w.keys.is_empty(), "nothing is kept");
    }

    #[test]
    fn ipv6_addresses_count_per_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddressKey::of(a), AddressKey::of(b));
        assert_ne!(AddressKey::of(a), AddressKey::of(c));
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(
            AddressKey::of(mapped),
            AddressKey::of("127.0.0.2".parse().unwrap())
        );
    }

    #[test]
    fn one_address_locked_leaves_the_name_open_elsewhere() {
        let limits = Limits {
            login_failures_per_name_address: 2,
            ..Limits::default()
        };
        let throttle = Throttle::new(&limits);
        let here: IpAddr = "10.0.0.1".parse().unwrap();
        let there: IpAddr = "10.0.0.2".parse().unwrap();
        throttle.book_login("Alice", Some(here), 0).unwrap();
        throttle.book_login("alice", Some(here), 0).unwrap();
        assert!(throttle.book_login("ALICE", Some(here), 0).is_err());
        let booking = throttle.book_login("alice", Some(there), 0).unwrap();
        throttle.release_login(booking);
        assert!(throttle.book_login("bob", Some(here), 0).is_ok());
    }
}
