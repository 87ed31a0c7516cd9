//! QuickXorHash, the content hash OneDrive reports for a drive item (`file.hashes.
//! quickXorHash`, docs/protocol.md §8): 160 bits, byte `k` of the file XORed in at bit
//! `11 k mod 160`, the file's length XORed into the last 64 bits, sent as base64. Pure and
//! streaming: the driver feeds the file's bytes as it reads them.

use crate::request::Base64Encoder;

/// Width of the hash in bits: a byte's place repeats every 160 bytes.
const WIDTH: usize = 160;
/// How far each byte's place moves from the one before, in bits.
const SHIFT: usize = 11;

/// A QuickXorHash being computed. Feed the file in order, each byte once: with
/// [`QuickXorHash::update`] while reading it start to end, or with
/// [`QuickXorHash::update_at`], which takes the bytes of each PUT by their offset and so
/// survives a fragment sent twice (a hash fed a retried fragment twice hashes a file
/// that never existed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuickXorHash {
    /// Byte `k` of the file is XORed into `lanes[k % 160]`; where each lane lands in the
    /// 160 bits is settled at the end.
    lanes: [u8; WIDTH],
    len: u64,
}

impl Default for QuickXorHash {
    fn default() -> Self {
        Self::new()
    }
}

/// [`QuickXorHash::update_at`] was given bytes past a gap: the hash cannot skip bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bytes from offset {offset} given, but the hash has only reached {hashed}")]
pub struct HashGap {
    /// Where the bytes given start.
    pub offset: u64,
    /// How many bytes the hash has taken.
    pub hashed: u64,
}

impl QuickXorHash {
    /// The hash of nothing so far.
    pub const fn new() -> Self {
        QuickXorHash {
            lanes: [0; WIDTH],
            len: 0,
        }
    }

