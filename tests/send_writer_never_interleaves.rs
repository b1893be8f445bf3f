//! A message sent in 1,000 parts from one thread, while 4 other threads
//! send whole messages through the same socket, arrives whole and in order,
//! never interleaved: checked by a wsock receiver (compression on, as by
//! default) and, frame by frame, by a hand-made peer reading the wire.

mod support;

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Barrier};
use std::thread;

use support::{pair, RawServer, OP_BINARY, OP_CONTINUATION, OP_TEXT, WAIT};
use wsock::{MessageKind, MessageWebSocket, Server};

const PARTS: usize = 1000;
/// The threads that send whole messages, by the letter in their messages.
const OTHERS: [char; 4] = ['B', 'C', 'D', 'E'];
const PER_OTHER: usize = 200;
/// The writer begins once each other thread has sent this many...
const BEFORE_WRITER: usize = 50;
/// ...and each sends up to this one while it begins (racing it); the rest
/// only once the first part is on the wire, so they wait for the last.
const RACING_UNTIL: usize = 100;

/// Part `i` of the writer's message: ten bytes, each part different.
fn part(i: usize) -> String {
    format!("part {i:04};")
}

fn big_message() -> String {
    (0..PARTS).map(part).collect()
}

/// Message `seq` of thread `t`: its tag, then filler that takes it over
/// the 128 bytes from which messages are compressed.
fn whole(t: char, seq: usize) -> String {
    format!("{t} {seq:03} {}", "whole message ".repeat(10))
}

/// Parses a whole message back into (thread, seq), checking the rest.
fn parse_whole(text: &str) -> (char, usize) {
    let t = text.chars().next().expect("an empty message");
    let seq = text
        .get(2..5)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a whole message: {:?}", &text[..text.len().min(40)]));
    assert!(OTHERS.contains(&t), "no thread {t:?}");
    assert_eq!(text, whole(t, seq), "thread {t}'s message {seq} corrupted");
    (t, seq)
}

/// Starts the five senders on `ws`, together (a barrier): thread A writes
/// one text message in `PARTS` writes, beginning once each of B..E has sent
/// `BEFORE_WRITER` of its `PER_OTHER` whole messages; B..E send up to
/// `RACING_UNTIL` while it begins, and the rest once its first part is
/// written. Each thread's result (its name and any error) comes on the
/// returned channel.
fn start_senders(ws: &MessageWebSocket) -> Receiver<(char, Result<(), String>)> {
    let (done_tx, done) = mpsc::channel();
    let (going_tx, going) = mpsc::channel::<()>();
    let start = Arc::new(Barrier::new(1 + OTHERS.len()));
    let mut first_part_sent = Vec::new();
    for t in OTHERS {
        let (tx, start, done_tx, going_tx) = (
            ws.sender(),
            Arc::clone(&start),
            done_tx.clone(),
            going_tx.clone(),
        );
        let (first_part_tx, first_part) = mpsc::channel::<()>();
        first_part_sent.push(first_part_tx);
        thread::spawn(move || {
            start.wait();
            let result = (0..PER_OTHER).try_for_each(|seq| {
                if seq == BEFORE_WRITER {
                    let _ = going_tx.send(());
                }
                if seq == RACING_UNTIL {
                    first_part
                        .recv_timeout(WAIT)
                        .map_err(|e| format!("no first part: {e}"))?;
                }
                tx.send_text(whole(t, seq))
                    .map_err(|e| format!("message {seq}: {e}"))
            });
            let _ = done_tx.send((t, result));
        });
    }
    drop(going_tx);
    let tx = ws.sender();
    thread::spawn(move || {
        start.wait();
        let result = (|| -> Result<(), String> {
            for _ in OTHERS {
                going
                    .recv_timeout(WAIT)
                    .map_err(|e| format!("the others did not get going: {e}"))?;
            }
            let mut w = tx
                .send_writer(MessageKind::Text)
                .map_err(|e| e.to_string())?;
            for i in 0..PARTS {
                let p = part(i);
                // One write, one frame: all of it taken at once.
                match w.write(p.as_bytes()) {
                    Ok(n) if n == p.len() => {}
                    Ok(n) => return Err(format!("part {i}: a short write ({n} bytes)")),
                    Err(e) => return Err(format!("part {i}: {e}")),
                }
                if i == 0 {
                    for other in first_part_sent.drain(..) {
                        let _ = other.send(());
                    }
                }
            }
            w.finish().map_err(|e| format!("finish: {e}"))
        })();
        let _ = done_tx.send(('A', result));
    });
    done
}

/// Checks where thread `t`'s message `seq` arrived, relative to the message
/// in parts (`after_parts`: it had arrived already).
fn check_place(t: char, seq: usize, after_parts: bool) {
    if seq < BEFORE_WRITER {
        assert!(
            !after_parts,
            "thread {t}'s message {seq} came after the parts, yet was sent before them"
        );
    }
    if seq >= RACING_UNTIL {
        assert!(
            after_parts,
            "thread {t}'s message {seq} came before the parts ended, yet was sent after the first"
        );
    }
}

/// Waits (bounded) for the five senders and checks that none failed.
fn all_sent(done: &Receiver<(char, Result<(), String>)>) {
    for _ in 0..=OTHERS.len() {
        let (t, result) = done
            .recv_timeout(WAIT)
            .expect("a sender thread did not finish in time");
        if let Err(e) = result {
            panic!("thread {t}: {e}");
        }
    }
}

