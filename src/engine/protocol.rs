//! The protocol state: what we have sent of the close handshake, the
//! control frames encoded for the outbox, and acting on what the decoder
//! (`decode.rs`) yields: messages to hand over, pings to answer, pongs to
//! match, the peer's close to answer.
//!
//! Run by the reader thread and a receiving thread that reads (decoding),
//! and by senders and closers (control frames). Holds `proto`; releasing it
//! ([`Proto`]'s drop) takes `outbox`.

use super::*;

/// The sending half of the protocol state (guarded by `proto`).
#[derive(Debug)]
pub(super) struct Protocol {
    /// Our close frame is queued: no frame of any kind may follow it.
    close_sent: bool,
    /// Control frames encoded and not yet in the outbox.
    written: Vec<u8>,
    /// We are the client: our frames are masked.
    masks: bool,
}
impl Protocol {
    pub(super) fn new(role: Role) -> Protocol {
        Protocol {
            close_sent: false,
            written: Vec::new(),
            masks: role == Role::Client,
        }
    }

    /// Frames may still be sent: our close frame is not queued.
    pub(super) fn can_write(&self) -> bool {
        !self.close_sent
    }

    /// Encodes a control frame (a payload of at most 125 bytes).
    pub(super) fn control(&mut self, control: Control, payload: &[u8]) {
        debug_assert!(payload.len() <= 125);
        let mask = self.masks.then(rand::random::<[u8; 4]>);
        encode_frame(&mut self.written, OpCode::Control(control), payload, mask);
    }

    /// Encodes our close frame (the last frame we send); false if one was
    /// already. `None`: a close frame without a code.
    pub(super) fn close(&mut self, frame: Option<&CloseFrame>) -> bool {
        if self.close_sent {
            return false;
        }
        let mut payload = Vec::with_capacity(125);
        if let Some(f) = frame {
            payload.extend_from_slice(&f.code.to_be_bytes());
            payload.extend_from_slice(reason_for_frame(&f.reason).as_bytes());
        }
        self.control(Control::Close, &payload);
        self.close_sent = true;
        true
    }
}
/// The locked protocol state. Releasing it moves the control frames
/// encoded (pongs, close frames) into the outbox, and, once our close frame
/// is queued, stops further data frames in the same step. Whatever a thread
/// queued before handing a message to the receiving side is thus queued
/// before any reply to it.
pub(super) struct Proto<'a> {
    pub(super) state: MutexGuard<'a, Protocol>,
    pub(super) shared: &'a Engine,
}
impl Deref for Proto<'_> {
    type Target = Protocol;
    fn deref(&self) -> &Protocol {
        &self.state
    }
}
impl DerefMut for Proto<'_> {
    fn deref_mut(&mut self) -> &mut Protocol {
        &mut self.state
    }
}
impl Drop for Proto<'_> {
    fn drop(&mut self) {
        let closing = self.state.close_sent && self.shared.writable.load(Relaxed);
        let written = &mut self.state.written;
        if written.is_empty() && !closing {
            return;
        }
        // A message going out in parts holds the wire: its writer sends
        // pings and pongs between its frames (a close frame waits for its end).
        if !closing && self.shared.between_frames(written) {
            return;
        }
        let mut outbox = lock(&self.shared.outbox);
        self.shared.queue_control(&mut outbox, written);
        if closing {
            self.shared.writable.store(false, Release);
        }
    }
}

impl Engine {
    /// Moves encoded control frames (emptying `frames`) into the outbox.
    pub(super) fn queue_control(&self, outbox: &mut Outbox, frames: &mut Vec<u8>) {
        if frames.is_empty() {
            return;
        }
        outbox.push_control(frames);
        frames.clear();
        self.control_end.store(outbox.queued_end, Release);
        self.outbox_end.store(outbox.queued_end, Release);
        self.outbox_dirty.store(true, Release);
    }
}

