//! Frames on the wire (RFC 6455 5.2), apart from any socket: encoding a
//! frame, masking, reading a header's extent, and following frame
//! boundaries in a byte stream. Used by the engine's send and read paths;
//! tungstenite's `FrameHeader` formats the headers.

use tungstenite::protocol::frame::coding::OpCode;
use tungstenite::protocol::frame::FrameHeader;

/// The opcode of a pong frame.
pub(crate) const OP_PONG: u8 = 0xA;

/// Appends the header of one final frame of `length` payload bytes to `out`.
#[inline] // on the hot paths of another module
pub(crate) fn encode_header(
    out: &mut Vec<u8>,
    opcode: OpCode,
    length: usize,
    mask: Option<[u8; 4]>,
) {
    let header = FrameHeader {
        opcode,
        mask,
        ..FrameHeader::default()
    };
    let length = length as u64;
    // Writing into a Vec cannot fail.
    let _ = header.format(length, out);
}

/// Appends one final frame of `payload` to `out`, masked with `mask`.
#[inline] // on the hot paths of another module
pub(crate) fn encode_frame(
    out: &mut Vec<u8>,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    out.reserve(14 + payload.len()); // 14: the largest header
    encode_header(out, opcode, payload.len(), mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(mask) = mask {
        apply_mask(&mut out[start..], mask);
    }
}

/// XORs `buf` with the repeated 4-byte `mask`, eight bytes at a time.
#[inline] // on the hot paths of another module
pub(crate) fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
    }
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// Follows frame boundaries in the incoming bytes to tell whether a message
/// is incomplete: that is when the receive timeout runs. It reads only the
/// lengths in each header (tungstenite validates the frames; a full parse
/// here cost more than tungstenite's own decoding of a small message).
#[derive(Debug, Default)]
pub(crate) struct FrameTracker {
    /// Payload bytes of the current frame still to come.
    payload_left: u64,
    /// Header bytes seen of a header not yet complete.
    header: Vec<u8>,
    /// A fragmented data message has started and not finished.
    in_fragmented: bool,
}

impl FrameTracker {
    /// Consumes `bytes`; returns true if they end inside a message.
    #[inline] // on the hot paths of another module
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> bool {
        if self.header.is_empty() {
            bytes = self.skip_whole_headers(bytes);
        }
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = (bytes.len() as u64).min(self.payload_left) as usize;
                self.payload_left -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let header = if self.header.is_empty() {
                let Some(header) = HeaderExtent::of(bytes) else {
                    self.header.extend_from_slice(bytes);
                    break;
                };
                bytes = &bytes[header.len..];
                header
            } else {
                let before = self.header.len();
                let take = bytes.len().min(MAX_HEADER);
                self.header.extend_from_slice(&bytes[..take]);
                let Some(header) = HeaderExtent::of(&self.header) else {
                    bytes = &bytes[take..];
                    continue;
                };
                bytes = &bytes[header.len - before..];
                self.header.clear();
                header
            };
            self.payload_left = header.payload;
            if header.opcode < 8 {
                // A data frame (continuation, text, binary).
                self.in_fragmented = !header.fin;
            }
        }
        self.payload_left > 0 || !self.header.is_empty() || self.in_fragmented
    }

    /// The fast path of `feed` (no header split across reads): skips the
    /// frames whose headers lie wholly in `bytes` while at least a longest
    /// header's worth is left; returns the rest for the careful path.
    #[inline]
    fn skip_whole_headers<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        let end = bytes.len() as u64;
        let mut pos = self.payload_left.min(end);
        self.payload_left -= pos;
        while self.payload_left == 0 && pos + MAX_HEADER as u64 <= end {
            let Some(header) = HeaderExtent::of(&bytes[pos as usize..]) else {
                break; // not reached: a longest header's worth is there
            };
            if header.opcode < 8 {
                // A data frame (continuation, text, binary).
                self.in_fragmented = !header.fin;
            }
            pos += header.len as u64;
            let take = header.payload.min(end - pos);
            pos += take;
            self.payload_left = header.payload - take;
        }
        &bytes[pos as usize..]
    }
}

/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
pub(crate) const MAX_HEADER: usize = 14;

/// Where a frame header ends and how much payload follows (RFC 6455 5.2).
pub(crate) struct HeaderExtent {
    pub(crate) len: usize,
    pub(crate) payload: u64,
    pub(crate) fin: bool,
    pub(crate) opcode: u8,
}

