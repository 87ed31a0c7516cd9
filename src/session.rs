//! What the server says about a session and its result: the `uploadSession` JSON with keys in
//! any casing (docs/protocol.md §2-§3), Graph's error body (docs/protocol.md §9), the attachment JSON of a
//! single POST or a listing (docs/protocol.md §7, §8), and the `Location` of a completed upload
//! (docs/protocol.md §5). Pure parsers; the machine decides what they mean.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::ranges::{ExpectedRanges, RangeError};
use crate::time::{parse_rfc3339, DateError, Timestamp};
use crate::url::percent_decode;

/// Why a body from the server was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON, or JSON of the wrong shape; the text says where.
    #[error("the {what} body is not valid JSON of the expected shape: {detail}")]
    Json {
        /// Which body: "uploadSession", "attachment", ...
        what: &'static str,
        /// serde_json's description.
        detail: String,
    },
    /// A `nextExpectedRanges` entry was refused.
    #[error(transparent)]
    Range(#[from] RangeError),
    /// `expirationDateTime` was not a date.
    #[error("expirationDateTime: {0}")]
    Date(#[from] DateError),
    /// A field the protocol requires is absent or empty.
    #[error("the {what} body has no {field}")]
    Missing {
        /// Which body.
        what: &'static str,
        /// Which field.
        field: &'static str,
    },
}

fn json_error(what: &'static str, e: impl fmt::Display) -> BodyError {
    let mut detail = e.to_string();
    // serde's message may quote the server's text: cut on a character boundary.
    if let Some((at, _)) = detail.char_indices().nth(200) {
        detail.truncate(at);
    }
    BodyError::Json { what, detail }
}

/// The fields of an `uploadSession` body that the machine uses. `nextExpectedRanges` is
/// written into the caller's [`ExpectedRanges`] to reuse its buffer.
#[derive(Debug, Default, PartialEq, Eq)]
#[allow(unreachable_pub)] // public through the `fuzzing` window only
pub struct SessionFields {
    /// `uploadUrl`, when the body had one.
    pub upload_url: Option<String>,
    /// `expirationDateTime`, when the body had one.
    pub expiration: Option<Timestamp>,
    /// Whether the body had a `nextExpectedRanges` array at all.
    pub has_ranges: bool,
}

/// Parses an `uploadSession` body for a file of `size` bytes, keys matched without regard to
/// case (docs/protocol.md §3: `NextExpectedRanges` and `nextExpectedRanges` both occur, even mixed in
/// one body), unknown keys ignored, `null` read as absent. On success `ranges` holds the
/// parsed `nextExpectedRanges`, or is untouched when the body had none.
#[allow(unreachable_pub)] // public through the `fuzzing` window only
pub fn parse_upload_session(
    body: &[u8],
    size: u64,
    ranges: &mut ExpectedRanges,
) -> Result<SessionFields, BodyError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let seed = SessionSeed { size, ranges };
    let fields = seed
        .deserialize(&mut de)
        .map_err(|e| json_error("uploadSession", e))??;
    de.end().map_err(|e| json_error("uploadSession", e))?;
    Ok(fields)
}

struct SessionSeed<'a> {
    size: u64,
    ranges: &'a mut ExpectedRanges,
}