#[test]
fn a_message_in_1000_parts_among_800_whole_ones_arrives_whole_and_in_order() {
    let (client, server) = pair();
    assert!(
        client.info().compression.is_some(),
        "compression is on by default between wsock peers"
    );
    let done = start_senders(&client);

    let big = big_message();
    let mut next_seq = [0usize; OTHERS.len()];
    let mut big_at = None;
    for i in 0..=OTHERS.len() * PER_OTHER {
        let m = server
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        let text = m
            .as_text()
            .unwrap_or_else(|| panic!("message {i} is not text"));
        if text.starts_with("part ") {
            assert!(big_at.is_none(), "the parts came in two messages");
            assert_eq!(text.len(), big.len(), "the message in parts, its length");
            if let Some(at) = (0..PARTS).find(|&p| text[p * 10..p * 10 + 10] != part(p)) {
                panic!(
                    "the message in parts, at part {at}: {:?}",
                    &text[at * 10..(at * 10 + 40).min(text.len())]
                );
            }
            big_at = Some(i);
            continue;
        }
        let (t, seq) = parse_whole(text);
        let slot = OTHERS.iter().position(|&o| o == t).unwrap();
        assert_eq!(seq, next_seq[slot], "thread {t}'s messages out of order");
        next_seq[slot] += 1;
        check_place(t, seq, big_at.is_some());
    }
    all_sent(&done);
    let big_at = big_at.expect("the message in parts never arrived");
    assert_eq!(next_seq, [PER_OTHER; OTHERS.len()]);
    // Nothing more: exactly 801 messages were sent.
    assert_eq!(server.try_recv().map_err(|e| e.to_string()), Ok(None));
    assert_eq!(
        client.info().messages_sent,
        1 + (OTHERS.len() * PER_OTHER) as u64
    );
    eprintln!(
        "the message in parts came after {big_at} whole messages, before {}",
        OTHERS.len() * PER_OTHER - big_at
    );
}

/// One frame from a server (unmasked, no RSV bit): (fin, opcode, payload).
fn read_frame(tcp: &mut TcpStream) -> io::Result<(bool, u8, Vec<u8>)> {
    let (first, opcode, payload) = support::read_frame_head(tcp)?;
    assert_eq!(first & 0x70, 0, "RSV bits set without compression");
    Ok((first & 0x80 != 0, opcode, payload))
}

#[test]
fn on_the_wire_nothing_comes_between_the_first_and_the_final_frame_of_the_parts() {
    // A hand-made client offers no compression: every write is one frame,
    // its bytes as written.
    let raw = RawServer::start(Server::builder());
    let (ws, mut tcp) = raw.connect();
    let done = start_senders(&ws);

    let mut next_seq = [0usize; OTHERS.len()];
    // Some(n): inside the message in parts, n parts read.
    let mut parts: Option<usize> = None;
    let mut finished = false;
    let mut whole_before = 0;
    let mut messages = 0;
    while messages < 1 + OTHERS.len() * PER_OTHER {
        let (fin, opcode, payload) = read_frame(&mut tcp).expect("a frame from wsock");
        match (opcode, parts) {
            (OP_TEXT, None) if payload.starts_with(b"part ") => {
                assert!(!finished, "a second message in parts");
                assert!(!fin, "the first part came as a final frame");
                assert_eq!(payload, part(0).as_bytes(), "the first frame");
                parts = Some(1);
            }
            (OP_TEXT, None) => {
                assert!(fin, "a whole message came in fragments");
                let text = String::from_utf8(payload).expect("UTF-8");
                let (t, seq) = parse_whole(&text);
                let slot = OTHERS.iter().position(|&o| o == t).unwrap();
                assert_eq!(seq, next_seq[slot], "thread {t}'s messages out of order");
                next_seq[slot] += 1;
                check_place(t, seq, finished);
                whole_before += usize::from(!finished);
                messages += 1;
            }
            (OP_CONTINUATION, Some(n)) if n < PARTS => {
                assert!(!fin, "part {n} came as the final frame");
                let got = String::from_utf8_lossy(&payload);
                assert_eq!(got, part(n), "frame {n} of the message in parts");
                parts = Some(n + 1);
            }
            (OP_CONTINUATION, Some(n)) => {
                assert_eq!(n, PARTS);
                assert!(fin, "a frame after the last part that is not final");
                assert!(payload.is_empty(), "finish() sends an empty final frame");
                parts = None;
                finished = true;
                messages += 1;
            }
            (OP_TEXT | OP_BINARY, Some(n)) => panic!(
                "a data frame ({:?}) came between the parts, after {n} of them",
                String::from_utf8_lossy(&payload[..payload.len().min(40)])
            ),
            (op, _) if op >= 0x8 => {} // pings, which may come between
            (op, at) => panic!("frame with opcode {op} (inside the parts: {at:?})"),
        }
    }
    all_sent(&done);
    assert!(finished, "the message in parts never ended");
    assert_eq!(next_seq, [PER_OTHER; OTHERS.len()]);
    eprintln!(
        "on the wire: the parts came after {whole_before} whole messages, before {}",
        OTHERS.len() * PER_OTHER - whole_before
    );
    drop(ws);
}
