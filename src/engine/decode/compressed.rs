//! The receive side of permessage-deflate (RFC 7692): the RSV1 rules of a
//! frame header, and a compressed message's bytes inflated, then checked,
//! assembled or handed on as `on_data` does an uncompressed one's.
//!
//! Pure: no socket, no lock. Run by whoever holds the read state.

use tungstenite::Bytes;

use super::{bad_utf8, protocol, too_big, Decoder, Emit, Header, Item, Part, Violation};
use super::{OP_BINARY, OP_TEXT};
use crate::codec::RSV1;
use crate::deflate::Inflated;

/// The most compressed bytes a message (or frame) may have under `limit`
/// inflated bytes: deflate's worst case grows data by a little (stored
/// blocks), so `compressed` lengths get that much room.
#[inline]
pub(super) fn room(limit: usize, compressed: bool) -> u64 {
    let limit = limit as u64;
    if compressed {
        limit.saturating_add(limit / 256 + 1024)
    } else {
        limit
    }
}

impl Decoder {
    /// Lets the inflater's state go, if no message is under way; whether
    /// there was one to let go.
    pub(crate) fn release_compression(&mut self) -> bool {
        if self.message.is_some() || self.frame.is_some() || self.head_len > 0 {
            return false;
        }
        self.inflater.as_mut().is_some_and(|i| i.release())
    }

    /// The inflater holds state that an idle connection could let go.
    pub(crate) fn holds_compression(&self) -> bool {
        self.inflater.as_ref().is_some_and(|i| i.holds_state())
    }

    /// The reserved bits of a frame header: whether it opens a compressed
    /// message (RSV1, only where permessage-deflate was agreed, and only on
    /// a message's first frame); RSV2 and RSV3 are never used.
    #[inline]
    pub(super) fn check_rsv(&self, h: &Header) -> Result<bool, Violation> {
        let compressed = h.rsv & RSV1 != 0;
        if h.rsv & !RSV1 != 0 {
            return Err(protocol("RSV2 or RSV3 is set, and no extension uses them"));
        }
        if compressed {
            if self.inflater.is_none() {
                return Err(protocol(
                    "RSV1 is set, and no extension that uses it was agreed",
                ));
            }
            if !matches!(h.opcode, OP_TEXT | OP_BINARY) {
                return Err(protocol(format!(
                    "RSV1 is set on a frame of opcode {} (only a message's first frame may have it)",
                    h.opcode
                )));
            }
        }
        Ok(compressed)
    }

    /// The next compressed bytes of a message (`fin`: its last): inflated,
    /// then checked, assembled or handed on as `on_data` does the bytes of
    /// an uncompressed one. The limits count inflated bytes, and inflating
    /// stops as soon as they are passed.
    pub(super) fn on_compressed(
        &mut self,
        chunk: &[u8],
        fin: bool,
        emit: &mut impl Emit,
    ) -> Result<(), Violation> {
        let Decoder {
            inflater,
            message,
            max_message,
            max_frame,
            inflated_in_pass,
            ..
        } = self;
        let m = message.as_mut().expect("a data frame belongs to a message");
        let inflater = inflater.as_mut().expect("compressed messages were agreed");
        let (what, limit) = if m.in_parts {
            ("frame", *max_frame)
        } else {
            ("message", *max_message)
        };
        let made_before = if m.in_parts { m.frame_made } else { m.len };
        let left = (limit as u64).saturating_sub(made_before);
        let inflated = inflater.inflate(chunk, fin, left, |out| {
            m.len += out.len() as u64;
            m.frame_made += out.len() as u64;
            if m.text && !m.utf8.feed(out) {
                return Err(bad_utf8());
            }
            if m.in_parts {
                emit.item(Item::Part(Part {
                    text: m.text,
                    first: !m.parts_sent,
                    fin: false,
                    data: Bytes::copy_from_slice(out),
                }));
                m.parts_sent = true;
            } else {
                m.data.extend_from_slice(out);
            }
            Ok(())
        });
        match inflated {
            Ok(made) => *inflated_in_pass += made,
            Err(Inflated::TooBig) => {
                return Err(Violation {
                    reason: format!(
                        "the peer sent a compressed {what} that inflates past the limit of {limit} bytes"
                    ),
                    ..too_big(what, 0, limit)
                })
            }
            Err(Inflated::Corrupt(why)) => {
                return Err(protocol(format!("its compressed data does not inflate ({why})")))
            }
            Err(Inflated::Refused(violation)) => return Err(violation),
        }
        if !fin {
            return Ok(());
        }
        if m.text && !m.utf8.complete() {
            return Err(bad_utf8());
        }
        let m = message.take().expect("just seen");
        if m.in_parts {
            emit.item(Item::Part(Part {
                text: m.text,
                first: !m.parts_sent,
                fin: true,
                data: Bytes::new(),
            }));
        } else {
            emit.item(Item::Message(m.into_message()?));
        }
        Ok(())
    }
}
