//! The compression of permessage-deflate with flate2: raw deflate, a sync
//! flush at the end of each message (and of each part sent in parts), the
//! flush's trailing `00 00 ff ff` left out on the wire and put back before
//! inflating, as RFC 7692 section 7.2 says. Pure: no socket, no lock.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::Agreed;

/// The four bytes a sync flush ends with, which a message leaves out.
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// The inflater's output buffer: how much it inflates between checks of
/// the limit.
const SCRATCH: usize = 32 << 10;
/// A compressor's output buffer grown past this is released after use.
const KEEP: usize = 256 << 10;

/// Our side's compressor; zlib's state is made on first use, so an idle
/// connection holds none.
#[derive(Debug)]
pub(crate) struct Compressor {
    zlib: Option<Box<Compress>>,
    window: u8,
    level: u32,
    /// Start afresh after each message (no context takeover).
    reset: bool,
    out: Vec<u8>,
    /// A message sent in parts: the sync flush that ended the last part,
    /// held back in case it ends the message (then it is left out).
    held: bool,
    /// A message sent in parts: it has sent compressed bytes.
    started: bool,
}

impl Compressor {
    /// `None` if we send uncompressed only.
    pub(crate) fn new(agreed: &Agreed) -> Option<Compressor> {
        Some(Compressor {
            zlib: None,
            window: agreed.send_window?,
            level: agreed.level,
            reset: agreed.send_reset,
            out: Vec::new(),
            held: false,
            started: false,
        })
    }

    /// Appends `input`, compressed and sync-flushed, to the output.
    fn deflate(&mut self, mut input: &[u8]) {
        let (window, level) = (self.window, self.level);
        let zlib = self.zlib.get_or_insert_with(|| {
            Box::new(Compress::new_with_window_bits(
                Compression::new(level),
                false,
                window,
            ))
        });
        loop {
            if self.out.capacity() - self.out.len() < 64 {
                self.out.reserve(input.len() / 2 + 1024);
            }
            let before = zlib.total_in();
            let status = zlib.compress_vec(input, &mut self.out, FlushCompress::Sync);
            input = &input[(zlib.total_in() - before) as usize..];
            match status {
                // With room in the output, a buffer error means nothing is
                // left to do (a flush right after a flush).
                Ok(Status::BufError) | Err(_) => break,
                // The flush is complete once zlib stops short of the end
                // of the output.
                Ok(_) if input.is_empty() && self.out.len() < self.out.capacity() => break,
                Ok(_) => {}
            }
        }
    }

    /// The compressed payload of one whole message.
    pub(crate) fn message(&mut self, payload: &[u8]) -> &[u8] {
        self.out.clear();
        self.deflate(payload);
        self.end_message(false);
        &self.out
    }

    /// The payload of the next frame of a message sent in parts (`fin`:
    /// its last).
    pub(crate) fn part(&mut self, input: &[u8], fin: bool) -> &[u8] {
        self.out.clear();
        if std::mem::take(&mut self.held) {
            self.out.extend_from_slice(&TRAILER);
        }
        if !input.is_empty() {
            self.deflate(input);
        }
        if fin {
            let started = std::mem::take(&mut self.started);
            self.end_message(started);
        } else if self.out.ends_with(&TRAILER) {
            self.out.truncate(self.out.len() - TRAILER.len());
            self.held = true;
            self.started = true;
        } else {
            self.started |= !self.out.is_empty();
        }
        &self.out
    }

    /// Leaves out the final flush's trailer; an empty message is one zero
    /// byte (an empty stored block once the receiver adds the trailer).
    fn end_message(&mut self, started: bool) {
        if self.out.ends_with(&TRAILER) {
            self.out.truncate(self.out.len() - TRAILER.len());
        }
        if self.out.is_empty() && !started {
            self.out.push(0);
        }
        if self.reset {
            // Nothing carries over to the next message: the state goes
            // (about 256 KiB at 15 bits), and comes back when it is used.
            self.zlib = None;
        }
    }

    /// A message in parts ended early (its writer failed): the next
    /// message starts afresh.
    pub(crate) fn abandon(&mut self) {
        (self.held, self.started) = (false, false);
        if let Some(zlib) = &mut self.zlib {
            zlib.reset();
        }
    }

    /// After the output was sent: a buffer grown by a large message goes,
    /// and any buffer once nothing is kept between messages.
    pub(crate) fn sent(&mut self) {
        let between_messages = self.zlib.is_none();
        if self.out.capacity() > KEEP || between_messages {
            self.out = Vec::new();
        }
    }
}

/// Why inflating stopped.
#[derive(Debug)]
pub(crate) enum Inflated<E> {
    /// The output passed the limit (inflating stopped there).
    TooBig,
    /// The data is not deflate.
    Corrupt(String),
    /// The receiver of the output refused it.
    Refused(E),
}

/// The peer's compressed messages inflated; zlib's state and the output
/// buffer are made on the first compressed message.
#[derive(Debug)]
pub(crate) struct Inflater {
    zlib: Option<Box<Decompress>>,
    /// The peer starts afresh for each message (no context takeover).
    reset: bool,
    scratch: Vec<u8>,
    /// The message under way has had compressed bytes.
    fed: bool,
    /// The message under way ended its deflate stream (a final block).
    ended: bool,
}

