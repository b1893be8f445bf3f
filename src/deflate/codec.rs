//! The compression of permessage-deflate with flate2: raw deflate, a sync
//! flush at the end of each message (and of each part sent in parts), the
//! flush's trailing `00 00 ff ff` left out on the wire and put back before
//! inflating, as RFC 7692 section 7.2 says. Pure: no socket, no lock.
//!
//! With context takeover, each side keeps the last 32 KiB of its stream
//! (`history`) beside zlib's state, so that the state (about 300 KiB to
//! compress, 40 KiB to inflate) can go while the connection is idle
//! (`release`) and come back primed with that history as its dictionary.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use std::sync::Mutex;

use super::Agreed;
use crate::sync::lock;

/// The four bytes a sync flush ends with, which a message leaves out.
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// The inflater's output buffer: how much it inflates between checks of
/// the limit.
const SCRATCH: usize = 32 << 10;
/// A compressor's output buffer grown past this is released after use.
const KEEP: usize = 256 << 10;
/// The largest LZ77 window (15 bits): the history either side keeps.
const WINDOW: usize = 1 << 15;
/// An inflater whose history is this short lets its state go after each
/// message.
const SHORT_HISTORY: usize = 4 << 10;

/// Keeps the last [`WINDOW`] bytes of a stream in `history`, which grows
/// to twice that between trims (each byte is copied about twice).
fn remember(history: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() >= WINDOW {
        history.clear();
        history.extend_from_slice(&bytes[bytes.len() - WINDOW..]);
        return;
    }
    if history.len() + bytes.len() > 2 * WINDOW {
        history.drain(..history.len() + bytes.len() - WINDOW);
    }
    history.extend_from_slice(bytes);
}

/// zlib states (reset) that connections let go, kept for the next
/// connection that needs one. Many connections that each compress or
/// inflate a message now and then share a few: otherwise each would
/// allocate the state and free it again, and a thread-per-connection
/// program's allocator keeps much of what each thread freed. A leaf lock,
/// held only to push or pop.
struct Spares<T> {
    states: Mutex<Vec<T>>,
    /// How many the process keeps.
    max: usize,
}

impl<T> Spares<T> {
    const fn new(max: usize) -> Spares<T> {
        Spares {
            states: Mutex::new(Vec::new()),
            max,
        }
    }

    /// A spare one that `fits`, if any.
    fn take(&self, fits: impl Fn(&T) -> bool) -> Option<T> {
        let mut states = lock(&self.states);
        let at = states.iter().position(fits)?;
        Some(states.swap_remove(at))
    }

    /// `state` goes among the spares, or is dropped if there are enough.
    fn give(&self, state: T) {
        let mut states = lock(&self.states);
        if states.len() < self.max {
            states.push(state);
        }
    }
}

/// Inflaters (about 40 KiB) with their output buffers.
static SPARE_INFLATERS: Spares<(Box<Decompress>, Vec<u8>)> = Spares::new(16);
/// Compressors (about 300 KiB) with their level and window.
static SPARE_COMPRESSORS: Spares<(u32, u8, Box<Compress>)> = Spares::new(4);

/// An inflater whose window holds `history`, and an output buffer: spare
/// ones first.
fn take_inflater(history: &[u8]) -> (Box<Decompress>, Vec<u8>) {
    let spare = SPARE_INFLATERS.take(|_| true);
    let (mut zlib, scratch) = spare.unwrap_or_else(|| {
        (
            Box::new(Decompress::new(false)),
            Vec::with_capacity(SCRATCH),
        )
    });
    if !history.is_empty() {
        // Cannot fail on a raw inflater (zlib takes a dictionary at any
        // time there).
        let _ = zlib.set_dictionary(history);
    }
    (zlib, scratch)
}

/// An inflater no longer needed goes back among the spares (reset).
fn give_back(mut zlib: Box<Decompress>, mut scratch: Vec<u8>) {
    zlib.reset(false);
    scratch.clear();
    if scratch.capacity() == SCRATCH {
        SPARE_INFLATERS.give((zlib, scratch));
    }
}