impl HeaderExtent {
    /// The extent of the header at the start of `b`; `None` if incomplete.
    #[inline]
    pub(crate) fn of(b: &[u8]) -> Option<HeaderExtent> {
        let (&first, &second) = (b.first()?, b.get(1)?);
        let (extra, payload) = match second & 0x7F {
            126 => (2, u64::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?]))),
            127 => {
                let bytes: [u8; 8] = b.get(2..10)?.try_into().ok()?;
                (8, u64::from_be_bytes(bytes))
            }
            n => (0, u64::from(n)),
        };
        let len = 2 + extra + if second & 0x80 != 0 { 4 } else { 0 };
        (b.len() >= len).then_some(HeaderExtent {
            len,
            payload,
            fin: first & 0x80 != 0,
            opcode: first & 0x0F,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::FrameTracker;
    use tungstenite::protocol::frame::coding::{Data, OpCode};

    #[test]
    fn encoded_frames_decode_with_tungstenite() {
        use std::io::Cursor;
        use tungstenite::protocol::frame::FrameHeader;
        for len in [0usize, 1, 7, 8, 9, 125, 126, 65_535, 65_536, 100_003] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            for mask in [None, Some([0x12, 0x34, 0x56, 0x78])] {
                let mut out = vec![0xAA]; // frames append after what is there
                super::encode_frame(&mut out, OpCode::Data(Data::Binary), &payload, mask);
                let mut cursor = Cursor::new(&out[1..]);
                let (header, length) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
                assert_eq!(length, len as u64);
                assert_eq!(header.mask, mask);
                assert!(header.is_final);
                let mut body = out[1 + cursor.position() as usize..].to_vec();
                assert_eq!(body.len(), len);
                if let Some(m) = mask {
                    for (i, b) in body.iter_mut().enumerate() {
                        *b ^= m[i % 4];
                    }
                }
                assert_eq!(body, payload, "length {len}, mask {mask:?}");
            }
        }
    }

    #[test]
    fn tracker_follows_frames_split_anywhere() {
        // A 3-byte binary frame, a fragmented text message (2 frames), a ping.
        let stream: Vec<u8> = vec![
            0x82, 3, 1, 2, 3, // binary
            0x01, 2, b'h', b'e', // text, not final
            0x80, 1, b'y', // continuation, final
            0x89, 0, // ping
        ];
        let ends = [0, 5, 12, 14]; // positions where no message is open
        for split in 0..=stream.len() {
            let mut t = FrameTracker::default();
            let open_a = t.feed(&stream[..split]);
            assert_eq!(open_a, !ends.contains(&split), "split at {split}");
            let open_b = t.feed(&stream[split..]);
            assert!(!open_b, "split at {split}");
        }
    }

    /// Repeatable pseudo-random numbers below a bound (xorshift).
    fn numbers(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |below| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        }
    }

    #[test]
    fn tracker_fast_path_agrees_on_garbage() {
        // Not well-formed frames: 64-bit lengths near u64::MAX, reserved
        // opcodes, random bytes; fed in random slices, the answers and the
        // payload still owed match byte-at-a-time feeding.
        let mut next = numbers(0x1234_5678_9ABC_DEF1);
        for case in 0..100 {
            let len = 1 + next(3000) as usize;
            let mut stream = Vec::with_capacity(len);
            while stream.len() < len {
                match next(6) {
                    0 => {
                        stream.push(next(256) as u8);
                        stream.push(127 | (next(2) as u8) << 7);
                        stream.extend_from_slice(&(u64::MAX - next(5)).to_be_bytes());
                    }
                    1 => {
                        stream.push(next(256) as u8);
                        let l = next(6) as u8;
                        stream.push(l | (next(2) as u8) << 7);
                        for _ in 0..(l + 4) {
                            stream.push(next(256) as u8);
                        }
                    }
                    _ => stream.push(next(256) as u8),
                }
            }
            let mut slow = FrameTracker::default();
            let expected: Vec<(bool, u64)> = stream
                .iter()
                .map(|b| (slow.feed(&[*b]), slow.payload_left))
                .collect();
            for round in 0..6 {
                let mut fast = FrameTracker::default();
                let mut at = 0;
                while at < stream.len() {
                    let n = 1 + next(if round % 2 == 0 { 40 } else { 2000 }) as usize;
                    let end = (at + n).min(stream.len());
                    let open = fast.feed(&stream[at..end]);
                    let got = (open, fast.payload_left);
                    assert_eq!(got, expected[end - 1], "case {case}, bytes {at}..{end}");
                    at = end;
                }
            }
        }
    }

    #[test]
    fn tracker_fast_path_agrees_with_byte_at_a_time() {
        // Frames of every length encoding, masked and not, fragmented
        // messages with pings between their frames.
        let mut next = numbers(0x9E37_79B9_7F4A_7C15);
        let mut stream = Vec::new();
        for _ in 0..400 {
            let len = match next(4) {
                0 => next(126),
                1 => 126 + next(400),
                2 => 65_536 + next(3000),
                _ => next(20),
            } as usize;
            let control = next(5) == 0;
            let first = if control {
                0x89
            } else {
                (next(2) as u8) << 7 | next(3) as u8
            };
            let mask = (next(2) == 1).then_some([1, 2, 3, 4]);
            let control_len = if control { len.min(125) } else { len };
            let at = stream.len();
            super::encode_header(&mut stream, OpCode::Data(Data::Binary), control_len, mask);
            stream[at] = first; // FIN and opcode as drawn
            stream.resize(stream.len() + control_len, 0x55);
        }
        let mut slow = FrameTracker::default();
        let expected: Vec<bool> = stream.iter().map(|b| slow.feed(&[*b])).collect();
        for round in 0..20 {
            let mut fast = FrameTracker::default();
            let mut at = 0;
            while at < stream.len() {
                let n = match round % 3 {
                    0 => 1 + next(64),
                    1 => 1 + next(4096),
                    _ => 1 + next(100_000),
                } as usize;
                let end = (at + n).min(stream.len());
                let open = fast.feed(&stream[at..end]);
                assert_eq!(open, expected[end - 1], "round {round}, bytes {at}..{end}");
                at = end;
            }
        }
    }
}
