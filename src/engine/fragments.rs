//! Sending one message in parts: a frame per part, the first with the
//! message's opcode, the rest continuations, the last final.
//!
//! Run by a caller thread through `MessageWriter`. Holds `wire` (through
//! [`Writing`]) from the first frame to the last, so no other message can
//! come between its frames; takes `outbox` only at the start and the end.

use super::*;

/// Pings and pongs for a writer of a message in parts to send between its
/// frames (guarded by `between_frames`, a leaf lock).
#[derive(Debug, Default)]
pub(crate) struct BetweenFrames {
    /// A writer holds the wire.
    active: bool,
    frames: Vec<u8>,
}

impl Engine {
    /// Takes `written` (encoded control frames) for the writer of a message
    /// in parts, if one holds the wire and they are all pings and pongs;
    /// false otherwise (then they go to the outbox).
    pub(super) fn between_frames(&self, written: &mut Vec<u8>) -> bool {
        let mut between = lock(&self.between_frames);
        if !between.active || !only_pings_and_pongs(written) {
            return false;
        }
        // A peer that pings while the writer pauses cannot make this grow:
        // past the backlog only the latest frames are kept (RFC 6455 lets
        // an endpoint answer only the latest of several pings).
        if between.frames.len() + written.len() > PONG_BACKLOG {
            between.frames.clear();
        }
        between.frames.append(written);
        true
    }

    /// A message is going out in parts (its writer holds the wire).
    pub(super) fn writer_active(&self) -> bool {
        lock(&self.between_frames).active
    }

    /// The pings and pongs queued for the writer; `end`: it is done, so
    /// later ones go to the outbox.
    fn take_between_frames(&self, end: bool) -> Vec<u8> {
        let mut between = lock(&self.between_frames);
        if end {
            between.active = false;
        }
        std::mem::take(&mut between.frames)
    }
}

/// `frames` holds whole ping and pong frames only.
fn only_pings_and_pongs(mut frames: &[u8]) -> bool {
    while !frames.is_empty() {
        let Some(h) = HeaderExtent::of(frames) else {
            return false;
        };
        let len = h.len + h.payload as usize;
        if !matches!(frames[0] & 0x0f, 0x9 | 0xA) || len > frames.len() {
            return false;
        }
        frames = &frames[len..];
    }
    true
}

/// The right to send one message in parts (held by a `MessageWriter`).
/// Other senders wait for the wire until it is finished; what they queued
/// meanwhile goes out after its last frame.
pub(crate) struct Fragments<'a> {
    shared: &'a Engine,
    wire: Writing<'a>,
    opcode: OpCode,
    started: bool,
    /// The final frame went out (else a drop leaves the compressor's
    /// message unfinished: it starts afresh).
    finished: bool,
}

impl std::fmt::Debug for Fragments<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fragments")
            .field("opcode", &self.opcode)
            .field("started", &self.started)
            .finish()
    }
}

impl Engine {
    /// Starts a message sent in parts. Waits for the wire (other senders'
    /// frames first), then takes everything queued before it.
    pub(crate) fn fragments(&self, text: bool) -> Result<Fragments<'_>> {
        let mut wire = self.writing();
        {
            let mut outbox = lock(&self.outbox);
            if !self.writable.load(Relaxed) {
                drop(outbox);
                drop(wire);
                return Err(self.not_writable());
            }
            self.take_locked(&mut outbox, &mut wire);
            // Under `outbox`: a pong queued after the take goes between frames.
            lock(&self.between_frames).active = true;
        }
        Ok(Fragments {
            shared: self,
            wire,
            opcode: OpCode::Data(if text { Data::Text } else { Data::Binary }),
            started: false,
            finished: false,
        })
    }
}

impl Drop for Fragments<'_> {
    fn drop(&mut self) {
        // Ended early (a failed write): pings and pongs still waiting go to
        // the outbox, which the wire's release then flushes.
        if let (Some(deflater), false) = (&self.shared.deflater, self.finished) {
            lock(deflater).abandon();
        }
        let mut left = self.shared.take_between_frames(true);
        let mut outbox = lock(&self.shared.outbox);
        self.shared.queue_control(&mut outbox, &mut left);
    }
}

impl Fragments<'_> {
    /// Sends `payload` as the message's next frame (`fin`: its last), within
    /// the send timeout. After the last frame, what others queued meanwhile
    /// goes out too.
    pub(crate) fn frame(&mut self, payload: &[u8], fin: bool) -> Result<()> {
        let shared = self.shared;
        let timeout = shared.options.send_timeout;
        let deadline = (Deadline::after(timeout), timeout);
        let opcode = if self.started {
            OpCode::Data(Data::Continue)
        } else {
            self.opcode
        };
        let first = !self.started;
        self.started = true;
        // With permessage-deflate agreed, messages in parts are compressed.
        let mut compressor = shared.deflater.as_ref().map(lock);
        let rsv1 = first && compressor.is_some();
        let payload = match &mut compressor {
            Some(c) => c.part(payload, fin),
            None => payload,
        };
        // The peer's pings get their pongs (and ours go out) between frames.
        let control = shared.take_between_frames(fin);
        self.wire.plain.extend_from_slice(&control);
        let mask = (shared.role == Role::Client).then(rand::random::<[u8; 4]>);
        let at = self.wire.plain.len();
        encode_fragment_header(&mut self.wire.plain, opcode, payload.len(), mask, fin);
        mark_compressed(&mut self.wire.plain, at, rsv1);
        // PIECE is a multiple of 4, so every piece starts the mask afresh.
        for piece in payload.chunks(PIECE) {
            extend_masked(&mut self.wire.plain, piece, mask);
            shared.drain_until(&mut self.wire, Some(deadline), false, u64::MAX)?;
        }
        if payload.is_empty() {
            shared.drain_until(&mut self.wire, Some(deadline), false, u64::MAX)?;
        }
        if let Some(mut c) = compressor {
            c.sent();
        }
        if fin {
            self.finished = true;
            shared.stats.messages_sent.fetch_add(1, Relaxed);
            shared.drain(&mut self.wire, Some(deadline))?;
        }
        Ok(())
    }
}

/// Appends a frame header with the FIN bit as given.
fn encode_fragment_header(
    out: &mut Vec<u8>,
    opcode: OpCode,
    length: usize,
    mask: Option<[u8; 4]>,
    fin: bool,
) {
    let start = out.len();
    encode_header(out, opcode, length, mask);
    if !fin {
        out[start] &= 0x7F;
    }
}
