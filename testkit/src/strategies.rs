//! proptest strategies for what the server and the clock may do: fault plans in the one
//! vocabulary of [`graph_model::Faults`], and clock skew.

use std::time::Duration;

use graph_model::{Fault, FaultRule, Faults, KeyCase, RequestKind, RetryAfter, When};
use proptest::prelude::*;

fn retry_after() -> impl Strategy<Value = Option<RetryAfter>> {
    prop_oneof![
        Just(None),
        (0u64..3000).prop_map(|ms| Some(RetryAfter::Delta(Duration::from_millis(ms)))),
        (0u64..5).prop_map(|s| Some(RetryAfter::Date(Duration::from_secs(s)))),
    ]
}

/// One fault of any kind the model knows, with its arguments.
pub fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::CreatedStatus),
        prop_oneof![
            Just(KeyCase::Camel),
            Just(KeyCase::Pascal),
            Just(KeyCase::Mixed)
        ]
        .prop_map(Fault::KeyCase),
        prop_oneof![Just(400u16), Just(405u16)].prop_map(Fault::StatusRefused),
        Just(Fault::ForeignOrigin),
        Just(Fault::QueryOnGraphOrigin),
        (1u32..4).prop_map(Fault::ExpireAfterChunks),
        retry_after().prop_map(Fault::TooManyRequests),
        retry_after().prop_map(Fault::Unavailable),
        retry_after().prop_map(Fault::UnavailableKept),
        Just(Fault::InternalError),
        Just(Fault::DropMidBody),
        (0u64..3000, any::<bool>()).prop_map(|(ms, keep)| Fault::Stall {
            delay: Duration::from_millis(ms),
            keep
        }),
        Just(Fault::RangeNotSatisfiable),
        Just(Fault::LoseRange),
        Just(Fault::LostFinalAnswer),
        Just(Fault::AnswerLost),
        Just(Fault::Unauthorized),
        Just(Fault::SessionGone),
    ]
}

/// The requests a rule counts.
pub fn request_kind() -> impl Strategy<Value = RequestKind> {
    prop_oneof![
        Just(RequestKind::Create),
        Just(RequestKind::Put),
        Just(RequestKind::FinalPut),
        Just(RequestKind::Status),
        Just(RequestKind::Delete),
        Just(RequestKind::Post),
        Just(RequestKind::Read),
        Just(RequestKind::Any),
    ]
}

/// One rule: a fault on the Nth (1 to 6) request of a kind, or on every second or third,
/// at most a few times, so that an upload can still end.
pub fn fault_rule() -> impl Strategy<Value = FaultRule> {
    (
        fault(),
        request_kind(),
        prop_oneof![
            (1u64..7).prop_map(When::Nth),
            (2u64..4).prop_map(When::Every)
        ],
        1u64..4,
    )
        .prop_map(|(fault, kind, when, times)| {
            let rule = FaultRule {
                on: fault.default_kind(),
                fault,
                when,
                times: Some(times),
            };
            if rule.fault.is_session_fault() {
                rule
            } else {
                rule.on(kind)
            }
        })
}

/// A plan of up to `max_rules` rules with a seed: what a property test runs an upload
/// under. Shrinks towards fewer rules.
pub fn fault_plan(max_rules: usize) -> impl Strategy<Value = Faults> {
    (
        prop::collection::vec(fault_rule(), 0..=max_rules),
        any::<u64>(),
    )
        .prop_map(|(rules, seed)| Faults {
            rules,
            seed: Some(seed),
        })
}

/// How far the server's clock is off the client's, in ms: up to ten minutes either way,
/// often exactly right.
pub fn clock_skew() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0i64), -600_000i64..=600_000]
}