impl Engine {
    pub(super) fn proto(&self) -> Proto<'_> {
        Proto {
            state: lock(&self.proto),
            shared: self,
        }
    }

    /// Decodes `n` bytes of `buf` (`Some(0)`: the end of the stream)
    /// into `state.batch`, answering control frames on the way.
    pub(super) fn decode(&self, state: &mut ReadState, n: usize) -> (Decoded, Option<CloseFrame>) {
        if n == 0 {
            return (Decoded::Reset, None);
        }
        let read_size = state.read_size;
        let ReadState {
            buf,
            batch,
            decoder,
            ..
        } = state;
        debug_assert_eq!(buf.len(), n, "read_into leaves the read's bytes");
        // Messages share the buffer of a read that filled half of it or more.
        let share = n >= read_size / 2;
        let decoded = self.decode_bytes(decoder, buf, share, batch);
        keep_the_rest(buf, &decoded.0, &mut state.tail);
        decoded
    }

    /// Decodes the `n` bytes a read appended to the message under way
    /// from `start` on ([`Decoder::direct`]); 0: the end of the stream.
    pub(super) fn decode_direct(&self, state: &mut ReadState, start: usize, n: usize) -> Decoded {
        if n == 0 {
            return Decoded::Reset;
        }
        match state.decoder.direct_arrived(start) {
            Ok(done) => {
                state.batch.extend(done.map(Incoming::Message));
                Decoded::NeedMore
            }
            Err(v) => Decoded::Violated(v),
        }
    }

    /// Decodes `bytes`; what the decoder yields goes to `batch` (data) or
    /// is acted on (control frames). A pass that paused (inflated messages
    /// past the decoder's bound) leaves the rest in `bytes`.
    pub(super) fn decode_bytes(
        &self,
        decoder: &mut Decoder,
        bytes: &mut BytesMut,
        share: bool,
        batch: &mut Vec<Incoming>,
    ) -> (Decoded, Option<CloseFrame>) {
        let mut peer_close = None;
        let parts = self.parts.load(Relaxed);
        let mut sink = EngineSink {
            engine: self,
            batch,
            peer_close: &mut peer_close,
        };
        let flow = decoder.feed(bytes, parts, share, &mut sink);
        match flow {
            // Paused: the caller keeps what is left of `bytes` for later.
            Ok(Flow::More | Flow::Paused) => (Decoded::NeedMore, None),
            Ok(Flow::Closed) => (Decoded::Closed, peer_close),
            Err(v) => (Decoded::Violated(v), None),
        }
    }
}

/// What the decoder yields, as the engine takes it: data into the batch,
/// control frames acted on at once.
struct EngineSink<'a> {
    engine: &'a Engine,
    batch: &'a mut Vec<Incoming>,
    peer_close: &'a mut Option<CloseFrame>,
}

impl Emit for EngineSink<'_> {
    #[inline(always)]
    fn item(&mut self, item: Item) {
        match item {
            Item::Message(m) => self.batch.push(Incoming::Message(m)),
            Item::Part(p) => self.batch.push(Incoming::Part(p)),
            control => self.engine.on_control(control, self.peer_close),
        }
    }
}

impl Engine {
    /// Acts on a control frame the decoder yielded: a ping is answered, a
    /// pong noted, a close frame echoed (and kept in `peer_close`).
    #[inline(never)]
    fn on_control(&self, item: Item, peer_close: &mut Option<CloseFrame>) {
        match item {
            Item::Ping(payload) => {
                let mut proto = self.proto();
                if proto.can_write() {
                    proto.control(Control::Pong, &payload);
                }
            }
            Item::Pong(payload) => self.pong_arrived(&payload),
            Item::Close(frame) => {
                // Echo the peer's close frame, unless ours is already out.
                let mut proto = self.proto();
                proto.close(Some(&frame).filter(|f| f.code != 1005));
                *peer_close = Some(frame);
            }
            Item::Message(_) | Item::Part(_) => unreachable!("data goes to the batch"),
        }
    }
}

/// What a paused pass left of `bytes` goes to `tail`, which the next read
/// step decodes before it reads the socket (after the batch was handed
/// over and the receive queue had room).
pub(super) fn keep_the_rest(bytes: &mut BytesMut, decoded: &Decoded, tail: &mut Vec<u8>) {
    if matches!(decoded, Decoded::NeedMore) && !bytes.is_empty() {
        tail.extend_from_slice(bytes);
        bytes.clear();
    }
}
