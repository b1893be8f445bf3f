//! The send path: from a caller's message to frames on the wire, whole and
//! never interleaved with another message.
//!
//! Run by caller threads (`send*`, stream `write`) and, for keepalive pings,
//! by the reader thread. Takes `wire`, then `proto` or `outbox`.

use super::*;

impl Engine {
    /// Queues one data frame that `encode` appends; returns the outbox
    /// position just past it.
    pub(super) fn enqueue(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<u64> {
        let mut outbox = lock(&self.outbox);
        if !self.writable.load(Relaxed) {
            drop(outbox);
            return Err(self.not_writable());
        }
        outbox.push_data(encode);
        self.outbox_end.store(outbox.queued_end, Release);
        self.outbox_dirty.store(true, Release);
        Ok(outbox.queued_end)
    }

    /// Sends a ping with `payload` (at most 125 bytes); returns once it is
    /// on the wire, within the send timeout.
    pub(crate) fn send_ping(&self, payload: &[u8]) -> Result<()> {
        let timeout = self.options.send_timeout;
        let deadline = Deadline::after(timeout);
        let mut wire = self.writing();
        {
            let mut proto = self.proto();
            if !proto.can_write() {
                drop(proto);
                drop(wire);
                return Err(self.not_writable());
            }
            proto.control(Control::Ping, payload);
        }
        let result = self.drain(&mut wire, Some((deadline, timeout)));
        drop(wire);
        result.map(drop)
    }

    /// Sends one data message from a borrowed payload, with one copy of the
    /// payload (masked by a client); it is on the wire when this returns.
    ///
    /// A message of up to [`PIECE`] bytes is queued in the outbox, then its
    /// sender takes the wire and writes all that is queued up to its own
    /// frame, so concurrent senders share system calls (group commit): a
    /// sender whose frame another one wrote meanwhile returns at once. A
    /// larger message holds the wire for its whole frame instead.
    pub(crate) fn send_data(&self, text: bool, payload: &[u8], timeout: Duration) -> Result<()> {
        let opcode = OpCode::Data(if text { Data::Text } else { Data::Binary });
        let mask = (self.role == Role::Client).then(rand::random::<[u8; 4]>);
        if let Some(deflater) = self.compressing(payload.len()) {
            if payload.len() > PIECE {
                // In frames of a piece each: memory stays bounded, and the
                // peer inflates as the message comes.
                let mut frames = self.fragments(text)?;
                let mut pieces = payload.chunks(PIECE).peekable();
                while let Some(piece) = pieces.next() {
                    frames.frame(piece, pieces.peek().is_none())?;
                }
                return Ok(());
            }
            let deadline = (Deadline::after(timeout), timeout);
            let mut wire = self.writing();
            let mut compressor = lock(deflater);
            let compressed = compressor.message(payload);
            let result = self.send_pieces(&mut wire, opcode, compressed, mask, deadline, true);
            compressor.sent();
            drop(compressor);
            drop(wire);
            result?;
            self.stats.messages_sent.fetch_add(1, Relaxed);
            return Ok(());
        }
        if payload.len() <= ALONE_MAX {
            if let Some(done) = self.send_alone(opcode, payload, mask, timeout) {
                return done;
            }
        }
        let deadline = Deadline::after(timeout);
        let mut wire;
        let result = if payload.len() <= PIECE {
            let end = self.enqueue(|out| encode_frame(out, opcode, payload, mask))?;
            wire = self.writing();
            self.drain_until(&mut wire, Some((deadline, timeout)), true, end)
                .map(drop)
        } else {
            wire = self.writing();
            self.send_pieces(&mut wire, opcode, payload, mask, (deadline, timeout), false)
        };
        drop(wire);
        result?;
        self.stats.messages_sent.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Our compressor, if a message of `len` bytes is to be compressed.
    ///
    /// Compressed messages are compressed and put on the wire (or in the
    /// outbox) by a holder of `wire`, so they leave in the order they were
    /// compressed in, as the peer's decompressor needs.
    pub(super) fn compressing(&self, len: usize) -> Option<&Mutex<Compressor>> {
        if len < self.compress_from {
            return None;
        }
        self.deflater.as_ref()
    }

    /// The uncontended case of a small message: with the wire free, nothing
    /// queued and nothing left over, the frame is encoded straight into the
    /// wire buffer and written, without a trip through the outbox. `None`
    /// if that case does not hold (then queue as usual).
    ///
    /// Order is kept: only a holder of `wire` writes, so a close frame queued
    /// meanwhile goes out after this frame, and one written before shows as
    /// `writable` false (it was cleared before that frame was queued).
    ///
    /// The first write does not block, and the send timeout starts only if
    /// it leaves bytes over: a frame the socket takes at once needs no clock.
    /// Only for messages up to [`ALONE_MAX`]: larger ones gained nothing
    /// (a stream of 64 KiB messages ran slower this way).
    pub(super) fn send_alone(
        &self,
        opcode: OpCode,
        payload: &[u8],
        mask: Option<[u8; 4]>,
        timeout: Duration,
    ) -> Option<Result<()>> {
        let mut wire = self.try_writing()?;
        #[cfg(test)]
        pause_point::reached();
        if self.outbox_dirty.load(Acquire)
            || self.backlog.load(Acquire)
            || wire.written != wire.pending.len()
            || !self.writable.load(Acquire)
        {
            // Letting go of the wire flushes what is queued (a close frame
            // queued while this thread held it found the wire taken). The
            // usual path then queues the message, or says why it can't.
            drop(wire);
            return None;
        }
        wire.pending.clear();
        wire.written = 0;
        encode_frame(&mut wire.plain, opcode, payload, mask);
        let Unsent { plain, pending, .. } = &mut *wire;
        let direct = self.transport.seal(plain, pending);
        self.count_sent(direct);
        // (TLS records may all have gone straight to the socket.)
        let mut result = if wire.pending.is_empty() {
            Ok(())
        } else {
            self.write_wire(&wire.pending, None)
                .map(|n| wire.written = n.unwrap_or(0))
        };
        if result.is_ok() && wire.written < wire.pending.len() {
            // The rest, blocking, within the send timeout from now.
            let deadline = (Deadline::after(timeout), timeout);
            result = self
                .drain_until(&mut wire, Some(deadline), false, u64::MAX)
                .map(drop);
        }
        drop(wire);
        if result.is_ok() {
            self.stats.messages_sent.fetch_add(1, Relaxed);
        }
        Some(result)
    }

    /// Sends a frame too large for one wire buffer in pieces of [`PIECE`]
    /// bytes: masked piece by piece for a client, or written straight from
    /// the caller's buffer by a server on plain TCP. Memory stays bounded
    /// whatever the message size, and nothing else enters the frame.
    /// `compressed`: the payload is deflated (RSV1 set).
    pub(super) fn send_pieces(
        &self,
        wire: &mut Unsent,
        opcode: OpCode,
        payload: &[u8],
        mask: Option<[u8; 4]>,
        deadline: (Deadline, Duration),
        compressed: bool,
    ) -> Result<()> {
        // Whatever was queued before goes first; checking that data may be
        // sent and taking it is one step, so no close frame can come between.
        {
            let mut outbox = lock(&self.outbox);
            if !self.writable.load(Relaxed) {
                // Leave the queue (the close frame) for the flush after `wire` drops.
                drop(outbox);
                return Err(self.not_writable());
            }
            self.take_locked(&mut outbox, wire);
        }
        let at = wire.plain.len();
        encode_header(&mut wire.plain, opcode, payload.len(), mask);
        mark_compressed(&mut wire.plain, at, compressed);
        if mask.is_none() && !self.transport.is_tls() {
            self.drain_until(wire, Some(deadline), false, u64::MAX)?;
            let mut rest = payload;
            while !rest.is_empty() {
                // With a deadline, write_wire returns Some or fails.
                let n = self.write_wire(rest, Some(deadline))?.unwrap_or(0);
                rest = &rest[n..];
            }
        } else {
            // PIECE is a multiple of 4, so every piece starts the mask afresh.
            for piece in payload.chunks(PIECE) {
                extend_masked(&mut wire.plain, piece, mask);
                self.drain_until(wire, Some(deadline), false, u64::MAX)?;
            }
        }
        // Whatever was queued meanwhile goes out after the frame.
        self.drain(wire, Some(deadline)).map(drop)
    }

    /// Queues a keepalive ping (or unsolicited pong) and sends it if the
    /// wire is free. A sender stuck writing delays it, but the pong deadline
    /// runs regardless.
    pub(super) fn send_control(&self, control: Control, payload: &[u8]) {
        {
            let mut proto = self.proto();
            if !proto.can_write() {
                return;
            }
            // A pong still queued serves as the heartbeat; an unsolicited one
            // queued after it would take its place (see `push_control`), and
            // the peer would miss the answer to its latest ping.
            if control == Control::Pong && lock(&self.outbox).tail_pong.is_some() {
                return;
            }
            proto.control(control, payload);
        }
        self.flush_leftovers();
    }
}

/// A test's hook into `send_alone`, right after it took the wire: it runs
/// on the thread that installed it, once (test builds only).
#[cfg(test)]
mod pause_point {
    use std::cell::RefCell;

    thread_local! {
        pub(super) static HOOK: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    pub(super) fn reached() {
        if let Some(hook) = HOOK.with(|h| h.borrow_mut().take()) {
            hook();
        }
    }
}
#[cfg(test)]
mod races {
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use crate::{MessageWebSocket, Server};

    /// The socket is dropped (close without waiting) while a sender holds
    /// the wire in `send_alone`: the closer's flush finds the wire taken, so
    /// the sender, which then finds the close frame queued, must see it out.
    /// (It once let go of the wire and failed without a flush: the close
    /// frame stayed queued until the close timer cut the connection.)
    #[test]
    fn a_close_queued_while_a_sender_holds_the_wire_still_goes_out() {
        let server = Server::builder()
            .close_timeout(Duration::from_secs(5))
            .bind("127.0.0.1:0")
            .unwrap();
        let url = format!("ws://{}/", server.local_addr().unwrap());
        let client = thread::spawn(move || {
            MessageWebSocket::builder()
                .receive_timeout(Duration::from_secs(10))
                .connect(&url)
                .unwrap()
        });
        let request = server.incoming().next().unwrap().unwrap();
        let ws = request.accept_message().unwrap();
        let peer = client.join().unwrap();

        let (holding_tx, holding_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let tx = ws.sender();
        let sender = thread::spawn(move || {
            super::pause_point::HOOK.with(|h| {
                *h.borrow_mut() = Some(Box::new(move || {
                    holding_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                }))
            });
            tx.send_binary([7u8; 10])
        });
        holding_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the sender never reached send_alone");
        drop(ws);
        go_tx.send(()).unwrap();
        let _ = sender.join().unwrap(); // sent, or Closed: either is fine

        // The peer's wait (10 s) outlasts the close timer (5 s): without the
        // close frame the connection is cut first, and the end has no frame.
        let end = loop {
            match peer.recv_timeout(Duration::from_secs(10)) {
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(end.close_frame().map(|f| f.code), Some(1001), "{end}");
    }
}