    /// How many bytes it has taken.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it has taken no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes the next bytes of the file.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut lane = (self.len % WIDTH as u64) as usize;
        for &b in bytes {
            self.lanes[lane] ^= b;
            lane += 1;
            if lane == WIDTH {
                lane = 0;
            }
        }
        self.len += bytes.len() as u64;
    }

    /// Takes `bytes`, the file's from `offset` on: what it has already taken is skipped, so
    /// a range sent again changes nothing. Bytes past a gap are refused.
    pub fn update_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), HashGap> {
        if offset > self.len {
            return Err(HashGap {
                offset,
                hashed: self.len,
            });
        }
        let skip = usize::try_from(self.len - offset).unwrap_or(usize::MAX);
        if skip < bytes.len() {
            self.update(&bytes[skip..]);
        }
        Ok(())
    }

    /// The 20 bytes of the hash.
    pub fn digest(&self) -> [u8; WIDTH / 8] {
        let mut out = [0u8; WIDTH / 8];
        for (k, &b) in self.lanes.iter().enumerate() {
            // Lane k lands at bit 11 k mod 160; 160 is a whole number of bytes, so the
            // bits that run past the end wrap to the first byte.
            let bit = k * SHIFT % WIDTH;
            let (at, shift) = (bit / 8, bit % 8);
            out[at] ^= b << shift;
            if shift > 0 {
                out[(at + 1) % out.len()] ^= b >> (8 - shift);
            }
        }
        for (i, b) in self.len.to_le_bytes().iter().enumerate() {
            out[WIDTH / 8 - 8 + i] ^= b;
        }
        out
    }

    /// The hash as OneDrive writes it: base64 of [`QuickXorHash::digest`].
    pub fn to_base64(&self) -> String {
        let mut out = Vec::with_capacity(28);
        let mut enc = Base64Encoder::new();
        enc.push(&self.digest(), &mut out);
        enc.finish(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let v = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        let mut out = Vec::new();
        for q in text.as_bytes().chunks(4) {
            let pad = q.iter().filter(|&&c| c == b'=').count();
            let n = q
                .iter()
                .filter(|&&c| c != b'=')
                .fold(0u32, |n, &c| (n << 6) | u32::from(v(c)))
                << (6 * pad);
            out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..3 - pad]);
        }
        out
    }

    /// Published test vectors (input and hash, both base64), from rclone's QuickXorHash
    /// tests (`backend/onedrive/quickxorhash/quickxorhash_test.go`).
    const VECTORS: &[(&str, &str)] = &[
        ("", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ("Sg==", "SgAAAAAAAAAAAAAAAQAAAAAAAAA="),
        ("tbQ=", "taAFAAAAAAAAAAAAAgAAAAAAAAA="),
        ("0pZP", "0rDEEwAAAAAAAAAAAwAAAAAAAAA="),
        ("/aNzzCFPS/A=", "/RjFHJgRgicsAR4ACAAAAAAAAAA="),
        ("2fuxhBJXtpWFe8dOfdGeHw==", "O9tHLAghgSvYohKFyMMxnNCHaHg="),
        (
            "T6LYJIfDh81JrAK309H2JMJTXis=",
            "zBTHrspn3mEcohlJdIUAbjGNaNg=",
        ),
        (
            "DWAAX5/CIfrmErgZa8ot6ZraeSbu",
            "LR2Z0PjuRYGKQB/mhQAuMrAGZbQ=",
        ),
        (
            "Mb7EGva2rEE5fENDL85P+BsapHEEjv2/siVhKjvAQe02feExVOQSkfmuYzU/kTF1MaKjPmKF/w+c
             bvwfdWL8aQ==",
            "n1anP5NfvD4XDYWIeRPW3ZkPv1Y=",
        ),
        (
            "jyibxJSzO6ZiZ0O1qe3tG/bvIAYssvukh9suIT5wEy1JBINVgPiqdsTW0cOpP0aUfP7mgqLfADkz
             I/m/GgCuVhr8oFLrOCoTx1/psBOWwhltCbhUx51Icm9aH8tY4Z3ccU+6BKpYQkLCy0B/A9Zc",
            "hZfLIilSITC6N3e3tQ/iSgEzkto=",
        ),
        (
            "qwGf2ESubE5jOUHHyc94ORczFYYbc2OmEzo+hBIyzJiNwAzC8PvJqtTzwkWkSslgHFGWQZR2BV5+
             uYTrYT7HVwRM40vqfj0dBgeDENyTenIOL1LHkjtDKoXEnQ0mXAHoJ8PjbNC93zi5TovVRXTNzfGE
             s5dpWVqxUzb5lc7dwkyvOluBw482mQ4xrzYyIY1t+//OrNi1ObGXuUw2jBQOFfJVj2Y6BOyYmfB1
             y36eBxi3zxeG5d5NYjm2GSh6e08QMAwu3zrINcqIzLOuNIiGXBtl7DjKt7b5wqi4oFiRpZsCyx2s
             mhSrdrtK/CkdU6nDN+34vSR/M8rZpWQdBE7a8g==",
            "WYT9JY3JIo/pEBp+tIM6Gt2nyTM=",
        ),
    ];

    #[test]
    fn published_vectors_whole_and_in_pieces() {
        for (input, want) in VECTORS {
            let input = b64(input);
            let mut h = QuickXorHash::new();
            h.update(&input);
            assert_eq!(h.to_base64(), *want, "{} bytes", input.len());
            assert_eq!(h.len(), input.len() as u64);
            for piece in [1, 7, 64, 159, 160, 161] {
                let mut h = QuickXorHash::new();
                for part in input.chunks(piece) {
                    h.update(part);
                }
                assert_eq!(h.to_base64(), *want, "{} bytes by {piece}", input.len());
            }
        }
    }

    #[test]
    fn by_offset_a_range_sent_twice_changes_nothing() {
        let input = b64(VECTORS[10].0);
        let mut h = QuickXorHash::new();
        h.update_at(0, &input[..100]).unwrap();
        // The same range again, and one that overlaps what was taken.
        h.update_at(0, &input[..100]).unwrap();
        h.update_at(60, &input[60..180]).unwrap();
        assert_eq!(
            h.update_at(200, &input[200..]),
            Err(HashGap {
                offset: 200,
                hashed: 180
            })
        );
        h.update_at(180, &input[180..]).unwrap();
        assert_eq!(h.to_base64(), VECTORS[10].1);
        // Fed twice the plain way, the hash is another file's: why update_at exists.
        let (mut once, mut twice) = (QuickXorHash::new(), QuickXorHash::new());
        once.update(&input[..100]);
        twice.update(&input[..100]);
        twice.update(&input[..100]);
        assert_ne!(twice.digest(), once.digest());
    }
}