enum Key {
    UploadUrl,
    Expiration,
    Ranges,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, k: &str) -> Result<Key, E> {
                Ok(if k.eq_ignore_ascii_case("uploadUrl") {
                    Key::UploadUrl
                } else if k.eq_ignore_ascii_case("expirationDateTime") {
                    Key::Expiration
                } else if k.eq_ignore_ascii_case("nextExpectedRanges") {
                    Key::Ranges
                } else {
                    Key::Other
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A date string parsed on the spot, its error kept typed rather than flattened into serde's.
struct DateValue(Option<Result<Timestamp, DateError>>);

impl<'de> de::Deserialize<'de> for DateValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DateValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date-time string or null")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<DateValue, E> {
                Ok(DateValue(Some(parse_rfc3339(s))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<DateValue, E> {
                Ok(DateValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> DeserializeSeed<'de> for SessionSeed<'_> {
    type Value = Result<SessionFields, BodyError>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SessionSeed<'_> {
    type Value = Result<SessionFields, BodyError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an uploadSession object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = SessionFields::default();
        let mut first_error: Option<BodyError> = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::UploadUrl => fields.upload_url = map.next_value::<Option<String>>()?,
                Key::Expiration => match map.next_value::<DateValue>()?.0 {
                    Some(Ok(t)) => fields.expiration = Some(t),
                    Some(Err(e)) => {
                        first_error.get_or_insert(BodyError::Date(e));
                    }
                    None => fields.expiration = None,
                },
                Key::Ranges => {
                    let seed = RangesSeed {
                        size: self.size,
                        ranges: &mut *self.ranges,
                    };
                    match map.next_value_seed(seed)? {
                        Ok(present) => fields.has_ranges = present,
                        Err(e) => {
                            first_error.get_or_insert(BodyError::Range(e));
                        }
                    }
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match first_error {
            Some(e) => Err(e),
            None => Ok(fields),
        })
    }
}

/// Parses the `nextExpectedRanges` array straight into the set, one borrowed string at a
/// time. `Ok(false)` for `null`.
struct RangesSeed<'a> {
    size: u64,
    ranges: &'a mut ExpectedRanges,
}

impl<'de> DeserializeSeed<'de> for RangesSeed<'_> {
    type Value = Result<bool, RangeError>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RangesSeed<'_> {
    type Value = Result<bool, RangeError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of range strings")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Ok(false))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        self.ranges.clear();
        let size = self.size;
        let mut error = None;
        loop {
            if error.is_some() {
                // Drain the rest so the document is still read to its end.
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    break;
                }
                continue;
            }
            let entry = EntrySeed {
                size,
                ranges: &mut *self.ranges,
            };
            match seq.next_element_seed(entry)? {
                None => break,
                Some(Ok(())) => {}
                Some(Err(e)) => error = Some(e),
            }
        }
        if let Some(e) = error {
            self.ranges.clear();
            return Ok(Err(e));
        }
        self.ranges.normalise();
        Ok(Ok(true))
    }
}

struct EntrySeed<'a> {
    size: u64,
    ranges: &'a mut ExpectedRanges,
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = Result<(), RangeError>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for EntrySeed<'_> {
    type Value = Result<(), RangeError>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a range string such as \"0-\" or \"12345-55232\"")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.ranges.push_entry(s, self.size))
    }
}

/// Graph's error body (docs/protocol.md §9), as far as it was understood. Every field is optional:
/// a proxy's HTML page gives all `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphError {
    /// `error.code`, e.g. `invalidRange`.
    pub code: Option<String>,
    /// The innermost `innerError.code`, the most detailed one, when there is one.
    pub inner_code: Option<String>,
    /// `error.message`, cut to 300 characters. For people, never for decisions.
    pub message: Option<String>,
    /// `request-id` from the inner error, for support requests.
    pub request_id: Option<String>,
}

/// Parses Graph's error JSON; `innerError` and `innererror` both occur and nest.
pub(crate) fn parse_graph_error(body: &[u8]) -> GraphError {
    let mut out = GraphError::default();
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return out;
    };
    let Some(err) = get_ci(&v, "error") else {
        return out;
    };
    out.code = str_ci(err, "code");
    out.message = str_ci(err, "message");
    let mut inner = get_ci(err, "innerError");
    let mut depth = 0;
    while let Some(i) = inner {
        if let Some(c) = str_ci(i, "code") {
            out.inner_code = Some(c);
        }
        if let Some(r) = str_ci(i, "request-id") {
            out.request_id = Some(r);
        }
        inner = get_ci(i, "innerError");
        depth += 1;
        if depth > 16 {
            break;
        }
    }
    out
}

fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn str_ci(v: &Value, key: &str) -> Option<String> {
    let s = get_ci(v, key)?.as_str()?;
    Some(s.chars().take(300).collect())
}

