//! What the topic files share: a pair under a fault plan written in the text vocabulary, a
//! bounded drive, and readers for how a run ended. Anything generic belongs in the test kit.
#![allow(dead_code)]

use upload_session::{Completion, Error, Options, Upload};
use upload_session_testkit::{Config, Faults, Pair, Run};

/// 2 MiB, the chunk of the protocol's own example (docs/protocol.md §3).
pub const MIB2: u64 = 2_097_152;
/// The size of the protocol's example file (docs/protocol.md §2).
pub const SEED_SIZE: u64 = 3_483_322;

/// Options with 2 MiB chunks, the protocol's example.
pub fn mib2() -> Options {
    Options::default().with_chunk_size(MIB2)
}

/// A model under the fault `plan` (`"throttle=2@1/create drop@3/put"`) and a file of `size`
/// bytes.
pub fn pair(plan: &str, size: u64) -> Pair {
    pair_with(plan, size, Config::default())
}

/// [`pair`] with other model settings.
pub fn pair_with(plan: &str, size: u64, config: Config) -> Pair {
    let faults = Faults::plan(plan).unwrap_or_else(|e| panic!("{e}"));
    Pair::new(Config { faults, ..config }, size)
}

/// Drives `up` to its end; a run of more than 200 steps is a loop.
pub fn drive(pair: &mut Pair, up: &mut Upload) -> Run {
    pair.drive_bounded(up, 200)
        .unwrap_or_else(|stuck| panic!("no end: {stuck:?}"))
}

/// The completion of a run that must have finished.
pub fn done(run: &Run) -> &Completion {
    run.done()
}

/// The error of a run that must have failed.
pub fn failed(run: &Run) -> &Error {
    run.failed()
}

/// The status of each exchange; `None` where no answer came.
pub fn statuses(run: &Run) -> Vec<Option<u16>> {
    run.statuses()
}

/// The machine `saved` restores for the pair's file and target, checked from here on like a
/// new one (the process that held the old one is gone).
pub fn restore(pair: &mut Pair, saved: &str, options: Options) -> Upload {
    pair.restore(saved, options)
        .unwrap_or_else(|e| panic!("{e}"))
}
