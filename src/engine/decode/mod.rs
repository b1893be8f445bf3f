//! The receive side of the protocol (RFC 6455 sections 5 and 8): frames
//! parsed once, straight from the read buffer, payloads unmasked in place,
//! messages assembled, and every rule checked on the way: masking, reserved
//! bits and opcodes, control frames (final, at most 125 bytes, allowed
//! between the frames of a message), continuation order, close frames (code
//! and UTF-8 reason), UTF-8 text checked as it arrives (so invalid text fails
//! at its first bad byte, not at the message's end), and the size limits.
//!
//! Pure: no socket, no lock. Run by whoever holds the read state; the
//! engine acts on what it yields (`protocol.rs`).
//!
//! A message that arrives whole in one read shares that read's buffer (a
//! `Bytes` slice of it): no allocation per message.

use bytes::{Buf, BytesMut};
use tungstenite::Bytes;

mod compressed;
mod direct;
mod items;

use self::compressed::room;
use self::items::{bad_utf8, close_frame, protocol, too_big, whole};
pub(crate) use self::items::{Emit, Item, Part, Violation};
use super::utf8::Utf8Check;
use crate::codec::{apply_mask, Header, MAX_HEADER};
use crate::deflate::Inflater;
use crate::message::Message;

/// Where decoding stands after the bytes given.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// All decoded; more bytes are needed.
    More,
    /// Stopped between frames, bytes left, past [`INFLATE_PER_PASS`]: the
    /// caller hands over the batch (backpressure acts), then feeds the rest.
    Paused,
    /// The peer's close frame arrived: whatever follows is not read.
    Closed,
}

/// The frame whose payload is arriving.
#[derive(Debug)]
struct Frame {
    /// The control opcode, or `None` for a data frame.
    control: Option<u8>,
    fin: bool,
    left: u64,
    mask: Option<[u8; 4]>,
    /// Payload bytes of this frame already unmasked (the mask's phase).
    done: usize,
}

impl Frame {
    /// Unmasks the next `bytes` of the payload (in the mask's phase) and
    /// counts them off.
    fn take(&mut self, bytes: &mut [u8]) {
        if let Some(mask) = self.mask {
            let r = self.done % 4;
            let phased = [
                mask[r],
                mask[(r + 1) % 4],
                mask[(r + 2) % 4],
                mask[(r + 3) % 4],
            ];
            apply_mask(bytes, phased);
        }
        self.done += bytes.len();
        self.left -= bytes.len() as u64;
    }
}

/// A checked frame header: its control opcode (`None`: a data frame), and
/// `Some((text, compressed))` if it opens a data message.
type Checked = (Option<u8>, Option<(bool, bool)>);

/// The data message under way.
#[derive(Debug)]
struct Assembly {
    text: bool,
    /// Payload so far (assembled messages only).
    data: Vec<u8>,
    /// Bytes of the message so far.
    len: u64,
    utf8: Utf8Check,
    /// Handed on in parts rather than assembled.
    in_parts: bool,
    /// A part has been handed on: the next is not the first.
    parts_sent: bool,
    /// Compressed (RSV1 on its first frame): its payload is inflated.
    compressed: bool,
    /// Inflated bytes of the current frame (the frame limit, in parts).
    frame_made: u64,
}

impl Assembly {
    /// Counts `chunk`, payload of the message (`fin`: its last bytes), and
    /// checks it as UTF-8 if the message is text.
    fn arrived(&mut self, chunk: &[u8], fin: bool) -> Result<(), Violation> {
        self.len += chunk.len() as u64;
        if self.text && (!self.utf8.feed(chunk) || (fin && !self.utf8.complete())) {
            return Err(bad_utf8());
        }
        Ok(())
    }

    /// The assembled message, whole.
    fn into_message(self) -> Result<Message, Violation> {
        whole(self.text, Bytes::from(self.data))
    }
}

/// The most an assembled message reserves ahead of its bytes: a peer's
/// announced length is not trusted with memory it has not sent.
const RESERVE_AHEAD: u64 = 1 << 20;

/// The receive state of one connection.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// We are the server: every frame must be masked (and none, if client).
    server: bool,
    max_message: usize,
    max_frame: usize,
    head: [u8; MAX_HEADER],
    head_len: usize,
    frame: Option<Frame>,
    message: Option<Assembly>,
    control: Vec<u8>,
    closed: bool,
    /// permessage-deflate was agreed: compressed messages are inflated.
    inflater: Option<Inflater>,
    /// Bytes inflated in the current pass (`feed` call).
    inflated_in_pass: u64,
}

/// How many inflated bytes one pass may yield before it pauses at the
/// next frame: a read of compressed messages is at most 64 KiB on the wire
/// but may inflate a thousandfold, and the receive queue limit is applied
/// between passes.
const INFLATE_PER_PASS: u64 = 1 << 20;

