//! Message ids that carry their own send time.
//!
//! The load generator puts a client-chosen UUID `id` on every message (the protocol lets a
//! client pick it and the server keeps it). The first 48 bits of that UUID are the send time in
//! microseconds since the start of the run, so whoever sees the id again — the sender in
//! `message_sent`, the receiver in `receive_message` — gets the latency without any table shared
//! between connections. The rest is a tag byte, 38 random bits chosen per connection and a
//! 32-bit counter, so ids never collide with another connection's or another run's. The UUID is a
//! valid version 8 ("custom") UUID.

use std::time::Instant;

use uuid::Uuid;

/// Marks ids made here, so ids from elsewhere are never read as times.
const TAG: u8 = 0x6e;

/// The time base of one run: every id of the run counts microseconds from the same instant.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn start() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }

    /// Microseconds since the start of the run.
    pub fn now_micros(&self) -> u64 {
        self.micros_at(Instant::now())
    }

    /// Microseconds from the start of the run to `at` (0 for an instant before it).
    pub fn micros_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::start()
    }
}

/// Makes the ids of one connection.
#[derive(Debug, Clone)]
pub struct IdGen {
    salt: [u8; 5],
    counter: u32,
}

impl IdGen {
    /// A generator with fresh random bits.
    pub fn new() -> Self {
        Self {
            salt: rand::random(),
            counter: 0,
        }
    }

    /// The next id, carrying `micros` (microseconds since the run's start, 48 bits kept).
    pub fn next(&mut self, micros: u64) -> Uuid {
        let mut b = [0u8; 16];
        b[0..6].copy_from_slice(&micros.to_be_bytes()[2..8]);
        b[6] = self.salt[0] & 0x0f; // the high nibble becomes the version
        b[7] = TAG;
        b[8..12].copy_from_slice(&self.salt[1..5]); // two bits of b[8] become the variant
        b[12..16].copy_from_slice(&self.counter.to_be_bytes());
        self.counter = self.counter.wrapping_add(1);
        uuid::Builder::from_custom_bytes(b).into_uuid()
    }
}

impl Default for IdGen {
    fn default() -> Self {
        Self::new()
    }
}

/// The send time carried by an id made by [`IdGen`], or `None` for any other string.
pub fn send_micros(id: &str) -> Option<u64> {
    let u = Uuid::try_parse(id).ok()?;
    let b = u.as_bytes();
    if u.get_version_num() != 8 || b[7] != TAG {
        return None;
    }
    let mut t = [0u8; 8];
    t[2..8].copy_from_slice(&b[0..6]);
    Some(u64::from_be_bytes(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips_through_the_id() {
        let mut g = IdGen::new();
        for t in [0u64, 1, 999_999, 123_456_789_012, (1 << 48) - 1] {
            let id = g.next(t).to_string();
            assert_eq!(send_micros(&id), Some(t));
        }
    }

    #[test]
    fn ids_are_distinct_and_foreign_ids_are_ignored() {
        let mut g = IdGen::new();
        let a = g.next(5);
        let b = g.next(5);
        assert_ne!(a, b);
        assert_eq!(send_micros(&Uuid::new_v4().to_string()), None);
        assert_eq!(send_micros("not-a-uuid"), None);
    }
}
