//! `graph-upload` over real HTTP against the emulator, one destination at a time
//! (docs/protocol.md §8): the file arrives byte for byte, the token never reaches an upload
//! host, `--json` prints one object of the documented shape, and bad usage sends nothing.

mod common;

use clap::Parser;
use common::{emulator_plan as emulator, make_file, temp_dir, Run, TOKEN};
use graph_emulator::{Emulator, Parent};

fn graph_upload(emu: &Emulator, args: &[&str]) -> Run {
    let base = emu.base_url();
    let mut argv = vec!["graph-upload"];
    argv.extend_from_slice(&args[..1]);
    argv.extend_from_slice(&[
        "--graph-url",
        &base,
        "--token",
        TOKEN,
        "--retry-initial-ms",
        "20",
        "--json",
    ]);
    argv.extend_from_slice(&args[1..]);
    let parsed = todo_upload::GraphArgs::try_parse_from(argv).expect("arguments parse");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = todo_upload::run_graph(&parsed, &mut out, &mut err);
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

/// The run succeeded, its one JSON object names `target`, and `parent` holds exactly the
/// file under the id it printed; no token went to the upload host, and the emulator saw
/// nothing a correct client does not send.
fn assert_landed(emu: &Emulator, run: &Run, target: &str, parent: &Parent, file: &std::path::Path) {
    assert_eq!(run.code, 0, "{}{}", run.out, run.err);
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    assert_eq!(v["target"], target);
    let items = emu.items(parent);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(v["id"], items[0].id.as_str());
    assert_eq!(v["size"], items[0].size);
    assert!(v["requests"].as_u64().unwrap() >= 2);
    assert_eq!(v["sessions"], 1);
    assert!(
        items[0].bytes == std::fs::read(file).unwrap(),
        "bytes differ"
    );
    assert_eq!(emu.tokens_sent_to_foreign_origin(), 0);
    assert!(emu.violations().is_empty(), "{:?}", emu.violations());
    assert!(!run.out.contains(TOKEN) && !run.err.contains(TOKEN));
}

#[test]
fn drive_item_by_parent_through_a_dropped_fragment() {
    let emu = emulator("drop@2/put");
    let dir = temp_dir("graph-drive");
    let file = make_file(&dir, "report.bin", 3 * 327_680 + 5, 1);
    let path = file.to_str().unwrap();
    let run = graph_upload(
        &emu,
        &[
            "drive",
            "--parent",
            "F1",
            "--session-only",
            "--chunk-size",
            "327680",
            path,
        ],
    );
    let parent = Parent::DriveFolder {
        folder: "F1".into(),
    };
    assert_landed(&emu, &run, "drive", &parent, &file);
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    let mut hash = upload_session::QuickXorHash::new();
    hash.update(&std::fs::read(&file).unwrap());
    assert_eq!(v["quick_xor_hash"], hash.to_base64());
    // The PUTs went to the other listener, on the grid.
    let puts: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert!(puts
        .iter()
        .all(|r| r.origin == graph_emulator::Origin::Foreign));
    assert_eq!(puts.len(), 5, "four fragments and the dropped one again");
}

#[test]
fn drive_item_by_path_in_a_folder() {
    let emu = emulator("");
    let dir = temp_dir("graph-drive-path");
    let file = make_file(&dir, "r.pdf", 400_000, 2);
    let run = graph_upload(
        &emu,
        &[
            "drive",
            "--path",
            "/Docs/r.pdf",
            "--session-only",
            file.to_str().unwrap(),
        ],
    );
    let parent = Parent::DriveFolder {
        folder: "root/Docs".into(),
    };
    assert_landed(&emu, &run, "drive", &parent, &file);
}

#[test]
fn drive_item_in_a_drive_by_id_a_groups_and_a_sites() {
    for (flag, id) in [
        ("--drive", "b!Xy+z="),
        ("--group", "G 1"),
        ("--site", "contoso.sharepoint.com,1,2"),
    ] {
        let emu = emulator("");
        let dir = temp_dir("graph-drive-of");
        let file = make_file(&dir, "a.bin", 2 * 327_680, 9);
        let run = graph_upload(
            &emu,
            &[
                "drive",
                flag,
                id,
                "--parent",
                "F1",
                "--session-only",
                file.to_str().unwrap(),
            ],
        );
        let parent = Parent::DriveFolder {
            folder: "F1".into(),
        };
        assert_landed(&emu, &run, "drive", &parent, &file);
        let create = emu.requests().into_iter().next().unwrap();
        let segment = match flag {
            "--drive" => "/v1.0/drives/b%21Xy%2Bz=/items/",
            "--group" => "/v1.0/groups/G%201/drive/items/",
            _ => "/v1.0/sites/contoso.sharepoint.com",
        };
        assert!(create.path.starts_with(segment), "{}", create.path);
        assert!(create.path.ends_with("/F1:/a.bin:/createUploadSession"));
    }
}

#[test]
fn drive_item_small_by_one_put() {
    let emu = emulator("");
    let dir = temp_dir("graph-drive-small");
    let file = make_file(&dir, "note.txt", 70_000, 8);
    let run = graph_upload(
        &emu,
        &["drive", "--path", "/Docs/note.txt", file.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}{}", run.out, run.err);
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    assert_eq!(
        (v["requests"].as_u64(), v["sessions"].as_u64()),
        (Some(1), Some(0))
    );
    let parent = Parent::DriveFolder {
        folder: "root/Docs".into(),
    };
    let items = emu.items(&parent);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].bytes, std::fs::read(&file).unwrap());
    assert!(emu.violations().is_empty(), "{:?}", emu.violations());
}