impl Decoder {
    /// `server`: frames must come masked (a client's: unmasked).
    /// `max_message` bounds an assembled message, `max_frame` one frame of
    /// a message handed on in parts; both count inflated bytes when a
    /// message is compressed (`inflater`: permessage-deflate was agreed).
    pub(crate) fn new(
        server: bool,
        max_message: usize,
        max_frame: usize,
        inflater: Option<Inflater>,
    ) -> Decoder {
        Decoder {
            server,
            max_message,
            max_frame,
            head: [0; MAX_HEADER],
            head_len: 0,
            frame: None,
            message: None,
            control: Vec::new(),
            closed: false,
            inflater,
            inflated_in_pass: 0,
        }
    }

    /// A message being assembled (or a frame header, or a frame) is partly
    /// here: the receive timeout runs. For a message handed on in parts it
    /// runs per frame, so a long message read by a `recv_reader` (or a
    /// stream) is not cut while its frames keep coming.
    pub(crate) fn mid_message(&self) -> bool {
        self.head_len > 0
            || self.frame.is_some()
            || self.message.as_ref().is_some_and(|m| !m.in_parts)
    }

    /// Decodes all of `buf` (unmasking it in place), yielding each item to
    /// `emit`; whole messages are slices of `buf`'s allocation. With
    /// `parts`, a data message that does not arrive whole within `buf` is
    /// handed on in parts, without the message size limit (the frame limit
    /// holds); otherwise it is assembled.
    ///
    /// `share`: the messages may keep `buf`'s allocation (a read that
    /// filled much of its buffer); otherwise each is copied out, so a
    /// small message never pins a mostly empty buffer.
    pub(crate) fn feed(
        &mut self,
        buf: &mut BytesMut,
        parts: bool,
        share: bool,
        emit: &mut impl Emit,
    ) -> Result<Flow, Violation> {
        self.inflated_in_pass = 0;
        loop {
            if self.closed {
                return Ok(Flow::Closed);
            }
            if self.frame.is_none() && self.inflated_in_pass > INFLATE_PER_PASS && !buf.is_empty() {
                return Ok(Flow::Paused);
            }
            if self.frame.is_none() {
                let Some((header, skip)) = self.header(buf) else {
                    return Ok(Flow::More);
                };
                let (control, opens) = self.check(&header, parts)?;
                if let Some((text, compressed)) = opens {
                    // The common case: a whole unfragmented message here.
                    // (Splitting it off with its header and advancing the
                    // `Bytes` past it cost 25 instructions more a message.)
                    if !compressed && header.fin && header.payload <= (buf.len() - skip) as u64 {
                        buf.advance(skip);
                        let mut payload = buf.split_to(header.payload as usize);
                        if let Some(mask) = header.mask {
                            apply_mask(&mut payload, mask);
                        }
                        // One call each way: a `Bytes` chosen from two
                        // was copied through the stack and stalled.
                        if share {
                            emit.item(Item::Message(whole(text, payload.freeze())?));
                        } else {
                            let copy = Bytes::copy_from_slice(&payload);
                            emit.item(Item::Message(whole(text, copy)?));
                        }
                        continue;
                    }
                    self.message = Some(Assembly {
                        text,
                        data: if parts {
                            Vec::new()
                        } else {
                            Vec::with_capacity(header.payload.min(RESERVE_AHEAD) as usize)
                        },
                        len: 0,
                        utf8: Utf8Check::default(),
                        in_parts: parts,
                        parts_sent: false,
                        compressed,
                        frame_made: 0,
                    });
                } else if let (None, Some(m)) = (control, &mut self.message) {
                    m.frame_made = 0;
                }
                buf.advance(skip);
                self.frame = Some(Frame {
                    control,
                    fin: header.fin,
                    left: header.payload,
                    mask: header.mask,
                    done: 0,
                });
            }
            self.payload(buf, share, emit)?;
            if self.frame.is_some() {
                return Ok(Flow::More); // the buffer is used up
            }
        }
    }

    /// The next frame header, and how many bytes at the start of `buf` are
    /// its (the rest came in an earlier buffer); `None` if it is not
    /// complete yet (then `buf` is used up).
    fn header(&mut self, buf: &mut BytesMut) -> Option<(Header, usize)> {
        let carried = self.head_len;
        if carried == 0 {
            if let Some(header) = Header::parse(buf) {
                return Some((header, header.len));
            }
        } else {
            let take = (MAX_HEADER - carried).min(buf.len());
            self.head[carried..carried + take].copy_from_slice(&buf[..take]);
            if let Some(header) = Header::parse(&self.head[..carried + take]) {
                self.head_len = 0;
                return Some((header, header.len - carried));
            }
        }
        // Less than a whole header is left: keep it for the next buffer.
        let rest = buf.len();
        self.head[carried..carried + rest].copy_from_slice(buf);
        self.head_len = carried + rest;
        buf.clear();
        None
    }

