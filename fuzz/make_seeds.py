#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the protocol's own examples
(docs/protocol.md and the seed documents: the reference's createUploadSession answer, the
tutorial's PascalCase PUT answer, its Content-Range headers and 201 Location).

The bytes follow the decoders in src/fuzzing.rs (`Input`): one selector byte per choice,
integers little-endian. Run from fuzz/: python3 make_seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

CREATE = (b'{"@odata.context":"https://graph.microsoft.com/beta/$metadata#microsoft.graph.uploadSession",'
          b'"uploadUrl":"https://graph.microsoft.com/beta/users/6f9a2a92-8527-4d64-837e-b5312852f36d/todo/lists/AAMDiFkfh=/tasks/AAMkADliMm=/attachmentSessions/AAMkADliMm=",'
          b'"expirationDateTime":"2022-06-09T10:45:27.4324526Z","nextExpectedRanges":["0-"]}')
PUT_ANSWER = b'{"ExpirationDateTime":"2022-06-09T10:45:27.4324526Z","NextExpectedRanges":["2097152"]}'
LOCATION = (b"https://graph.microsoft.com/beta/users/6f9a2a92-8527-4d64-837e-b5312852f36d/todo/lists/"
            b"AAMDiFkfh=/tasks/AAMkADliMm=/Attachments/AAMkADI5MAAIT3drCAAABEgAQANAqbAe7qaROhYdTnUQwXm0=")
ATTACHMENT_ID = b"AAMkADI5MAAIT3drCAAABEgAQANAqbAe7qaROhYdTnUQwXm0="
ERROR = (b'{"error":{"code":"invalidRange","message":"fragmentOverlap","innerError":'
         b'{"request-id":"r-1","date":"2022-06-09T10:45:27","innererror":{"code":"fragmentOverlap"}}}}')
SMALL_POST = (b'{"@odata.type":"#microsoft.graph.taskFileAttachment","id":"AAMkADI5MAAIT3drCAAABEgAQANAqbAe7qaROhYdTnUQwXm0=",'
              b'"name":"smile.png","size":1234,"contentType":"image/png"}')


def u8(v): return struct.pack("<B", v)
def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# next_expected_ranges: size selector 3 (3,483,322), then a mode.
for i, entry in enumerate([b"0-", b"2097152", b"2097152-", b"12345-55232", b"0-3483322", b" 5- ", b"5-2",
                           b"99999999999999999999-", b"3483322"]):
    write("next_expected_ranges", f"entry_{i}", u8(3) + u8(0) + entry)
write("next_expected_ranges", "list", u8(3) + u8(1) + b"12345-55232\n77829-99375\n100000")
write("next_expected_ranges", "numbers", u8(1) + u8(200) + u8(2) + u8(0) + u8(7) + u8(1) + u8(3) + u8(5))
write("next_expected_ranges", "many", u8(0) + u8(9) + u8(3) + u8(2) + u8(0) + u8(0))
write("next_expected_ranges", "create_body", u8(3) + u8(4) + CREATE)
write("next_expected_ranges", "put_body", u8(3) + u8(4) + PUT_ANSWER)
write("next_expected_ranges", "multi_body", u8(3) + u8(4) + b'{"nextExpectedRanges":["12345-55232","77829-99375"]}')

# headers: a mode, then its input.
write("headers", "location", u8(0) + u8(0) + u8(len(ATTACHMENT_ID)) + ATTACHMENT_ID + LOCATION)
write("headers", "location_outlook", u8(0) + u8(2) + u8(5) + b"AAMk=" +
      b"https://outlook.office.com/api/v2.0/Users('u')/Messages('m')/Attachments('AAMk%3D')")
write("headers", "retry_after_fraction", u8(1) + u64(0) + u8(3) + b"2.128")
write("headers", "retry_after_date", u8(1) + u64(0) + u8(3) + b"Sun, 06 Nov 1994 08:49:37 GMT")
write("headers", "retry_after_seconds", u8(1) + u64(0) + u8(3) + b"120")
write("headers", "rfc3339", u8(2) + u64(1_654_771_527_432) + u8(7) + u8(0) + u32(4526) + b"2022-06-09T10:45:27.4324526Z")
write("headers", "http_date", u8(3) + u64(784_111_777) + b"Sunday, 06-Nov-94 08:49:37 GMT")
write("headers", "http_date_asctime", u8(3) + u64(784_111_777) + b"Sun Nov  6 08:49:37 1994")
write("headers", "content_range", u8(4) + u8(1) + u32(3_483_321) + u64(0) + u64(2_097_151) + b"bytes 0-2097151/3483322")
write("headers", "content_range_last", u8(4) + u8(1) + u32(3_483_321) + u64(2_097_152) + u64(1_386_169) + b"bytes 2097152-3483321/3483322")
write("headers", "any", u8(5) + b"2022-06-09T10:45:27.4324526Z")

# upload_session_body: state, status index, keep-status flag, size selector, kind, location flag, body.
STATUS = {200: 0, 201: 1, 404: 7, 416: 12, 503: 16}
write("upload_session_body", "create", u8(0) + u8(STATUS[200]) + u8(1) + u8(0) + u8(1) + u8(0) + CREATE)
write("upload_session_body", "put", u8(1) + u8(STATUS[200]) + u8(1) + u8(0) + u8(1) + u8(0) + PUT_ANSWER)
write("upload_session_body", "put_done", u8(2) + u8(STATUS[201]) + u8(1) + u8(0) + u8(1) + u8(1) + u8(80) + LOCATION[:80])
write("upload_session_body", "query", u8(3) + u8(STATUS[200]) + u8(1) + u8(0) + u8(1) + u8(0) + CREATE)
write("upload_session_body", "range_refused", u8(1) + u8(STATUS[416]) + u8(1) + u8(0) + u8(1) + u8(0) + ERROR)
write("upload_session_body", "single_post", u8(4) + u8(STATUS[201]) + u8(1) + u8(1) + u8(1) + u8(0) + SMALL_POST)
write("upload_session_body", "listing", u8(5) + u8(STATUS[200]) + u8(1) + u8(1) + u8(1) + u8(0) +
      b'{"value":[' + SMALL_POST + b'],"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/todo/lists/L/tasks/T/attachments?$skip=1"}')

# restore: mode, kind, size, chunk, force, restarts, then mode's input.
write("restore", "raw_empty", u8(0) + u8(1) + u8(0) + u8(5) + u8(1) + u8(2) + b'{"format":"upload-session","version":1}')
write("restore", "valid_after_steps", u8(1) + u8(1) + u8(0) + u8(5) + u8(1) + u8(2) + u8(0) + u8(4) + u8(0) + u8(8) + u8(0))
write("restore", "bytes_after_steps", u8(2) + u8(1) + u8(2) + u8(5) + u8(1) + u8(2) + u8(1) + u8(6) + u8(0) + u64(40) + u8(1) + u8(0))


# machine: kind, size, chunk, force, retry policy, restarts, size limit, then events.
def machine(kind, size_sel, chunk_sel, force=1, attempts=10, restarts=2):
    return (u8(kind) + size_sel + chunk_sel + u8(force) + u16(3000) + u32(180_000) + u32(225_000) +
            u8(attempts) + u64(0x5EED0FA11) + u8(restarts) + u8(1))


GRAPH = u8(0) + u8(0)               # Answer(what Graph would say)
SEED_SIZE = u8(2)                   # 3,483,322 bytes
CHUNK_2MIB = u8(5) + u64(2_097_151)  # 1 + 2,097,151


def custom(status_index, body, keep=1, location=b"\x07", retry=b"\x07"):
    # Answer(Custom): event 0, answer 4, keep, status, location, retry-after, body.
    return u8(0) + u8(4) + u8(keep) + u8(status_index) + location + retry + body


RAW = lambda b: u8(1) + u8(len(b)) + b
write("machine", "seed_upload", machine(0, SEED_SIZE, CHUNK_2MIB) + GRAPH * 4)
write("machine", "seed_bodies", machine(0, SEED_SIZE, CHUNK_2MIB) + GRAPH +
      custom(STATUS[200], RAW(PUT_ANSWER)) +
      custom(STATUS[201], RAW(b""), location=u8(0) + u8(len(ATTACHMENT_ID)) + ATTACHMENT_ID))
write("machine", "faults", machine(0, SEED_SIZE, CHUNK_2MIB) + GRAPH +
      custom(STATUS[503], RAW(ERROR), retry=u8(1) + u8(2) + u16(128)) +
      u8(0) + u8(3) + u8(1) + u8(2) +             # transport error, kept, interrupted
      custom(STATUS[416], RAW(ERROR), keep=0) + u8(14) + u8(1) + GRAPH * 6)
write("machine", "expiry_and_cancel", machine(0, u8(1) + u64(9_000_000), u8(0), restarts=1) + GRAPH * 2 +
      u8(10) + u8(2) + u16(1000) + GRAPH + u8(12) + GRAPH * 3)
write("machine", "cycle", machine(0, SEED_SIZE, u8(1) + u16(65535)) + u8(8) + u16(200) + u8(0) + u8(0) + u8(0))
write("machine", "single_post", machine(0, u8(0) + u16(1233), u8(0), force=0) +
      custom(STATUS[201], RAW(SMALL_POST)))
write("machine", "drive", machine(2, u8(1) + u64(1_000_000), u8(3) + u8(0)) + GRAPH * 6)
write("machine", "refresh", machine(1, SEED_SIZE, CHUNK_2MIB) + GRAPH + custom(5, RAW(ERROR)) + GRAPH * 3)
