//! Unit tests of the decoder: frame sequences split at every byte where
//! that matters (no sockets).
use super::*;
use crate::codec::encode_header;
use crate::error::Status;
use tungstenite::protocol::frame::coding::{Data, OpCode};

/// A frame as a peer sends it: `first` is the FIN/RSV/opcode byte.
fn frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_header(&mut out, OpCode::Data(Data::Binary), payload.len(), mask);
    out[0] = first;
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(m) = mask {
        apply_mask(&mut out[start..], m);
    }
    out
}

/// What decoding `stream` in slices of `step` bytes yields (as a
/// server: frames masked).
fn decode(stream: &[u8], step: usize, parts: bool) -> (Vec<String>, Result<Flow, Violation>) {
    let mut d = Decoder::new(true, 1 << 20, 1 << 20, None);
    let mut seen = Vec::new();
    let mut result = Ok(Flow::More);
    for piece in stream.chunks(step.max(1)) {
        let mut piece = BytesMut::from(piece);
        result = d.feed(&mut piece, parts, true, &mut |item| {
            seen.push(match item {
                Item::Message(Message::Text(t)) => format!("text {t}"),
                Item::Message(Message::Binary(b)) => format!("binary {b:?}"),
                Item::Part(p) => format!("part {} {} {:?}", p.first, p.fin, p.data),
                Item::Ping(p) => format!("ping {p:?}"),
                Item::Pong(p) => format!("pong {p:?}"),
                Item::Close(f) => format!("close {} {}", f.code, f.reason),
            })
        });
        if !matches!(result, Ok(Flow::More)) {
            break;
        }
    }
    (seen, result)
}

const M: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

#[test]
fn fragments_with_control_frames_between_them_in_any_slices() {
    let stream = [
        frame(0x01, "héllo ".as_bytes(), M), // text, not final
        frame(0x89, b"p", M),                // ping between fragments
        frame(0x00, "wörld".as_bytes(), M),  // continuation
        frame(0x8A, b"", M),                 // pong
        frame(0x80, b"!", M),                // final continuation
        frame(0x82, &[1, 2, 3], M),          // binary
        frame(0x88, &[0x03, 0xe8, b'b', b'y', b'e'], M),
        frame(0x82, &[9], M), // after the close: not read
    ]
    .concat();
    for step in 1..=stream.len() {
        let (seen, result) = decode(&stream, step, false);
        assert_eq!(result, Ok(Flow::Closed), "step {step}");
        assert_eq!(
            seen,
            [
                "ping b\"p\"",
                "pong b\"\"",
                "text héllo wörld!",
                "binary b\"\\x01\\x02\\x03\"",
                "close 1000 bye"
            ],
            "step {step}"
        );
    }
}

#[test]
fn in_parts_a_message_comes_as_it_arrives() {
    let stream = [
        frame(0x02, &[1, 2], M),
        frame(0x80, &[3], M),
        frame(0x82, &[4], M),
    ]
    .concat();
    for step in 1..=stream.len() {
        let mut d = Decoder::new(true, 1 << 20, 1 << 20, None);
        let (mut parts, mut whole) = (Vec::new(), Vec::new());
        for piece in stream.chunks(step) {
            let r = d.feed(
                &mut BytesMut::from(piece),
                true,
                step % 2 == 0,
                &mut |item| match item {
                    Item::Part(p) => parts.push(p),
                    Item::Message(m) => whole.push(m),
                    other => panic!("{other:?}"),
                },
            );
            assert_eq!(r, Ok(Flow::More));
        }
        // The fragmented message comes in parts; the last one whole
        // if a slice held all of it, else in parts too.
        let end = parts.iter().position(|p| p.fin).expect("a last part");
        let (first, second) = parts.split_at(end + 1);
        let data: Vec<u8> = first.iter().flat_map(|p| p.data.to_vec()).collect();
        assert_eq!(data, [1, 2, 3], "step {step}");
        assert!(first[0].first && first[1..].iter().all(|p| !p.first && !p.text));
        assert!(first[..end].iter().all(|p| !p.fin));
        match (&whole[..], second) {
            ([Message::Binary(b)], []) => assert_eq!(b[..], [4]),
            ([], [p]) => assert!(p.first && p.fin && p.data[..] == [4]),
            other => panic!("step {step}: {other:?}"),
        }
    }
}

fn violation(stream: &[u8]) -> Violation {
    for step in [1, 3, stream.len()] {
        let (_, result) = decode(stream, step, false);
        assert!(result.is_err(), "step {step}: {result:?}");
    }
    decode(stream, stream.len(), false).1.unwrap_err()
}