    /// Checks a frame header against the rules and the limits; returns its
    /// control opcode (`None`: a data frame), and `Some((text,
    /// compressed))` if it opens a data message.
    fn check(&self, h: &Header, parts: bool) -> Result<Checked, Violation> {
        let length = h.payload;
        let compressed = self.check_rsv(h)?;
        match (self.server, h.mask.is_some()) {
            (true, false) => return Err(protocol("a frame from the client is not masked")),
            (false, true) => return Err(protocol("a frame from the server is masked")),
            _ => {}
        }
        let (control, opens) = match h.opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !h.fin {
                    return Err(protocol("a control frame is fragmented"));
                }
                if length > 125 {
                    return Err(protocol(format!(
                        "a control frame has {length} bytes (at most 125)"
                    )));
                }
                (Some(h.opcode), None)
            }
            OP_CONTINUATION => match &self.message {
                None => return Err(protocol("a continuation frame continues no message")),
                Some(m)
                    if !m.in_parts
                        && m.len.saturating_add(length) > room(self.max_message, m.compressed) =>
                {
                    return Err(too_big(
                        "message",
                        m.len.saturating_add(length),
                        self.max_message,
                    ))
                }
                Some(_) => (None, None),
            },
            OP_TEXT | OP_BINARY => {
                if self.message.is_some() {
                    return Err(protocol("a new message began before the last one ended"));
                }
                if !parts && length > room(self.max_message, compressed) {
                    return Err(too_big("message", length, self.max_message));
                }
                (None, Some((h.opcode == OP_TEXT, compressed)))
            }
            op => return Err(protocol(format!("opcode {op} is reserved"))),
        };
        let (in_parts, compressed) = self
            .message
            .as_ref()
            .map_or((parts, compressed), |m| (m.in_parts, m.compressed));
        if control.is_none() && in_parts && length > room(self.max_frame, compressed) {
            return Err(too_big("frame", length, self.max_frame));
        }
        Ok((control, opens))
    }

    /// Takes what `buf` holds of the current frame's payload off it.
    fn payload(
        &mut self,
        buf: &mut BytesMut,
        share: bool,
        emit: &mut impl Emit,
    ) -> Result<(), Violation> {
        let frame = self.frame.as_mut().expect("a frame is under way");
        let take = frame.left.min(buf.len() as u64) as usize;
        frame.take(&mut buf[..take]);
        let finished = frame.left == 0;
        let (control, fin) = (frame.control, frame.fin && finished);
        if finished {
            self.frame = None;
        }
        match control {
            Some(op) => {
                self.control.extend_from_slice(&buf[..take]);
                buf.advance(take);
                if finished {
                    self.on_control(op, emit)?;
                }
            }
            None => self.on_data(buf, take, fin, share, emit)?,
        }
        Ok(())
    }

    /// The first `take` bytes of `buf`, payload of a data message (`fin`:
    /// its last), taken off `buf`.
    fn on_data(
        &mut self,
        buf: &mut BytesMut,
        take: usize,
        fin: bool,
        share: bool,
        emit: &mut impl Emit,
    ) -> Result<(), Violation> {
        let m = self
            .message
            .as_mut()
            .expect("a data frame belongs to a message");
        if m.compressed {
            let chunk = buf.split_to(take);
            return self.on_compressed(&chunk, fin, emit);
        }
        m.arrived(&buf[..take], fin)?;
        if m.in_parts {
            let data = if share {
                buf.split_to(take).freeze()
            } else {
                let data = Bytes::copy_from_slice(&buf[..take]);
                buf.advance(take);
                data
            };
            if !data.is_empty() || fin {
                emit.item(Item::Part(Part {
                    text: m.text,
                    first: !m.parts_sent,
                    fin,
                    data,
                }));
                m.parts_sent = true;
            }
        } else {
            m.data.extend_from_slice(&buf[..take]);
            buf.advance(take);
        }
        if fin {
            let m = self.message.take().expect("just seen");
            if !m.in_parts {
                // Text checked piece by piece above; this checks again.
                emit.item(Item::Message(m.into_message()?));
            }
        }
        Ok(())
    }

    /// A whole control frame has arrived.
    fn on_control(&mut self, op: u8, emit: &mut impl Emit) -> Result<(), Violation> {
        let payload = Bytes::copy_from_slice(&self.control);
        self.control.clear();
        match op {
            OP_PING => emit.item(Item::Ping(payload)),
            OP_PONG => emit.item(Item::Pong(payload)),
            _ => {
                let frame = close_frame(&payload)?;
                self.closed = true;
                emit.item(Item::Close(frame));
            }
        }
        Ok(())
    }
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

#[cfg(test)]
mod tests;
