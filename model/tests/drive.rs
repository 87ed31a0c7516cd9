//! The OneDrive driveItem destination of the model (docs/protocol.md §8): sessions on the
//! other origin with no token, 202 answers with `"S-"` ranges, the 320 KiB grid, completion
//! with the item's JSON, and what a taken name does.

use graph_model::{Config, Model, Origin, Outcome, Parent, WireAnswer, WireBody, WireRequest};
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
