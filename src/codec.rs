//! Frames on the wire (RFC 6455 5.2), apart from any socket: encoding a
//! frame, masking, reading a header's extent. Used by the engine's send and read paths;
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

/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
pub(crate) const MAX_HEADER: usize = 14;

/// Where a frame header ends and how much payload follows (RFC 6455 5.2).
pub(crate) struct HeaderExtent {
    pub(crate) len: usize,
    pub(crate) payload: u64,
}

impl HeaderExtent {
    /// The extent of the header at the start of `b`; `None` if incomplete.
    #[inline]
    pub(crate) fn of(b: &[u8]) -> Option<HeaderExtent> {
        let &second = b.get(1)?;
        let (extra, payload) = match second & 0x7F {
            126 => (2, u64::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?]))),
            127 => {
                let bytes: [u8; 8] = b.get(2..10)?.try_into().ok()?;
                (8, u64::from_be_bytes(bytes))
            }
            n => (0, u64::from(n)),
        };
        let len = 2 + extra + if second & 0x80 != 0 { 4 } else { 0 };
        (b.len() >= len).then_some(HeaderExtent { len, payload })
    }
}

#[cfg(test)]
mod tests {
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
}
