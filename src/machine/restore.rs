//! What a restored upload does: the machine's side of saved state. `state.rs` maps the JSON
//! and checks it; this decides what the checked snapshot means (docs/protocol.md §6, §11).

use std::time::Duration;

use super::{Blind, Phase, Resume, StatusQuery, Upload, Wait};
use crate::request::WaitReason;
use crate::retry::Rng;
use crate::state::{Restored, Snapshot};

impl Upload {
    /// The phase, for saved state.
    pub(crate) fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The jitter generator, for saved state.
    pub(crate) fn rng(&self) -> &Rng {
        &self.budget.rng
    }

    /// What is left of the current wait, for saved state.
    pub(crate) fn wait_left(&self) -> Option<(Duration, WaitReason)> {
        match self.wait? {
            Wait::Until(t, r) => Some((t.saturating_duration_since(self.now), r)),
            Wait::For(d, r) => Some((d, r)),
        }
        .filter(|(d, _)| !d.is_zero())
    }

    /// Whether a cancel was asked for: kept in saved state.
    pub(crate) fn cancel_asked(&self) -> bool {
        self.cancel_asked
    }

    /// Puts a restored upload in place: `state.rs` checked the snapshot; what it means to
    /// go on from it is decided here.
    pub(crate) fn resume(&mut self, snapshot: Snapshot) {
        let Snapshot {
            restored,
            wait,
            cancel,
            sessions,
            requests,
            rng,
        } = snapshot;
        // A new process gets a new retry and restart budget; the counts go on.
        self.budget.sessions = sessions;
        self.budget.requests = requests;
        self.budget.rng = rng;
        self.phase = match restored {
            Restored::Done(c) => Phase::Done(c),
            Restored::Cancelled => Phase::Cancelled,
            Restored::Failed(e) => Phase::Failed(e, Resume::Never),
            Restored::Live(Resume::Afresh | Resume::Never) => {
                std::mem::replace(&mut self.phase, Phase::Creating)
            }
            // A session that refuses status queries goes straight to its next PUT, which
            // tests it; others are asked where they stand first (docs/protocol.md §6, §9).
            Restored::Live(Resume::Session(mut s)) => match &mut s.query {
                StatusQuery::Refused(blind) => {
                    *blind = Blind::new(s.expected.first().map(|r| r.start()));
                    Phase::Uploading(*s)
                }
                StatusQuery::Allowed => Phase::Querying(*s),
            },
            // The result may exist and no session is left: look first (docs/protocol.md §11).
            Restored::Live(Resume::Lookup(l)) => Phase::Finding(l),
        };
        // The server's Retry-After outlives the process that heard it.
        self.wait = wait.map(|(d, r)| Wait::For(d, r));
        // So does a cancel: a session it left open is deleted.
        if cancel && !self.is_over() {
            self.cancel_asked = true;
            self.apply_cancel(None);
        }
    }
}
