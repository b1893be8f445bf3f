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
    extend_masked(out, payload, mask);
}

/// A client masks what it copies this much at a time (a multiple of 4).
const MASK_BLOCK: usize = 16 << 10;

/// Appends `payload` to `out`, masked if `mask` is given (from the mask's
/// first byte): a block at a time, each masked while it is still in the
/// nearest cache after its copy.
#[inline] // on the hot paths of another module
pub(crate) fn extend_masked(out: &mut Vec<u8>, payload: &[u8], mask: Option<[u8; 4]>) {
    let Some(mask) = mask else {
        return out.extend_from_slice(payload);
    };
    out.reserve(payload.len());
    for block in payload.chunks(MASK_BLOCK) {
        let start = out.len();
        out.extend_from_slice(block);
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

/// The RSV1 bit of a frame's first byte (and of [`Header::rsv`]): a
/// compressed message (RFC 7692).
pub(crate) const RSV1: u8 = 0x40;

/// Marks the frame header that starts at `out[at]` as the first of a
/// compressed message (RSV1), if `compressed`.
#[inline]
pub(crate) fn mark_compressed(out: &mut [u8], at: usize, compressed: bool) {
    if compressed {
        out[at] |= RSV1;
    }
}

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

/// A close code an endpoint may send (RFC 6455 7.4 and the IANA registry:
/// 1012-1014 are registered; tungstenite's `is_allowed` refuses 1014).
pub(crate) fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A frame header as it came (RFC 6455 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) fin: bool,
    /// RSV1, RSV2, RSV3 as the high bits of the first byte (`0x70`).
    pub(crate) rsv: u8,
    pub(crate) opcode: u8,
    pub(crate) mask: Option<[u8; 4]>,
    pub(crate) payload: u64,
    /// The header's own length.
    pub(crate) len: usize,
}

impl Header {
    /// The header at the start of `b`; `None` if incomplete. (tungstenite's
    /// `FrameHeader::parse` reads through a `Cursor` and cost 150
    /// instructions a frame, more than the rest of decoding a small message.)
    #[inline]
    pub(crate) fn parse(b: &[u8]) -> Option<Header> {
        let extent = HeaderExtent::of(b)?;
        let (first, second) = (b[0], b[1]);
        let mask = (second & 0x80 != 0).then(|| {
            let at = extent.len - 4;
            [b[at], b[at + 1], b[at + 2], b[at + 3]]
        });
        Some(Header {
            fin: first & 0x80 != 0,
            rsv: first & 0x70,
            opcode: first & 0x0F,
            mask,
            payload: extent.payload,
            len: extent.len,
        })
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
                let ours = super::Header::parse(&out[1..]).unwrap();
                assert_eq!(ours.payload, length);
                assert_eq!(ours.len, cursor.position() as usize);
                assert_eq!(
                    (ours.mask, ours.fin, ours.rsv, ours.opcode),
                    (mask, true, 0, 2)
                );
                let short = &out[1..1 + ours.len - 1];
                assert!(super::Header::parse(short).is_none());
            }
        }
    }
}