#[test]
fn broken_rules_get_their_close_codes() {
    let code = |s: &[u8]| violation(s).code;
    // Unmasked frame to a server, reserved bits, reserved opcodes.
    assert_eq!(code(&frame(0x82, b"x", None)), 1002);
    assert_eq!(code(&frame(0xC2, b"x", M)), 1002);
    assert_eq!(code(&frame(0x83, b"x", M)), 1002);
    assert_eq!(code(&frame(0x8B, b"x", M)), 1002);
    // A fragmented ping, a long ping.
    assert_eq!(code(&frame(0x09, b"x", M)), 1002);
    assert_eq!(code(&frame(0x89, &[0; 126], M)), 1002);
    // A continuation of nothing; a new message inside another.
    assert_eq!(code(&frame(0x80, b"x", M)), 1002);
    assert_eq!(
        code(&[frame(0x01, b"a", M), frame(0x81, b"b", M)].concat()),
        1002
    );
    // Close frames: one byte, a code no one may send, a bad reason.
    assert_eq!(code(&frame(0x88, &[3], M)), 1002);
    assert_eq!(code(&frame(0x88, &[0x03, 0xed], M)), 1002); // 1005
    assert_eq!(code(&frame(0x88, &[0x03, 0xf7], M)), 1002); // 1015
    assert_eq!(code(&frame(0x88, &[0x0b, 0xb7], M)), 1002); // 2999
    assert_eq!(code(&frame(0x88, &[0x03, 0xe8, 0xff], M)), 1007);
    // Invalid text, whole and across fragments; text cut mid-character.
    assert_eq!(code(&frame(0x81, &[0xc3, 0x28], M)), 1007);
    let split = [frame(0x01, &[b'a', 0xe2, 0x82], M), frame(0x80, &[0x28], M)].concat();
    assert_eq!(code(&split), 1007);
    assert_eq!(code(&frame(0x81, &[b'a', 0xe2, 0x82], M)), 1007);
}

#[test]
fn registered_close_codes_are_taken() {
    for code in [1000u16, 1003, 1007, 1012, 1013, 1014, 3000, 4999] {
        let mut close = code.to_be_bytes().to_vec();
        close.extend_from_slice(b"why");
        let (seen, result) = decode(&frame(0x88, &close, M), 1, false);
        assert_eq!(result, Ok(Flow::Closed), "code {code}");
        assert_eq!(seen, [format!("close {code} why")]);
    }
}

#[test]
fn invalid_text_fails_at_its_first_bad_byte() {
    // The message never ends, but its bad byte is already here.
    let mut d = Decoder::new(true, 1 << 20, 1 << 20, None);
    let mut stream = BytesMut::from(&frame(0x01, &[b'a', 0xff, b'b'], M)[..]);
    let r = d.feed(&mut stream, false, true, &mut |_| {});
    assert_eq!(r.map_err(|v| v.code), Err(1007));
}

#[test]
fn size_limits_hold_before_the_payload_arrives() {
    let mut d = Decoder::new(true, 100, 50, None);
    let mut header = Vec::new();
    encode_header(&mut header, OpCode::Data(Data::Binary), 101, M);
    let r = d.feed(&mut BytesMut::from(&header[..]), false, true, &mut |_| {});
    assert_eq!(
        r.map_err(|v| (v.status, v.code)),
        Err((Status::MessageTooBig, 1009))
    );
    // Fragments add up.
    let mut d = Decoder::new(true, 100, 1000, None);
    let mut s = BytesMut::from(&[frame(0x02, &[0; 60], M), frame(0x80, &[0; 60], M)].concat()[..]);
    assert_eq!(
        d.feed(&mut s, false, true, &mut |_| {}).map_err(|v| v.code),
        Err(1009)
    );
    // In parts the message has no limit, but each frame does.
    let mut d = Decoder::new(true, 100, 50, None);
    let mut s: BytesMut = [
        frame(0x02, &[0; 40], M),
        frame(0x00, &[0; 40], M),
        frame(0x00, &[0; 40], M),
    ]
    .concat()[..]
        .into();
    assert_eq!(d.feed(&mut s, true, true, &mut |_| {}), Ok(Flow::More));
    let mut s = BytesMut::from(&frame(0x80, &[0; 51], M)[..]);
    assert_eq!(
        d.feed(&mut s, true, true, &mut |_| {}).map_err(|v| v.code),
        Err(1009)
    );
}

