//! The OneDrive driveItem destination of the model (docs/protocol.md §8): sessions on the
//! other origin with no token, 202 answers with `"S-"` ranges, the 320 KiB grid, completion
//! with the item's JSON, and what a taken name does.

use graph_model::{
    encode_segment, Config, Model, Origin, Outcome, Parent, WireAnswer, WireBody, WireRequest,
};
use serde_json::Value;

const NOW: u64 = 1_700_000_000_000;
const GRID: usize = 327_680;

fn answer(o: Outcome) -> WireAnswer {
    match o {
        Outcome::Answer(a) => a,
        other => panic!("no answer: {other:?}"),
    }
}

fn json(a: &WireAnswer) -> Value {
    serde_json::from_slice(&a.body).unwrap()
}

struct Client {
    model: Model,
    auth: String,
}

impl Client {
    fn new() -> Client {
        let model = Model::new(Config::default());
        let auth = format!("Bearer {}", model.token());
        Client { model, auth }
    }

    fn graph(&mut self, method: &str, path: &str, body: &[u8]) -> WireAnswer {
        let mut req = WireRequest::new(Origin::Graph, method, path);
        req.headers = vec![
            ("Authorization", self.auth.as_bytes()),
            ("Content-Type", b"application/json"),
        ];
        req.body = WireBody::Bytes(vec![body]);
        answer(self.model.handle(NOW, &req))
    }

    fn create(&mut self, name: &str, conflict: &str) -> String {
        let body = format!(
            r#"{{"item":{{"@microsoft.graph.conflictBehavior":"{conflict}","name":"{name}"}}}}"#
        );
        let a = self.graph(
            "POST",
            &format!("/v1.0/me/drive/items/F1:/{name}:/createUploadSession"),
            body.as_bytes(),
        );
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        let url = json(&a)["uploadUrl"].as_str().unwrap().to_string();
        assert!(url.starts_with(self.model.foreign_origin()), "{url}");
        url
    }

    fn put(&mut self, url: &str, data: &[u8], start: usize, len: usize, token: bool) -> WireAnswer {
        let target = &url[self.model.foreign_origin().len()..];
        let cr = format!("bytes {}-{}/{}", start, start + len - 1, data.len());
        let cl = len.to_string();
        let mut req = WireRequest::new(Origin::Foreign, "PUT", target);
        req.headers = vec![
            ("Content-Type", b"application/octet-stream"),
            ("Content-Range", cr.as_bytes()),
            ("Content-Length", cl.as_bytes()),
        ];
        if token {
            req.headers.push(("Authorization", self.auth.as_bytes()));
        }
        req.body = WireBody::Bytes(vec![&data[start..start + len]]);
        answer(self.model.handle(NOW, &req))
    }
}

fn file(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 253) as u8).collect()
}

#[test]
fn a_drive_upload_answers_202_with_open_ranges_then_the_item() {
    let mut c = Client::new();
    let url = c.create("a.bin", "fail");
    let data = file(GRID * 2 + 1000);
    let a = c.put(&url, &data, 0, GRID, false);
    assert_eq!(a.status, 202);
    assert_eq!(
        json(&a)["nextExpectedRanges"],
        serde_json::json!([format!("{GRID}-")])
    );
    let a = c.put(&url, &data, GRID, GRID + 1000, false);
    assert_eq!(a.status, 201);
    let item = json(&a);
    assert_eq!(item["name"], "a.bin");
    assert_eq!(item["size"], data.len() as u64);
    assert_eq!(a.header("Location"), None);
    let folder = Parent::DriveFolder {
        folder: "F1".into(),
    };
    assert_eq!(c.model.attachments_of(&folder)[0].bytes, data);
    assert_eq!(
        c.model.attachments_of(&folder)[0].id,
        item["id"].as_str().unwrap()
    );
    // Read back by path.
    let a = c.graph("GET", "/v1.0/me/drive/items/F1:/a.bin:", b"");
    assert_eq!(
        (a.status, json(&a)["id"].clone()),
        (200, item["id"].clone())
    );
    assert_eq!(
        c.graph("GET", "/v1.0/me/drive/items/F1:/b.bin:", b"")
            .status,
        404
    );
    assert!(
        c.model.violations().is_empty(),
        "{:?}",
        c.model.violations()
    );
}

#[test]
fn off_grid_fragments_and_tokens_on_the_upload_url_are_violations() {
    let mut c = Client::new();
    let url = c.create("a.bin", "fail");
    let data = file(GRID * 3);
    assert_eq!(c.put(&url, &data, 0, GRID - 1, false).status, 400);
    assert_eq!(c.put(&url, &data, 0, GRID, true).status, 401);
    assert_eq!(c.model.violations().len(), 2, "{:?}", c.model.violations());
}

