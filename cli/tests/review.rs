//! Adversarial end-to-end cases: the uploader against the emulator in sequences the other
//! suites do not combine. Each test here showed a defect when it was written; all pass now.

mod common;

use common::*;
use graph_emulator::{Fault, FaultRule, RequestKind};

/// docs/protocol.md §9: "a client must also cope with a status GET that is refused (400/405): then
/// re-send from the last acknowledged offset and follow the answer". Here the status GET is
/// refused (learnt after a 503 on the first PUT), then the third PUT gets a 416 that kept
/// nothing. The uploader guesses the refused chunk was held, sends the next one, gets 416 for
/// the wrong start and gives up (exit 1) although re-sending from 250,000 would succeed.
#[test]
fn refused_status_get_then_416_that_kept_nothing_is_recovered() {
    let dir = temp_dir("review-416-refused");
    let file = make_file(&dir, "notes.bin", 1_000_000, 11);
    let emu = emulator(vec![
        nth(1, Fault::StatusRefused(405)),
        nth(1, Fault::Unavailable(None)),
        nth(3, Fault::RangeNotSatisfiable),
    ]);
    let run = upload(&emu, &file, &["--session-only", "--chunk-size", "250000"]);
    assert_ok(&run);
    assert_stored(&emu, &file);
}

/// Same root cause on the last chunk: with the status GET refused, a 416 on the final PUT
/// fails at once (machine.rs, the `r.end() < self.file.size` guard) instead of re-sending it.
#[test]
fn refused_status_get_then_416_on_the_last_chunk_is_recovered() {
    let dir = temp_dir("review-416-last");
    let file = make_file(&dir, "notes.bin", 1_000_000, 12);
    let emu = emulator(vec![
        nth(1, Fault::StatusRefused(400)),
        nth(1, Fault::Unavailable(None)),
        FaultRule::nth(1, Fault::RangeNotSatisfiable).on(RequestKind::FinalPut),
    ]);
    let run = upload(&emu, &file, &["--session-only", "--chunk-size", "250000"]);
    assert_ok(&run);
    assert_stored(&emu, &file);
}

/// docs/protocol.md §8 looks for a result only when the final request may have landed. A task can
/// already hold an attachment of the same name and size (the same file attached twice on
/// purpose, or an earlier run). A single POST answered 503 (nothing kept) is followed by a
/// listing that finds the OLD attachment: the uploader reports success with the old ID and
/// the file is not attached a second time. The look-up now skips attachments older than the
/// POST by more than the clock tolerance (2 s, for skew and second-cut timestamps), so the
/// second run starts after that.
#[test]
fn lookup_after_failed_post_does_not_adopt_an_older_attachment() {
    let dir = temp_dir("review-older");
    let file = make_file(&dir, "smile.png", 1_000, 13);
    let emu = emulator(vec![
        FaultRule::nth(2, Fault::Unavailable(None)).on(RequestKind::Post)
    ]);
    let first = upload(&emu, &file, &["--json"]);
    assert_ok(&first);
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let second = upload(&emu, &file, &["--json"]);
    assert_ok(&second);
    assert_eq!(faulted(&emu, "unavailable").len(), 1, "the fault fired");
    let id = |out: &str| {
        serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["attachment_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        id(&first.out),
        id(&second.out),
        "the second run reported the first run's attachment"
    );
    assert_eq!(
        emu.task_attachments().len(),
        2,
        "the file was attached twice"
    );
}

/// Gap coverage (passes): a lost final answer with a foreign-origin uploadUrl carrying a query;
/// the look-up goes to Graph with the token, the session URL never gets it.
#[test]
fn lost_final_answer_on_a_foreign_origin_session() {
    let dir = temp_dir("review-foreign-lost");
    let file = make_file(&dir, "notes.bin", 600_000, 14);
    let emu = emulator(vec![
        nth(1, Fault::ForeignOrigin),
        nth(1, Fault::LostFinalAnswer),
    ]);
    let run = upload(
        &emu,
        &file,
        &["--session-only", "--chunk-size", "250000", "--json"],
    );
    assert_ok(&run);
    assert_stored(&emu, &file);
    assert_token_safe(&emu, &run);
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    assert_eq!(v["attachment_id"], emu.task_attachments()[0].id.as_str());
    assert_eq!(v["size"], 600_000);
    assert_eq!(v["sessions"], 1);
}

/// Gap coverage (passes): a kept 503 on a middle chunk with the status GET refused: the
/// re-sent chunk's 416 is taken as "held" and the upload goes on.
#[test]
fn kept_503_with_refused_status_get() {
    let dir = temp_dir("review-kept-refused");
    let file = make_file(&dir, "notes.bin", 1_000_000, 15);
    let emu = emulator(vec![
        nth(1, Fault::StatusRefused(405)),
        nth(2, Fault::UnavailableKept(None)),
    ]);
    let run = upload(&emu, &file, &["--session-only", "--chunk-size", "250000"]);
    assert_ok(&run);
    assert_stored(&emu, &file);
}
