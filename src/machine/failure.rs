//! Failures that retrying may fix, and answers that add nothing: the failure streak of the
//! unit of progress, its waits, and the stall count (docs/protocol.md §9, §11).

use std::time::Duration;

use super::{AfterLookup, Phase, Resume, Session, StatusQuery, Upload, Wait, MAX_STALLS};
use crate::error::{Error, Failure, ProtocolError};
use crate::request::{Purpose, Request, WaitReason};
use crate::retry::{Streak, StreakEnd};

impl Upload {
    /// A transient failure or no answer: count it in the streak and wait (docs/protocol.md
    /// §9, §11); where the request may have had an effect, ask before repeating it.
    pub(super) fn failed(
        &mut self,
        req: &Request,
        failure: Failure,
        retry_after: Option<Duration>,
    ) {
        let unknown = match failure {
            Failure::Transport(t) => t.outcome_unknown(),
            // 429 is a refusal; a 5xx may have kept the bytes (docs/protocol.md §9).
            Failure::Status(s) => s != 429,
        };
        let now = self.now;
        let policy = &self.options.retry;
        let streak = self.budget.streak.get_or_insert_with(|| Streak::new(now));
        // A dropped connection is retried at once the first time: the status query that
        // follows is cheap, and most drops are not an overloaded server.
        let at_once = matches!(failure, Failure::Transport(_));
        match streak.fail(policy, &mut self.budget.rng, now, retry_after, at_once) {
            Ok(wait) => {
                let reason = if retry_after.is_some_and(|a| a >= wait) {
                    WaitReason::RetryAfter
                } else {
                    WaitReason::Backoff
                };
                self.wait =
                    (!wait.is_zero()).then(|| Wait::Until(now.saturating_add(wait), reason));
            }
            Err(end) => {
                let e = match end {
                    StreakEnd::Total {
                        asked: Some(asked),
                        left,
                        ..
                    } => Error::RetryAfterTooLong {
                        purpose: req.purpose,
                        asked,
                        left,
                        max_total: policy.max_total,
                    },
                    StreakEnd::Attempts(attempts)
                    | StreakEnd::Total {
                        failures: attempts, ..
                    } => Error::RetriesExhausted {
                        purpose: req.purpose,
                        attempts,
                        last: failure,
                    },
                };
                let phase = std::mem::replace(&mut self.phase, Phase::Cancelled);
                self.phase = self.fail_in(phase, e);
                // The server's last Retry-After outlives the failure: saved with it, a
                // restored upload waits it out before asking again (docs/protocol.md §9).
                // Cut as a restore cuts it: no wait outlasts a whole failure streak.
                let max_total = self.options.retry.max_total;
                self.wait = retry_after.filter(|d| !d.is_zero()).map(|d| {
                    Wait::Until(now.saturating_add(d.min(max_total)), WaitReason::RetryAfter)
                });
                return;
            }
        }
        if !unknown {
            return;
        }
        let can_list = self.target.profile().can_list_attachments;
        let phase = std::mem::replace(&mut self.phase, Phase::Cancelled);
        self.phase = match phase {
            Phase::Uploading(mut s) => match (&mut s.query, req.file_range()) {
                (StatusQuery::Refused(blind), Some(r)) => {
                    blind.sent_unknown(r.start());
                    Phase::Uploading(s)
                }
                _ => Phase::Querying(s),
            },
            // The commit may have made the item: ask the session (gone: look).
            Phase::Committing(s) => Phase::Querying(s),
            // The POST may have created the attachment: look before posting again.
            Phase::Posting(Some(since)) if can_list => self.lookup(since, AfterLookup::Repost),
            other => other,
        };
    }

    /// A chunk answer that added no bytes; the failed phase when there were too many. The
    /// first is followed at once (ranges come back when a server lost them); the next ones
    /// back off as failures do, so a confused server is not fed chunks back to back.
    pub(super) fn stall(&mut self, s: &Session) -> Option<Phase> {
        self.budget.stalls += 1;
        if self.budget.stalls > MAX_STALLS {
            let error = ProtocolError::NoProgress {
                answers: self.budget.stalls,
            };
            let e = Error::Protocol {
                purpose: Purpose::UploadChunk,
                error,
            };
            return Some(Phase::Failed(e, Resume::Session(Box::new(s.clone()))));
        }
        if self.budget.stalls > 1 {
            let d = (self.options.retry).backoff(self.budget.stalls - 1, &mut self.budget.rng);
            self.wait = Some(Wait::Until(self.now.saturating_add(d), WaitReason::Backoff));
        }
        None
    }

    /// The unit of progress advanced: the failure streak and the stall count end.
    pub(super) fn advanced(&mut self) {
        self.budget.streak = None;
        self.budget.stalls = 0;
    }
}