#[test]
fn a_client_refuses_masked_frames_and_takes_unmasked_ones() {
    let mut d = Decoder::new(false, 100, 100, None);
    let mut ok = BytesMut::from(&frame(0x81, b"hi", None)[..]);
    let mut n = 0;
    assert_eq!(
        d.feed(&mut ok, false, true, &mut |_| n += 1),
        Ok(Flow::More)
    );
    assert_eq!(n, 1);
    let mut masked = BytesMut::from(&frame(0x81, b"hi", M)[..]);
    assert_eq!(
        d.feed(&mut masked, false, true, &mut |_| {})
            .map_err(|v| v.code),
        Err(1002)
    );
}

/// Decodes `stream` as the read path does: `step` bytes a read, appended
/// straight onto the message under way whenever [`Decoder::direct`]
/// offers it (at most what it allows), into a read buffer otherwise.
/// Returns what was yielded, and how many bytes went the direct way.
fn decode_as_read(stream: &[u8], step: usize) -> (Vec<String>, Result<usize, Violation>) {
    let mut d = Decoder::new(true, 1 << 20, 1 << 20, None);
    let mut seen = Vec::new();
    let mut show = |item: Item| {
        seen.push(match item {
            Item::Message(Message::Text(t)) => format!("text {} {}", t.len(), t.chars().count()),
            Item::Message(Message::Binary(b)) => format!(
                "binary {} {}",
                b.len(),
                b.iter().map(|&x| x as u64).sum::<u64>()
            ),
            Item::Ping(p) => format!("ping {p:?}"),
            other => format!("{other:?}"),
        })
    };
    let (mut at, mut direct) = (0, 0);
    while at < stream.len() {
        if let Some((message, max)) = d.direct() {
            let take = step.min(max).min(stream.len() - at);
            let start = message.len();
            message.extend_from_slice(&stream[at..at + take]);
            at += take;
            direct += take;
            match d.direct_arrived(start) {
                Ok(done) => done.into_iter().for_each(|m| show(Item::Message(m))),
                Err(v) => return (seen, Err(v)),
            }
        } else {
            let take = step.min(stream.len() - at);
            let mut piece = BytesMut::from(&stream[at..at + take]);
            at += take;
            if let Err(v) = d.feed(&mut piece, false, true, &mut show) {
                return (seen, Err(v));
            }
        }
    }
    (seen, Ok(direct))
}

#[test]
fn large_frames_read_straight_into_their_message_in_any_slices() {
    // Text of two-byte characters split across frames, a ping between
    // them, then a large binary frame: the mask's phase, the UTF-8 check
    // across reads and the message's end must all hold however reads fall.
    let text = "é".repeat(15_000); // 30,000 bytes
    let (a, b) = text.as_bytes().split_at(10_001); // inside a character
    let binary: Vec<u8> = (0..70_001u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let sum: u64 = binary.iter().map(|&x| x as u64).sum();
    let stream = [
        frame(0x01, a, M),
        frame(0x89, b"p", M),
        frame(0x80, b, M),
        frame(0x82, &binary, M),
        frame(0x81, b"short", M),
    ]
    .concat();
    for step in [1000, 4097, 8191, 16_384, 65_537, 200_000] {
        let (seen, result) = decode_as_read(&stream, step);
        let direct = result.unwrap_or_else(|v| panic!("step {step}: {v:?}"));
        assert_eq!(
            seen,
            [
                "ping b\"p\"".to_string(),
                "text 30000 15000".into(),
                format!("binary 70001 {sum}"),
                "text 5 5".into(),
            ],
            "step {step}"
        );
        // Reads of at most 16 KiB leave every large frame's most to the
        // direct way; one read of the whole stream leaves it none.
        let least = match step {
            ..=16_384 => 60_000,
            200_000 => 0,
            _ => 1,
        };
        assert!(
            direct >= least,
            "step {step}: only {direct} bytes went direct"
        );
    }
}

#[test]
fn invalid_text_read_straight_into_its_message_fails_there() {
    let mut text = "a".repeat(40_000).into_bytes();
    text[30_000] = 0xff;
    let stream = frame(0x81, &text, M);
    for step in [1000, 8192, 65_536] {
        let (seen, result) = decode_as_read(&stream, step);
        assert!(seen.is_empty(), "step {step}: {seen:?}");
        assert_eq!(result.map_err(|v| v.code), Err(1007), "step {step}");
    }
}
