//! The Plexus envelope around every pub/sub payload: a version byte and the
//! author's send time, so receivers can measure delivery latency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::MAX_MESSAGE_BYTES;

/// Envelope version byte; the envelope is `[1][sent time, µs since the Unix
/// epoch, u64 big-endian][payload]`.
const ENVELOPE_V1: u8 = 1;
const ENVELOPE_HEADER: usize = 9;

/// Wraps `data` in the envelope with the current time.
pub fn encode(data: &[u8], sent_at: SystemTime) -> Vec<u8> {
    let micros = sent_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64;
    let mut out = Vec::with_capacity(ENVELOPE_HEADER + data.len());
    out.push(ENVELOPE_V1);
    out.extend_from_slice(&micros.to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Unwraps an envelope: the send time and the payload. `None` when it is
/// malformed or the payload is over [`MAX_MESSAGE_BYTES`].
pub(crate) fn decode(bytes: &[u8]) -> Option<(SystemTime, &[u8])> {
    if bytes.len() < ENVELOPE_HEADER || bytes[0] != ENVELOPE_V1 {
        return None;
    }
    let micros = u64::from_be_bytes(bytes[1..ENVELOPE_HEADER].try_into().ok()?);
    let data = &bytes[ENVELOPE_HEADER..];
    if data.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    Some((UNIX_EPOCH + Duration::from_micros(micros), data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let bytes = encode(b"hello", t);
        assert_eq!(decode(&bytes), Some((t, &b"hello"[..])));
        assert_eq!(decode(&encode(b"", t)), Some((t, &b""[..])));
    }

    #[test]
    fn malformed_or_oversized_envelopes_are_refused() {
        assert_eq!(decode(b""), None);
        assert_eq!(decode(&[1, 0, 0]), None);
        let mut wrong_version = encode(b"x", SystemTime::now());
        wrong_version[0] = 2;
        assert_eq!(decode(&wrong_version), None);
        let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert_eq!(decode(&encode(&big, SystemTime::now())), None);
        let max = vec![0u8; MAX_MESSAGE_BYTES];
        assert!(decode(&encode(&max, SystemTime::now())).is_some());
    }
}