/// An attachment as a single POST's answer or a listing describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttachmentJson {
    pub id: String,
    pub name: Option<String>,
    pub size: Option<u64>,
    /// `lastModifiedDateTime`, when present and readable.
    pub modified: Option<Timestamp>,
    pub facts: ItemFacts,
}

/// What a drive item's JSON says of it beyond its name (docs/protocol.md §8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ItemFacts {
    /// `webUrl`: where a person opens it.
    pub web_url: Option<String>,
    /// `file.hashes.quickXorHash`, base64.
    pub quick_xor_hash: Option<String>,
}

/// Longer `webUrl`s are not kept: a link is for a person, not worth a server's megabytes.
const MAX_WEB_URL: usize = 8 * 1024;
/// A QuickXorHash is 28 base64 characters; longer is not one.
const MAX_HASH: usize = 64;

fn attachment_from(v: &Value) -> Option<AttachmentJson> {
    let id = get_ci(v, "id")?.as_str()?;
    if id.is_empty() {
        return None;
    }
    Some(AttachmentJson {
        id: id.to_owned(),
        name: get_ci(v, "name").and_then(Value::as_str).map(str::to_owned),
        size: get_ci(v, "size").and_then(Value::as_u64),
        modified: get_ci(v, "lastModifiedDateTime")
            .and_then(Value::as_str)
            .and_then(|t| parse_rfc3339(t).ok()),
        facts: ItemFacts {
            web_url: get_ci(v, "webUrl")
                .and_then(Value::as_str)
                .filter(|u| u.len() <= MAX_WEB_URL)
                .map(str::to_owned),
            quick_xor_hash: get_ci(v, "file")
                .and_then(|f| get_ci(f, "hashes"))
                .and_then(|h| get_ci(h, "quickXorHash"))
                .and_then(Value::as_str)
                .filter(|h| h.len() <= MAX_HASH)
                .map(str::to_owned),
        },
    })
}

/// Parses a created attachment or driveItem: an object with a non-empty `id`.
pub(crate) fn parse_attachment(body: &[u8]) -> Result<AttachmentJson, BodyError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| json_error("attachment", e))?;
    attachment_from(&v).ok_or(BodyError::Missing {
        what: "attachment",
        field: "id",
    })
}

/// Parses a listing `{"value": [...], "@odata.nextLink": "..."}`: the attachments that have an
/// `id`, and the next page's URL.
pub(crate) fn parse_attachment_list(
    body: &[u8],
) -> Result<(Vec<AttachmentJson>, Option<String>), BodyError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| json_error("attachment list", e))?;
    let items = get_ci(&v, "value")
        .and_then(Value::as_array)
        .ok_or(BodyError::Missing {
            what: "attachment list",
            field: "value",
        })?;
    let next = get_ci(&v, "@odata.nextLink")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((items.iter().filter_map(attachment_from).collect(), next))
}

/// Why a `Location` header gave no attachment ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Location header has no attachment ID after \"Attachments/\" (or it is not valid percent-encoded UTF-8)")]
pub struct LocationError;

