//! The outbox: encoded frames waiting for the wire, in the order they must
//! leave (data of any thread, and what tungstenite owes the peer).
//!
//! Guarded by `outbox`; appended to by senders and by whoever releases
//! `proto`, emptied by the holder of `wire`.

use super::*;

/// Encoded frames waiting for the wire, in the order they were queued: small
/// data messages of any thread, and what tungstenite owes the peer (pongs,
/// the close frame). One ordered queue, so a close frame can never overtake
/// a message queued before it, nor a message follow it.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    pub(super) bytes: Vec<u8>,
    /// Bytes ever queued: the outbox position just past the last one.
    pub(super) queued_end: u64,
    /// Where the pong that ends `bytes` starts, if one does.
    pub(super) tail_pong: Option<usize>,
}
impl Outbox {
    /// Appends one data frame that `encode` writes.
    pub(super) fn push_data(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let before = self.bytes.len();
        encode(&mut self.bytes);
        self.queued_end += (self.bytes.len() - before) as u64;
        self.tail_pong = None;
    }

    /// Appends the frames tungstenite wrote (pongs, close frames). Once more
    /// than [`PONG_BACKLOG`] bytes wait, a pong replaces one still waiting
    /// at the end of the queue: RFC 6455 (5.5.3) lets an endpoint answer
    /// only the latest of several pings, and so a peer that pings without
    /// reading cannot make the queue grow. (Below that every ping gets its
    /// pong, as conformance tests expect.)
    pub(super) fn push_control(&mut self, frames: &[u8]) {
        let mut rest = frames;
        while !rest.is_empty() {
            let whole = HeaderExtent::of(rest)
                .and_then(|h| usize::try_from(h.payload).ok()?.checked_add(h.len))
                .filter(|&n| n <= rest.len());
            let (len, is_pong) = match whole {
                Some(n) => (n, rest[0] & 0x0f == OP_PONG),
                None => (rest.len(), false), // not expected: keep the rest whole
            };
            let (frame, after) = rest.split_at(len);
            if is_pong {
                if let Some(at) = self
                    .tail_pong
                    .take()
                    .filter(|_| self.bytes.len() > PONG_BACKLOG)
                {
                    self.queued_end -= (self.bytes.len() - at) as u64;
                    self.bytes.truncate(at);
                }
                self.tail_pong = Some(self.bytes.len());
            } else {
                self.tail_pong = None;
            }
            self.bytes.extend_from_slice(frame);
            self.queued_end += len as u64;
            rest = after;
        }
    }
}
/// Queued bytes beyond which a new pong replaces the one before it.
pub(super) const PONG_BACKLOG: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(&mut out, opcode, payload, None);
        out
    }

    fn pong(payload: &[u8]) -> Vec<u8> {
        frame(
            OpCode::Control(tungstenite::protocol::frame::coding::Control::Pong),
            payload,
        )
    }

    #[test]
    fn frames_keep_their_order_and_positions_count_every_byte() {
        let mut outbox = Outbox::default();
        let data = frame(OpCode::Data(Data::Binary), b"data");
        outbox.push_data(|out| out.extend_from_slice(&data));
        let p = pong(b"p1");
        outbox.push_control(&p);
        assert_eq!(outbox.tail_pong, Some(data.len()));
        outbox.push_data(|out| out.extend_from_slice(&data));
        assert_eq!(
            outbox.tail_pong, None,
            "data after a pong ends the pong tail"
        );
        assert_eq!(outbox.bytes, [&data[..], &p, &data].concat());
        assert_eq!(outbox.queued_end, outbox.bytes.len() as u64);
    }

    #[test]
    fn below_the_backlog_every_ping_gets_its_pong() {
        let mut outbox = Outbox::default();
        let (a, b) = (pong(b"a"), pong(b"b"));
        outbox.push_control(&a);
        outbox.push_control(&b);
        assert_eq!(outbox.bytes, [&a[..], &b].concat());
    }

    #[test]
    fn over_the_backlog_a_new_pong_replaces_the_waiting_one() {
        let mut outbox = Outbox::default();
        let big = vec![0u8; PONG_BACKLOG + 1];
        outbox.push_data(|out| out.extend_from_slice(&big));
        let (a, b) = (pong(b"old"), pong(b"new"));
        outbox.push_control(&a);
        outbox.push_control(&b);
        assert_eq!(outbox.bytes.len(), big.len() + b.len());
        assert!(outbox.bytes.ends_with(&b));
        // The position counts what is queued now, not what was replaced.
        assert_eq!(outbox.queued_end, outbox.bytes.len() as u64);
    }

    #[test]
    fn several_frames_in_one_write_are_split_and_a_close_is_never_replaced() {
        let mut outbox = Outbox::default();
        let big = vec![0u8; PONG_BACKLOG + 1];
        outbox.push_data(|out| out.extend_from_slice(&big));
        let close = frame(
            OpCode::Control(tungstenite::protocol::frame::coding::Control::Close),
            &[0x03, 0xe8],
        );
        let (a, b) = (pong(b"a"), pong(b"b"));
        outbox.push_control(&[&a[..], &close, &b].concat());
        assert_eq!(outbox.bytes, [&big[..], &a, &close, &b].concat());
        assert_eq!(outbox.tail_pong, Some(big.len() + a.len() + close.len()));
    }
}