#[test]
fn a_taken_name_fails_is_replaced_or_renamed_as_asked() {
    let mut c = Client::new();
    let data = file(1000);
    let url = c.create("a.bin", "fail");
    assert_eq!(c.put(&url, &data, 0, 1000, false).status, 201);
    let first = c.model.attachments_of(&Parent::DriveFolder {
        folder: "F1".into(),
    })[0]
        .id
        .clone();

    let url = c.create("a.bin", "fail");
    let a = c.put(&url, &data, 0, 1000, false);
    assert_eq!(a.status, 409);
    assert_eq!(json(&a)["error"]["code"], "nameAlreadyExists");

    let url = c.create("a.bin", "replace");
    let a = c.put(&url, &data, 0, 1000, false);
    assert_eq!(
        (a.status, json(&a)["id"].as_str()),
        (200, Some(first.as_str()))
    );

    let url = c.create("a.bin", "rename");
    let a = c.put(&url, &data, 0, 1000, false);
    assert_eq!(
        (a.status, json(&a)["name"].as_str()),
        (201, Some("a 1.bin"))
    );
    let items = c.model.attachments_of(&Parent::DriveFolder {
        folder: "F1".into(),
    });
    assert_eq!(items.len(), 2);
}

#[test]
fn items_carry_their_hash_and_web_url_and_read_back_by_id() {
    let mut c = Client::new();
    let url = c.create("a b.bin", "fail");
    let data = file(1000);
    let a = c.put(&url, &data, 0, 1000, false);
    assert_eq!(a.status, 201);
    let item = json(&a);
    let hash = item["file"]["hashes"]["quickXorHash"].as_str().unwrap();
    assert_eq!(hash.len(), 28, "{hash}");
    assert!(
        item["webUrl"].as_str().unwrap().ends_with("/a%20b.bin"),
        "{item}"
    );
    let id = encode_segment(item["id"].as_str().unwrap());
    let a = c.graph("GET", &format!("/v1.0/me/drive/items/{id}"), b"");
    assert_eq!(a.status, 200);
    assert_eq!(json(&a), item);
    assert_eq!(c.graph("GET", "/v1.0/me/drive/items/nope", b"").status, 404);
    assert_eq!(
        c.graph("PUT", &format!("/v1.0/me/drive/items/{id}"), b"")
            .status,
        405
    );
    // Another file's hash differs; the same bytes hash the same.
    let url = c.create("c.bin", "fail");
    let other = json(&c.put(&url, &file(1001), 0, 1001, false));
    assert_ne!(other["file"]["hashes"]["quickXorHash"].as_str(), Some(hash));
    let url = c.create("d.bin", "fail");
    let same = json(&c.put(&url, &data, 0, 1000, false));
    assert_eq!(same["file"]["hashes"]["quickXorHash"].as_str(), Some(hash));
}

#[test]
fn a_deferred_commit_holds_the_item_until_the_post() {
    let mut c = Client::new();
    let body = br#"{"item":{"name":"a.bin"},"deferCommit":true}"#;
    let a = c.graph(
        "POST",
        "/v1.0/me/drive/items/F1:/a.bin:/createUploadSession",
        body,
    );
    assert_eq!(a.status, 200);
    let url = json(&a)["uploadUrl"].as_str().unwrap().to_string();
    let target = url[c.model.foreign_origin().len()..].to_string();
    let data = file(GRID + 10);
    let post = |c: &mut Client| {
        let req = WireRequest::new(Origin::Foreign, "POST", &target);
        answer(c.model.handle(NOW, &req))
    };
    assert_eq!(c.put(&url, &data, 0, GRID, false).status, 202);
    // Committing with bytes missing is the client's mistake.
    assert_eq!(post(&mut c).status, 400);
    assert_eq!(c.model.violations().len(), 1);
    let a = c.put(&url, &data, GRID, 10, false);
    assert_eq!(a.status, 202);
    assert_eq!(json(&a)["nextExpectedRanges"], serde_json::json!([]));
    let folder = Parent::DriveFolder {
        folder: "F1".into(),
    };
    assert!(
        c.model.attachments_of(&folder).is_empty(),
        "not before the commit"
    );
    let status = answer(
        c.model
            .handle(NOW, &WireRequest::new(Origin::Foreign, "GET", &target)),
    );
    assert_eq!(json(&status)["nextExpectedRanges"], serde_json::json!([]));
    let a = post(&mut c);
    assert_eq!(a.status, 201);
    assert_eq!(json(&a)["size"], data.len() as u64);
    assert_eq!(c.model.attachments_of(&folder)[0].bytes, data);
    // The session is gone once committed.
    assert_eq!(post(&mut c).status, 404);
}
