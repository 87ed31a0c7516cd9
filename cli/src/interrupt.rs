//! Ctrl-C: the first SIGINT asks the upload to stop once the request in flight is answered
//! (at once while waiting); a second one ends the process at once, status 130.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static ASKED: AtomicBool = AtomicBool::new(false);

/// The exit status after an interruption, as shells report SIGINT.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Installs the handler; the binaries call it, library users and tests need not.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if ASKED.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
}

/// Whether a stop was asked for.
pub fn asked() -> bool {
    ASKED.load(Ordering::SeqCst)
}

/// Sleeps `d`, waking early (returning true) when `interruptible` and a stop is asked for;
/// `tick` runs about once a second with the time left, for countdowns.
pub fn sleep(d: Duration, interruptible: bool, mut tick: impl FnMut(Duration)) -> bool {
    let end = Instant::now() + d;
    let mut next_tick = Instant::now();
    loop {
        if interruptible && asked() {
            return true;
        }
        let now = Instant::now();
        if now >= end {
            return false;
        }
        if now >= next_tick {
            tick(end - now);
            next_tick = now + Duration::from_secs(1);
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}
