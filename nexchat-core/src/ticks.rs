//! The sent → delivered → seen state machine of a message.
//!
//! A status only moves forward; seen implies delivered. Stores apply the same rule as one
//! conditional update ([`crate::store::MessageStore::advance_status`]), this type states it.

use crate::protocol::MessageStatus;

/// The tick rules.
#[derive(Debug, Clone, Copy)]
pub struct Ticks;

impl Ticks {
    /// The status after an acknowledgement asking for `to`: `Some(to)` when it moves forward,
    /// `None` when it would stand still or go back.
    ///
    /// ```
    /// use nexchat_core::{Ticks, protocol::MessageStatus::*};
    /// assert_eq!(Ticks::advance(Sent, Seen), Some(Seen));
    /// assert_eq!(Ticks::advance(Seen, Delivered), None);
    /// assert_eq!(Ticks::advance(Delivered, Delivered), None);
    /// ```
    pub fn advance(current: MessageStatus, to: MessageStatus) -> Option<MessageStatus> {
        (to > current).then_some(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageStatus::*;

    #[test]
    fn only_forward() {
        let all = [Sent, Delivered, Seen];
        for from in all {
            for to in all {
                let moved = Ticks::advance(from, to);
                assert_eq!(moved.is_some(), to > from, "{from:?} -> {to:?}");
                if let Some(next) = moved {
                    assert!(next > from);
                }
            }
        }
    }
}
