//! Test what drives an [`upload_session::Upload`], in memory, against a model of Graph.
//!
//! - [`Pair`] joins machines to the sans-IO [`graph_model::Model`] on a virtual clock:
//!   [`Pair::send`] carries one request (token, headers, the file's bytes) to the model and
//!   returns what a driver would see; [`Pair::drive_bounded`] runs a whole upload with a
//!   step cap; [`Pair::assert_sound`] checks what it left: no protocol violation, never two
//!   attachments of one file, the bytes exact.
//! - [`Checker`] checks every action against the invariants drivers rely on, with limits
//!   read from the core's public constants.
//! - [`strategies`] has proptest strategies for fault plans and clock skew, in the one
//!   fault vocabulary of [`graph_model::Faults`] (`"throttle=2@1/create drop@3/put"`).
//! - [`fuzzing`] has the fuzz harnesses behind the project's `cargo fuzz` targets.
//!
//! Property-testing a driver of your own takes a dozen lines: hand it the pair where it
//! would do HTTP, and let proptest choose the faults.
//!
//! ```
//! use proptest::prelude::*;
//! use upload_session::{Action, Options, Upload};
//! use upload_session_testkit::{strategies, Config, End, Pair};
//!
//! /// The driver under test: a loop that polls the machine and carries out its actions.
//! fn my_driver(up: &mut Upload, pair: &mut Pair) -> End {
//!     loop {
//!         match up.poll(pair.now) {
//!             Action::Send(req) => pair.send(up, &req).feed(up, pair.now, &req).unwrap(),
//!             Action::Wait { until, .. } => pair.now = until,
//!             Action::RefreshToken => up.token_refreshed(pair.now).unwrap(),
//!             Action::Done(c) => return End::Done(c),
//!             Action::Failed(e) => return End::Failed(e),
//!             Action::Cancelled => return End::Cancelled,
//!             other => panic!("{other:?}"),
//!         }
//!     }
//! }
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(24))]
//!     fn any_plan_any_skew(faults in strategies::fault_plan(3),
//!                          skew in strategies::clock_skew(), size in 0u64..9_000_000) {
//!         let mut pair = Pair::new(Config { faults, clock_skew_ms: skew, ..Config::default() }, size);
//!         let mut up = pair.upload(Options::default());
//!         let end = my_driver(&mut up, &mut pair);
//!         pair.assert_sound(&end);
//!     }
//! }
//! any_plan_any_skew();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod check;
pub mod fuzzing;
mod pair;
pub mod strategies;

pub use check::{same_origin, Checker};
pub use graph_model::{Config, Fault, FaultRule, Faults, Model, RequestKind};
pub use pair::{
    Delivery, End, Exchange, Pair, Run, Stuck, TestFile, HELD_BYTES, ROUND_TRIP, START,
};