#[test]
fn mail_and_event_attachments_by_session_on_the_upload_host() {
    for (target, flag, collection) in [
        ("mail", "--message", "messages"),
        ("event", "--event", "events"),
    ] {
        let emu = emulator("kept503=0.05@1/put");
        let dir = temp_dir(&format!("graph-{target}"));
        let file = make_file(&dir, "deck.pptx", 3_500_000, 3);
        let run = graph_upload(
            &emu,
            &[
                target,
                flag,
                "AAMkItem+1=",
                "--chunk-size",
                "1000000",
                file.to_str().unwrap(),
            ],
        );
        let parent = Parent::Outlook {
            collection: collection.into(),
            id: "AAMkItem+1=".into(),
        };
        assert_landed(&emu, &run, target, &parent, &file);
        let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
        assert!(
            v["location"].as_str().unwrap().contains("/Attachments('"),
            "{v}"
        );
    }
}

#[test]
fn print_document() {
    let emu = emulator("unavailable=0.05@2/put");
    let dir = temp_dir("graph-print");
    let file = make_file(&dir, "page.pdf", 2_500_000, 4);
    let run = graph_upload(
        &emu,
        &[
            "print",
            "--printer",
            "P1",
            "--job",
            "7",
            "--document",
            "D1",
            "--chunk-size",
            "1000000",
            file.to_str().unwrap(),
        ],
    );
    let parent = Parent::PrintDocument {
        printer: "P1".into(),
        job: "7".into(),
        document: "D1".into(),
    };
    assert_landed(&emu, &run, "print", &parent, &file);
}

#[test]
fn bad_usage_exits_2_and_sends_nothing() {
    let emu = emulator("");
    let dir = temp_dir("graph-usage");
    let file = make_file(&dir, "a.bin", 1000, 5);
    let path = file.to_str().unwrap();
    for args in [
        vec!["drive", "--parent", "F1", "--chunk-size", "1000", path],
        vec!["drive", path],
        vec!["mail", path],
        vec!["print", "--printer", "P", "--job", "J", path],
    ] {
        let run = graph_upload(&emu, &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.err);
        assert!(run.err.starts_with("graph-upload: "), "{}", run.err);
        assert_eq!(run.err.lines().count(), 1, "{}", run.err);
    }
    assert!(emu.requests().is_empty());
    // clap refuses a half-given inline attachment before anything runs.
    for args in [
        vec!["graph-upload", "mail", "--message", "M", "--inline", path],
        vec![
            "graph-upload",
            "mail",
            "--message",
            "M",
            "--content-id",
            "c",
            path,
        ],
    ] {
        let e = todo_upload::GraphArgs::try_parse_from(args).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
    }
}

#[test]
fn drive_item_deferred_commit_prints_the_link_and_the_checked_hash() {
    let emu = emulator("");
    let dir = temp_dir("graph-drive-defer");
    let file = make_file(&dir, "big.bin", 2 * 327_680 + 9, 6);
    let run = graph_upload(
        &emu,
        &[
            "drive",
            "--parent",
            "F1",
            "--defer-commit",
            "--chunk-size",
            "327680",
            file.to_str().unwrap(),
        ],
    );
    let parent = Parent::DriveFolder {
        folder: "F1".into(),
    };
    assert_landed(&emu, &run, "drive", &parent, &file);
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    let mut hash = upload_session::QuickXorHash::new();
    hash.update(&std::fs::read(&file).unwrap());
    assert_eq!(v["quick_xor_hash"], hash.to_base64());
    assert!(v["web_url"].as_str().unwrap().ends_with("/big.bin"), "{v}");
    // Three fragments, then the commit on the upload host.
    let last = emu.requests().into_iter().last().unwrap();
    assert_eq!((last.method.as_str(), last.status), ("POST", Some(201)));
    assert_eq!(last.origin, graph_emulator::Origin::Foreign);
}

#[test]
fn mail_inline_attachment() {
    let emu = emulator("");
    let dir = temp_dir("graph-inline");
    let file = make_file(&dir, "logo.png", 3_200_000, 7);
    let run = graph_upload(
        &emu,
        &[
            "mail",
            "--message",
            "AAMkItem=",
            "--inline",
            "--content-id",
            "logo@1",
            file.to_str().unwrap(),
        ],
    );
    let parent = Parent::Outlook {
        collection: "messages".into(),
        id: "AAMkItem=".into(),
    };
    assert_landed(&emu, &run, "mail", &parent, &file);
}
