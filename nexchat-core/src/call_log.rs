//! The life of a call: ringing → in_progress → completed, or ringing → missed.

use crate::protocol::{CallKind, CallRecord, CallStatus, EndReason};

/// What can happen to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// The callee answered at this time (ms).
    Answer(i64),
    /// The call ended at this time (ms), for this reason.
    End(i64, EndReason),
}

/// A call event that does not apply to the call's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {status:?} call cannot take {event:?}")]
pub struct InvalidTransition {
    /// The call's state.
    pub status: CallStatus,
    /// The refused event.
    pub event: CallEvent,
}

/// The call-log state machine: builds records and moves them forward only.
#[derive(Debug, Clone, Copy)]
pub struct CallLog;

impl CallLog {
    /// A new call, ringing since `at`.
    pub fn start(
        call_id: String,
        caller: &str,
        callee: &str,
        kind: CallKind,
        at: i64,
    ) -> CallRecord {
        CallRecord {
            call_id,
            caller: caller.to_owned(),
            callee: callee.to_owned(),
            kind,
            status: CallStatus::Ringing,
            started_at: at,
            answered_at: None,
            ended_at: None,
            duration: 0,
            end_reason: None,
        }
    }

    /// The record after `event`. Times never run backwards: an event stamped earlier than the
    /// call's last time is taken as happening at that time.
    ///
    /// ```
    /// use nexchat_core::{CallEvent, CallLog, protocol::{CallKind, CallStatus, EndReason}};
    /// let call = CallLog::start("c1".into(), "alice", "bob", CallKind::Video, 1_000);
    /// let call = CallLog::apply(&call, CallEvent::Answer(3_000)).unwrap();
    /// let call = CallLog::apply(&call, CallEvent::End(65_999, EndReason::Hangup)).unwrap();
    /// assert_eq!(call.status, CallStatus::Completed);
    /// assert_eq!(call.duration, 62);
    /// assert_eq!(call.end_reason, Some(EndReason::Hangup));
    /// assert!(CallLog::apply(&call, CallEvent::End(70_000, EndReason::Hangup)).is_err());
    /// ```
    ///
    /// # Errors
    /// [`InvalidTransition`] when the event does not apply in the call's status (an answer to
    /// a call that is not ringing, anything after the end).
    pub fn apply(call: &CallRecord, event: CallEvent) -> Result<CallRecord, InvalidTransition> {
        let refuse = || InvalidTransition {
            status: call.status,
            event,
        };
        let mut next = call.clone();
        match (call.status, event) {
            (CallStatus::Ringing, CallEvent::Answer(at)) => {
                next.status = CallStatus::InProgress;
                next.answered_at = Some(at.max(call.started_at));
            }
            (CallStatus::Ringing, CallEvent::End(at, reason)) => {
                next.status = CallStatus::Missed;
                next.end_reason = Some(reason);
                next.ended_at = Some(at.max(call.started_at));
                next.duration = 0;
            }
            (CallStatus::InProgress, CallEvent::End(at, reason)) => {
                next.end_reason = Some(reason);
                let answered = call.answered_at.unwrap_or(call.started_at);
                let ended = at.max(answered);
                next.status = CallStatus::Completed;
                next.ended_at = Some(ended);
                next.duration = u64::try_from((ended - answered) / 1000).unwrap_or(0);
            }
            _ => return Err(refuse()),
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ringing() -> CallRecord {
        CallLog::start("c".into(), "a", "b", CallKind::Voice, 10_000)
    }

    #[test]
    fn ringing_then_answer_then_end_completes() {
        let c = CallLog::apply(&ringing(), CallEvent::Answer(12_000)).unwrap();
        assert_eq!(
            (c.status, c.answered_at),
            (CallStatus::InProgress, Some(12_000))
        );
        let c = CallLog::apply(&c, CallEvent::End(14_999, EndReason::Hangup)).unwrap();
        assert_eq!(c.status, CallStatus::Completed);
        assert_eq!((c.ended_at, c.duration), (Some(14_999), 2));
    }

    #[test]
    fn ringing_then_end_is_missed() {
        let c = CallLog::apply(&ringing(), CallEvent::End(60_000, EndReason::Declined)).unwrap();
        assert_eq!(c.status, CallStatus::Missed);
        assert_eq!(c.end_reason, Some(EndReason::Declined));
        assert_eq!(
            (c.answered_at, c.ended_at, c.duration),
            (None, Some(60_000), 0)
        );
    }

    #[test]
    fn in_progress_cannot_be_answered_again() {
        let c = CallLog::apply(&ringing(), CallEvent::Answer(11_000)).unwrap();
        let err = CallLog::apply(&c, CallEvent::Answer(12_000)).unwrap_err();
        assert_eq!(err.status, CallStatus::InProgress);
    }

    #[test]
    fn ended_calls_take_nothing() {
        let missed = CallLog::apply(&ringing(), CallEvent::End(11_000, EndReason::Hangup)).unwrap();
        let answered = CallLog::apply(&ringing(), CallEvent::Answer(11_000)).unwrap();
        let completed =
            CallLog::apply(&answered, CallEvent::End(12_000, EndReason::Hangup)).unwrap();
        for ended in [missed, completed] {
            assert!(CallLog::apply(&ended, CallEvent::Answer(13_000)).is_err());
            assert!(CallLog::apply(&ended, CallEvent::End(13_000, EndReason::Hangup)).is_err());
        }
    }

    #[test]
    fn times_never_run_backwards() {
        let c = CallLog::apply(&ringing(), CallEvent::Answer(5_000)).unwrap();
        assert_eq!(c.answered_at, Some(10_000));
        let c = CallLog::apply(&c, CallEvent::End(1_000, EndReason::Hangup)).unwrap();
        assert_eq!((c.ended_at, c.duration), (Some(10_000), 0));
    }

    #[test]
    fn duration_rounds_down_to_whole_seconds() {
        let answered = CallLog::apply(&ringing(), CallEvent::Answer(20_000)).unwrap();
        for (end, secs) in [
            (20_000, 0),
            (20_999, 0),
            (21_000, 1),
            (82_500, 62),
            (3_620_000, 3600),
        ] {
            let c = CallLog::apply(&answered, CallEvent::End(end, EndReason::Hangup)).unwrap();
            assert_eq!(c.duration, secs, "ended at {end}");
        }
    }

    #[test]
    fn transitions_keep_identity_and_start() {
        let start = CallLog::start("id".into(), "ann", "ben", CallKind::Video, 7);
        assert_eq!(start.status, CallStatus::Ringing);
        assert_eq!(
            (start.answered_at, start.ended_at, start.duration),
            (None, None, 0)
        );
        let answered = CallLog::apply(&start, CallEvent::Answer(9)).unwrap();
        let ended = CallLog::apply(&answered, CallEvent::End(2_009, EndReason::Hangup)).unwrap();
        for c in [&answered, &ended] {
            assert_eq!(
                (c.call_id.as_str(), c.caller.as_str(), c.callee.as_str()),
                ("id", "ann", "ben")
            );
            assert_eq!((c.kind, c.started_at), (CallKind::Video, 7));
        }
        assert_eq!(
            (ended.answered_at, ended.ended_at, ended.duration),
            (Some(9), Some(2_009), 2)
        );
    }

    #[test]
    fn a_refused_transition_says_what_was_refused() {
        let missed = CallLog::apply(&ringing(), CallEvent::End(11_000, EndReason::Hangup)).unwrap();
        let err = CallLog::apply(&missed, CallEvent::Answer(12_000)).unwrap_err();
        assert_eq!(
            err,
            InvalidTransition {
                status: CallStatus::Missed,
                event: CallEvent::Answer(12_000)
            }
        );
    }

    fn rank(s: CallStatus) -> u8 {
        match s {
            CallStatus::Ringing => 0,
            CallStatus::InProgress => 1,
            CallStatus::Completed | CallStatus::Missed => 2,
        }
    }

    fn event() -> impl Strategy<Value = CallEvent> {
        // Times around the start (10 s), before it included, up to a long call.
        (any::<bool>(), -5_000i64..4_000_000).prop_map(|(answer, at)| {
            if answer {
                CallEvent::Answer(at)
            } else {
                CallEvent::End(at, EndReason::NoAnswer)
            }
        })
    }

    proptest! {
        #[test]
        fn random_sequences_only_move_forward(
            events in proptest::collection::vec(event(), 0..16)
        ) {
            let first = ringing();
            let mut call = first.clone();
            for event in events {
                match CallLog::apply(&call, event) {
                    Ok(next) => {
                        prop_assert!(rank(next.status) > rank(call.status));
                        // Only the state, its times and the duration ever change.
                        prop_assert_eq!(&next.call_id, &first.call_id);
                        prop_assert_eq!((&next.caller, &next.callee), (&first.caller, &first.callee));
                        prop_assert_eq!((next.kind, next.started_at), (first.kind, first.started_at));
                        // Times already set stay as they were.
                        if call.answered_at.is_some() {
                            prop_assert_eq!(next.answered_at, call.answered_at);
                        }
                        call = next;
                    }
                    Err(err) => {
                        prop_assert_eq!(err, InvalidTransition { status: call.status, event });
                        // Only a ringing call takes both events; an answered one takes an end.
                        let takes = match call.status {
                            CallStatus::Ringing => true,
                            CallStatus::InProgress => matches!(event, CallEvent::End(..)),
                            CallStatus::Completed | CallStatus::Missed => false,
                        };
                        prop_assert!(!takes);
                    }
                }
                // Each state has exactly its timestamps, and they never run backwards.
                let answered = matches!(call.status, CallStatus::InProgress | CallStatus::Completed);
                prop_assert_eq!(call.answered_at.is_some(), answered);
                prop_assert_eq!(call.ended_at.is_some(), call.status.is_final());
                prop_assert_eq!(call.end_reason.is_some(), call.status.is_final());
                let answered_at = call.answered_at.unwrap_or(call.started_at);
                prop_assert!(answered_at >= call.started_at);
                prop_assert!(call.ended_at.unwrap_or(answered_at) >= answered_at);
                if call.status == CallStatus::Completed {
                    let (a, e) = (call.answered_at.unwrap(), call.ended_at.unwrap());
                    prop_assert_eq!(call.duration, u64::try_from((e - a) / 1000).unwrap());
                } else {
                    prop_assert_eq!(call.duration, 0);
                }
            }
        }
    }
}