/// A compressor of this level and window whose window holds `history`:
/// a spare one first.
fn take_compressor(level: u32, window: u8, history: &[u8]) -> Box<Compress> {
    let spare = SPARE_COMPRESSORS
        .take(|&(l, w, _)| l == level && w == window)
        .map(|(_, _, zlib)| zlib);
    let mut zlib = spare.unwrap_or_else(|| {
        let level = Compression::new(level);
        Box::new(Compress::new_with_window_bits(level, false, window))
    });
    if !history.is_empty() {
        // Cannot fail on a state just made or reset (zlib: only a stream
        // already under way refuses a dictionary).
        let _ = zlib.set_dictionary(history);
    }
    zlib
}

/// `history` cut to its last [`WINDOW`] bytes, its spare room released.
fn trim(history: &mut Vec<u8>) {
    if history.len() > WINDOW {
        history.drain(..history.len() - WINDOW);
    }
    history.shrink_to_fit();
}

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
    /// What we compressed last (with context takeover): the dictionary
    /// of a state made again after [`release`](Self::release).
    history: Vec<u8>,
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
            history: Vec::new(),
        })
    }

    /// Appends `input`, compressed and sync-flushed, to the output.
    fn deflate(&mut self, mut input: &[u8]) {
        if self.zlib.is_none() {
            self.zlib = Some(take_compressor(self.level, self.window, &self.history));
        }
        if !self.reset {
            remember(&mut self.history, input);
        }
        let zlib = self.zlib.as_mut().expect("made above");
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
            // back among the spares (about 300 KiB at 15 bits).
            self.put_away();
        }
    }

    /// zlib's state goes back among the spares (reset).
    fn put_away(&mut self) {
        if let Some(mut zlib) = self.zlib.take() {
            zlib.reset();
            SPARE_COMPRESSORS.give((self.level, self.window, zlib));
        }
    }

    /// A message in parts ended early (its writer failed): the next
    /// message starts afresh.
    pub(crate) fn abandon(&mut self) {
        (self.held, self.started) = (false, false);
        // The peer may not have all of what the history holds.
        self.history.clear();
        if let Some(zlib) = &mut self.zlib {
            zlib.reset();
        }
    }

    /// Lets zlib's state go between messages (the connection is idle); the
    /// next message makes it again, primed with the history. Returns
    /// whether there was a state to let go.
    pub(crate) fn release(&mut self) -> bool {
        if self.held || self.started || self.zlib.is_none() {
            return false;
        }
        self.put_away();
        self.out = Vec::new();
        trim(&mut self.history);
        true
    }

    /// Holds zlib's state (or buffers) that [`release`](Self::release)
    /// would let go.
    pub(crate) fn holds_state(&self) -> bool {
        self.zlib.is_some()
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

impl Drop for Compressor {
    fn drop(&mut self) {
        self.put_away();
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
    /// What we inflated last (with context takeover): the dictionary of a
    /// state made again after a release or a final block.
    history: Vec<u8>,
}

impl Inflater {
    pub(crate) fn new(agreed: &Agreed) -> Inflater {
        Inflater {
            zlib: None,
            reset: agreed.receive_reset,
            scratch: Vec::new(),
            fed: false,
            ended: false,
            history: Vec::new(),
        }
    }

    /// Lets zlib's state go between messages (the connection is idle); the
    /// next message makes it again, primed with the history. Returns
    /// whether there was a state to let go.
    pub(crate) fn release(&mut self) -> bool {
        if self.fed || self.zlib.is_none() {
            return false;
        }
        self.put_away();
        trim(&mut self.history);
        true
    }

    /// zlib's state and the output buffer go back among the spares.
    fn put_away(&mut self) {
        if let Some(zlib) = self.zlib.take() {
            give_back(zlib, std::mem::take(&mut self.scratch));
        }
    }

    /// Holds zlib's state that [`release`](Self::release) would let go.
    pub(crate) fn holds_state(&self) -> bool {
        self.zlib.is_some()
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
        if self.zlib.is_none() {
            let (zlib, scratch) = take_inflater(&self.history);
            (self.zlib, self.scratch) = (Some(zlib), scratch);
        }
        let zlib = self.zlib.as_mut().expect("taken above");
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
                    if !self.reset {
                        remember(&mut self.history, &self.scratch);
                    }
                }
                match status {
                    // The peer ended its deflate stream (a final block):
                    // the next message starts a new one, with the window
                    // so far (the history) unless the peer resets; the
                    // trailer and anything else after the end mean nothing.
                    Status::StreamEnd => {
                        self.ended = true;
                        break 'pieces;
                    }
                    _ if made == self.scratch.capacity() => {} // more output may be waiting
                    _ if rest.is_empty() || (used == 0 && made == 0) => break,
                    _ => {}
                }
            }
        }
        if self.ended {
            self.put_away();
        }
        if end {
            (self.fed, self.ended) = (false, false);
            // Between messages a connection keeps no state when nothing
            // carries over, or when what carries over is short: one that
            // has received little (a browser's few compressed messages)
            // holds a few bytes of history instead of zlib's 40 KiB, and
            // priming a spare inflater with them costs little.
            if self.reset || self.history.len() <= SHORT_HISTORY {
                self.put_away();
            }
        }
        Ok(made_all)
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        self.put_away();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::Deflate;
    use flate2::{Compress, Compression, FlushCompress};

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
    fn released_states_come_back_with_their_history() {
        let (mut c, mut i) = (
            Compressor::new(&agreed(false)).unwrap(),
            Inflater::new(&agreed(false)),
        );
        // More than a window of text first, so the history is cut.
        let long: Vec<u8> = (0..5000)
            .flat_map(|n| format!("line {n} of the log; ").into_bytes())
            .collect();
        assert!(long.len() > 3 * WINDOW);
        let text = long[long.len() - 2000..].to_vec();
        for round in 0..3 {
            let first = c.message(&long).to_vec();
            assert_eq!(inflate(&mut i, &[first]), long, "round {round}");
            assert!(c.release() && i.release(), "round {round}");
            assert!(!c.holds_state() && !i.holds_state());
            assert!(!c.release() && !i.release(), "nothing left to let go");
            // The end of the last message, again: all back-references.
            let again = c.message(&text).to_vec();
            assert!(again.len() < 50, "{} bytes: no history?", again.len());
            assert_eq!(inflate(&mut i, &[again]), text, "round {round}");
        }
        // Not between the parts of a message (sender) or the frames of one
        // (receiver).
        let part = c.part(&text, false).to_vec();
        assert!(!c.release());
        i.inflate(&part, false, u64::MAX, |_| Ok::<(), ()>(()))
            .unwrap();
        assert!(!i.release());
        let last = c.part(b"", true).to_vec();
        i.inflate(&last, true, u64::MAX, |_| Ok::<(), ()>(()))
            .unwrap();
        assert!(c.release() && i.release());
    }

    #[test]
    fn a_final_block_keeps_the_window_for_the_next_message() {
        // A peer that ends each message with a final block (RFC 7692
        // 7.2.3.4) and carries its window over: the second message refers
        // back into the first.
        let first = b"a window kept across a final block: hello hello".to_vec();
        let second = b"a window kept across a final block: hello again".to_vec();
        let mut c = Compress::new(Compression::default(), false);
        let mut m1 = Vec::with_capacity(256);
        c.compress_vec(&first, &mut m1, FlushCompress::Finish)
            .unwrap();
        m1.push(0); // padding, as in the RFC's example
        let mut c = Compress::new(Compression::default(), false);
        c.set_dictionary(&first).unwrap();
        let mut m2 = Vec::with_capacity(256);
        c.compress_vec(&second, &mut m2, FlushCompress::Finish)
            .unwrap();
        assert!(m2.len() < second.len() / 2, "m2 refers back");
        let mut i = Inflater::new(&agreed(false));
        assert_eq!(inflate(&mut i, &[m1]), first);
        assert_eq!(inflate(&mut i, &[m2]), second);
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
