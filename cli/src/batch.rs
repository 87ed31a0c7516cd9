//! Several files in one run: `--parallel N` uploads at a time, each with its own progress
//! line on a terminal and its own JSON object (JSON Lines) with `--json`. One failed file
//! does not stop the others; the exit status is the worst one (130 if interrupted).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::MultiProgress;

use crate::graph_args::Batch;
use crate::{interrupt, job};

/// Runs every job of `batch`, `batch.parallel` at a time; returns the exit status.
pub fn run(
    batch: &Batch,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    bars: Option<&MultiProgress>,
) -> i32 {
    if let Some(dir) = &batch.state_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            let _ = writeln!(
                err,
                "graph-upload: cannot make the state directory {}: {e}",
                dir.display()
            );
            return 1;
        }
    }
    let next = AtomicUsize::new(0);
    let worst = Mutex::new(0);
    let out = Mutex::new(out);
    let err = Mutex::new(err);
    let workers = batch.parallel.clamp(1, batch.jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = batch.jobs.get(i) else { break };
                // After Ctrl-C no file starts; those running stop as one file does.
                if interrupt::asked() {
                    let mut e = Lines::new(&err);
                    let _ = writeln!(
                        e,
                        "graph-upload: {}: not started (interrupted)",
                        job.file.display()
                    );
                    let mut w = worst.lock().unwrap_or_else(|p| p.into_inner());
                    *w = severity(*w, interrupt::EXIT_INTERRUPTED);
                    continue;
                }
                let mut o = Lines::new(&out);
                let mut e = Lines::new(&err);
                let code = job::run_with(job, &mut o, &mut e, bars);
                drop((o, e));
                let mut w = worst.lock().unwrap_or_else(|p| p.into_inner());
                *w = severity(*w, code);
            });
        }
    });
    worst.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// The status that says most: interrupted over usage over failed over success.
fn severity(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        0 => 0,
        1 => 1,
        2 => 2,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// A writer that hands whole lines to a shared one, so that lines of files uploading at
/// once never interleave within a line.
struct Lines<'a, 'w> {
    to: &'a Mutex<&'w mut (dyn Write + Send)>,
    pending: Vec<u8>,
}

impl<'a, 'w> Lines<'a, 'w> {
    fn new(to: &'a Mutex<&'w mut (dyn Write + Send)>) -> Self {
        Lines {
            to,
            pending: Vec::new(),
        }
    }
}

impl Write for Lines<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') {
            let mut to = self.to.lock().unwrap_or_else(|p| p.into_inner());
            to.write_all(&self.pending[..=end])?;
            to.flush()?;
            self.pending.drain(..=end);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let mut to = self.to.lock().unwrap_or_else(|p| p.into_inner());
            to.write_all(&self.pending)?;
            self.pending.clear();
            to.flush()?;
        }
        Ok(())
    }
}

impl Drop for Lines<'_, '_> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