/// The attachment ID in a completed upload's `Location` (docs/protocol.md §5): the segment after the
/// last `Attachments/` (any casing), percent-decoded; Outlook's `Attachments('{id}')` form too
/// (docs/protocol.md §8). Without such a segment, the last path segment.
pub fn attachment_id_from_location(location: &str) -> Result<String, LocationError> {
    let path_end = location.find(['?', '#']).unwrap_or(location.len());
    let path = location[..path_end].trim_end_matches('/');
    let lower = path.to_ascii_lowercase();
    // The last `attachments` segment with an ID after it: an ID may itself be or begin with
    // the word. A path that ends in the segment has no ID.
    let segment = lower
        .match_indices("/attachments")
        .map(|(i, _)| i)
        .filter(|&i| {
            matches!(
                lower.as_bytes().get(i + "/attachments".len()),
                Some(b'/' | b'(')
            )
        })
        .last()
        .or_else(|| {
            lower
                .ends_with("/attachments")
                .then(|| lower.len() - "/attachments".len())
        });
    let raw = match segment {
        Some(i) => {
            let rest = &path[i + "/attachments".len()..];
            if let Some(seg) = rest.strip_prefix('/') {
                seg.split('/').next().unwrap_or("")
            } else if let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
                inner
                    .strip_prefix('\'')
                    .and_then(|r| r.strip_suffix('\''))
                    .unwrap_or(inner)
            } else {
                ""
            }
        }
        None => path.rsplit('/').next().unwrap_or(""),
    };
    let id = percent_decode(raw).ok_or(LocationError)?;
    if id.is_empty() || id.contains("://") {
        return Err(LocationError);
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranges::ByteRange;

    fn r(s: u64, e: u64) -> ByteRange {
        ByteRange::new(s, e).unwrap()
    }

    #[test]
    fn create_answer_of_the_reference() {
        let body = br#"{
            "@odata.context": "https://graph.microsoft.com/beta/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": "https://graph.microsoft.com/beta/users/6f9a/todo/lists/AAMDiFkfh=/tasks/AAMkADliMm=/attachmentSessions/AAMkADliMm=",
            "expirationDateTime": "2022-06-09T10:45:27.4324526Z",
            "nextExpectedRanges": ["0-"]
        }"#;
        let mut ranges = ExpectedRanges::default();
        let f = parse_upload_session(body, 3_483_322, &mut ranges).unwrap();
        assert!(f
            .upload_url
            .unwrap()
            .ends_with("attachmentSessions/AAMkADliMm="));
        assert_eq!(
            f.expiration,
            Some(Timestamp::from_unix_millis(1_654_771_527_432))
        );
        assert!(f.has_ranges);
        assert_eq!(ranges.as_slice(), &[r(0, 3_483_322)]);
    }

    #[test]
    fn pascal_case_and_mixed_case_keys() {
        let body = br#"{"ExpirationDateTime": "2022-06-09T10:45:27.4324526Z", "NextExpectedRanges": ["2097152"]}"#;
        let mut ranges = ExpectedRanges::default();
        let f = parse_upload_session(body, 3_483_322, &mut ranges).unwrap();
        assert_eq!(f.upload_url, None);
        assert!(f.expiration.is_some());
        assert_eq!(ranges.as_slice(), &[r(2_097_152, 3_483_322)]);
        let body = br#"{"UPLOADURL": "https://x/y", "nextexpectedranges": ["1-2", "5"], "extra": {"a": [1]}}"#;
        let f = parse_upload_session(body, 10, &mut ranges).unwrap();
        assert_eq!(f.upload_url.as_deref(), Some("https://x/y"));
        assert_eq!(ranges.as_slice(), &[r(1, 3), r(5, 10)]);
    }

    #[test]
    fn nulls_and_absent_ranges_leave_the_set_alone() {
        let mut ranges = ExpectedRanges::from_ranges([r(4, 8)]);
        let f = parse_upload_session(
            br#"{"nextExpectedRanges": null, "expirationDateTime": null}"#,
            10,
            &mut ranges,
        )
        .unwrap();
        assert!(!f.has_ranges);
        assert_eq!(ranges.as_slice(), &[r(4, 8)]);
        let f = parse_upload_session(br#"{"nextExpectedRanges": []}"#, 10, &mut ranges).unwrap();
        assert!(f.has_ranges);
        assert!(ranges.is_empty());
    }

    #[test]
    fn bad_bodies_are_typed_errors() {
        let mut ranges = ExpectedRanges::default();
        let bad_range = parse_upload_session(
            br#"{"nextExpectedRanges": ["9-3"], "x": 1}"#,
            10,
            &mut ranges,
        );
        assert!(matches!(
            bad_range,
            Err(BodyError::Range(RangeError::Reversed(_)))
        ));
        let bad_date =
            parse_upload_session(br#"{"expirationDateTime": "tomorrow"}"#, 10, &mut ranges);
        assert!(matches!(bad_date, Err(BodyError::Date(_))));
        for body in [
            &b""[..],
            b"[]",
            b"{",
            b"{\"nextExpectedRanges\": [1]}",
            b"{\"uploadUrl\": 5}",
            b"{} x",
            b"\"0-\"",
        ] {
            assert!(
                matches!(
                    parse_upload_session(body, 10, &mut ranges),
                    Err(BodyError::Json { .. })
                ),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn graph_error_nested_inner_errors_in_both_spellings() {
        let body = br#"{"error": {"code": "invalidRequest", "message": "Bad range",
            "innerError": {"code": "invalidRange", "request-id": "rid-1",
                "innererror": {"code": "fragmentOverlap"}}}}"#;
        let e = parse_graph_error(body);
        assert_eq!(e.code.as_deref(), Some("invalidRequest"));
        assert_eq!(e.inner_code.as_deref(), Some("fragmentOverlap"));
        assert_eq!(e.message.as_deref(), Some("Bad range"));
        assert_eq!(e.request_id.as_deref(), Some("rid-1"));
        assert_eq!(parse_graph_error(b"<html>"), GraphError::default());
    }

    #[test]
    fn location_forms() {
        let loc = "https://graph.microsoft.com/beta/users/6f9a/todo/lists/AAMDiFkfh=/tasks/AAMkADliMm=/Attachments/AAMkADI5MAAIT3drCAAABEgAQANAqbAe7qaROhYdTnUQwXm0=";
        assert_eq!(
            attachment_id_from_location(loc).unwrap(),
            "AAMkADI5MAAIT3drCAAABEgAQANAqbAe7qaROhYdTnUQwXm0="
        );
        assert_eq!(
            attachment_id_from_location("https://h/x/attachments/a%2Fb%3D").unwrap(),
            "a/b="
        );
        assert_eq!(
            attachment_id_from_location(
                "https://outlook.office.com/api/v2.0/Users('u')/Messages('m')/Attachments('AAMk=')"
            )
            .unwrap(),
            "AAMk="
        );
        assert_eq!(
            attachment_id_from_location("https://h/ATTACHMENTS/id1?x=1").unwrap(),
            "id1"
        );
        assert_eq!(
            attachment_id_from_location("https://h/items/id2").unwrap(),
            "id2"
        );
        assert!(attachment_id_from_location("https://h/Attachments/").is_err());
        assert!(attachment_id_from_location("https://h/Attachments/%ZZ").is_err());
    }

    #[test]
    fn attachment_bodies() {
        let a = parse_attachment(br##"{"@odata.type": "#microsoft.graph.taskFileAttachment", "id": "A=", "name": "smile.png", "size": 1234}"##).unwrap();
        assert_eq!(
            a,
            AttachmentJson {
                id: "A=".into(),
                name: Some("smile.png".into()),
                size: Some(1234),
                modified: None,
                facts: ItemFacts::default(),
            }
        );
        assert!(parse_attachment(b"{}").is_err());
        // A drive item's link and hash; a value too long to be either is dropped.
        let a = parse_attachment(
            br#"{"id": "I", "webUrl": "https://w/a", "File": {"Hashes": {"quickXorHash": "H="}}}"#,
        )
        .unwrap();
        assert_eq!(a.facts.web_url.as_deref(), Some("https://w/a"));
        assert_eq!(a.facts.quick_xor_hash.as_deref(), Some("H="));
        let long = format!(
            r#"{{"id": "I", "file": {{"hashes": {{"quickXorHash": "{}"}}}}}}"#,
            "A".repeat(65)
        );
        assert_eq!(
            parse_attachment(long.as_bytes())
                .unwrap()
                .facts
                .quick_xor_hash,
            None
        );
        let (items, next) = parse_attachment_list(br#"{"value": [{"id": "1", "name": "a", "size": 1}, {"name": "no id"}], "@odata.nextLink": "https://h/next"}"#).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(next.as_deref(), Some("https://h/next"));
    }
}