impl Inflater {
    pub(crate) fn new(agreed: &Agreed) -> Inflater {
        Inflater {
            zlib: None,
            reset: agreed.receive_reset,
            scratch: Vec::new(),
            fed: false,
            ended: false,
        }
    }

    /// Inflates `input`, the next compressed bytes of a message (`end`:
    /// its last; the trailer follows), handing the output to `emit` in
    /// pieces of at most 32 KiB; returns how many bytes it made. Stops
    /// with `TooBig` once the output passes `limit`, having made at most
    /// 32 KiB more: a small message that inflates to gigabytes costs no
    /// more than that.
    pub(crate) fn inflate<E>(
        &mut self,
        input: &[u8],
        end: bool,
        limit: u64,
        mut emit: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<u64, Inflated<E>> {
        let zlib = self
            .zlib
            .get_or_insert_with(|| Box::new(Decompress::new(false)));
        if self.scratch.capacity() < SCRATCH {
            self.scratch = Vec::with_capacity(SCRATCH);
        }
        let mut made_all = 0u64;
        self.fed |= !input.is_empty();
        // An empty payload is an empty message: the trailer alone would be
        // half a block header, and would swallow the next message.
        let trailer: &[u8] = if end && self.fed { &TRAILER } else { &[] };
        // After a final block the rest of the message means nothing,
        // however it is cut into frames and reads.
        let pieces = if self.ended {
            [&[][..], &[]]
        } else {
            [input, trailer]
        };
        'pieces: for mut rest in pieces {
            loop {
                let in_before = zlib.total_in();
                self.scratch.clear();
                let status = zlib
                    .decompress_vec(rest, &mut self.scratch, FlushDecompress::None)
                    .map_err(|e| Inflated::Corrupt(e.to_string()))?;
                let used = (zlib.total_in() - in_before) as usize;
                let made = self.scratch.len();
                rest = &rest[used..];
                if made > 0 {
                    made_all += made as u64;
                    if made_all > limit {
                        return Err(Inflated::TooBig);
                    }
                    emit(&self.scratch[..made]).map_err(Inflated::Refused)?;
                }
                match status {
                    // The peer ended its deflate stream (a final block):
                    // the next message starts a new one; the trailer and
                    // anything else after the end mean nothing.
                    Status::StreamEnd => {
                        zlib.reset(false);
                        self.ended = true;
                        break 'pieces;
                    }
                    _ if made == self.scratch.capacity() => {} // more output may be waiting
                    _ if rest.is_empty() || (used == 0 && made == 0) => break,
                    _ => {}
                }
            }
        }
        if end {
            (self.fed, self.ended) = (false, false);
            // Between messages an idle connection keeps no output buffer,
            // and no state at all when nothing carries over.
            self.scratch = Vec::new();
            if self.reset {
                self.zlib = None;
            }
        }
        Ok(made_all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::Deflate;

    fn agreed(reset: bool) -> Agreed {
        let mut a = Deflate::default().answer(&["permessage-deflate"]).unwrap();
        a.send_reset = reset;
        a.receive_reset = reset;
        a
    }

    fn inflate(i: &mut Inflater, frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, f) in frames.iter().enumerate() {
            i.inflate(f, n + 1 == frames.len(), u64::MAX, |b| {
                out.extend_from_slice(b);
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn messages_round_trip_whole_and_in_parts_with_and_without_context() {
        for reset in [false, true] {
            let (mut c, mut i) = (
                Compressor::new(&agreed(reset)).unwrap(),
                Inflater::new(&agreed(reset)),
            );
            let text = b"{\"price\": 101.25, \"symbol\": \"ACME\"} ".repeat(40);
            for round in 0..3 {
                let whole = c.message(&text).to_vec();
                assert!(!whole.ends_with(&TRAILER) && whole.len() < text.len() / 4);
                assert_eq!(inflate(&mut i, &[whole]), text, "round {round}");
                let mut frames = Vec::new();
                for piece in text.chunks(333) {
                    frames.push(c.part(piece, false).to_vec());
                }
                frames.push(c.part(b"", true).to_vec());
                assert_eq!(inflate(&mut i, &frames), text);
                for empty in [c.message(b"").to_vec(), c.part(b"", true).to_vec()] {
                    assert_eq!(empty, [0], "an empty message is one zero byte");
                    assert_eq!(inflate(&mut i, &[empty]), b"");
                }
            }
        }
    }

    #[test]
    fn inflating_stops_just_past_the_limit_and_bad_data_is_named() {
        let mut c = Compressor::new(&agreed(false)).unwrap();
        let bomb = c.message(&vec![0u8; 8 << 20]).to_vec();
        assert!(bomb.len() < 16 << 10, "{} bytes", bomb.len());
        let mut i = Inflater::new(&agreed(false));
        let mut seen = 0;
        let r = i.inflate(&bomb, true, 1 << 20, |b| {
            seen += b.len();
            Ok::<(), ()>(())
        });
        assert!(matches!(r, Err(Inflated::TooBig)));
        assert!(seen <= 1 << 20);
        let mut i = Inflater::new(&agreed(false));
        let r = i.inflate(&[0xff, 0xff, 0xff, 0xff], true, u64::MAX, |_| {
            Ok::<(), ()>(())
        });
        assert!(matches!(r, Err(Inflated::Corrupt(_))), "{r:?}");
    }
}
