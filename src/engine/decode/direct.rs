//! Large frames read straight into their message: while a frame of a
//! message being assembled has many bytes still to come, the read path
//! appends them to the message's own buffer ([`Decoder::direct`]) rather
//! than to the read buffer, and the decoder takes them from there
//! ([`Decoder::direct_arrived`]). That saves copying every byte of a large
//! message once more (8% of a wss receiver's CPU at 1 MiB messages).
//!
//! Messages handed on in parts, and compressed ones, keep the read buffer:
//! parts share its allocation, and inflating reads from it anyway.

use super::*;

/// A frame with at least this many payload bytes still to come is read
/// straight into its message; a shorter rest comes with the next frames in
/// one read.
const DIRECT_MIN: u64 = 8 << 10;
/// The most one read appends (plain TCP zero-fills this much room first).
const DIRECT_MAX: u64 = 64 << 10;

impl Decoder {
    /// The buffer of the message being assembled, and how many bytes to
    /// append to it at most, while the current frame has at least
    /// [`DIRECT_MIN`] bytes of its payload still to come.
    pub(crate) fn direct(&mut self) -> Option<(&mut Vec<u8>, usize)> {
        let frame = self.frame.as_ref()?;
        if frame.control.is_some() || frame.left < DIRECT_MIN {
            return None;
        }
        let left = frame.left;
        let m = self.message.as_mut()?;
        if m.in_parts || m.compressed {
            return None;
        }
        Some((&mut m.data, left.min(DIRECT_MAX) as usize))
    }

    /// The bytes of the message's buffer from `start` on were appended to
    /// it by a read after [`direct`](Self::direct) (at most what it
    /// allowed): they are unmasked and checked; returns the message if
    /// they end it.
    pub(crate) fn direct_arrived(&mut self, start: usize) -> Result<Option<Message>, Violation> {
        let (Some(frame), Some(m)) = (self.frame.as_mut(), self.message.as_mut()) else {
            unreachable!("direct() found a frame of a message under way");
        };
        // The buffer is held apart while the message checks its new bytes.
        let mut data = std::mem::take(&mut m.data);
        debug_assert!(
            (data.len() - start) as u64 <= frame.left,
            "read past the frame"
        );
        frame.take(&mut data[start..]);
        let fin = frame.fin && frame.left == 0;
        let checked = m.arrived(&data[start..], fin);
        m.data = data;
        checked?;
        if frame.left == 0 {
            self.frame = None;
        }
        if !fin {
            return Ok(None);
        }
        let m = self.message.take().expect("just seen");
        m.into_message().map(Some)
    }
}
