//! The read path: one socket read, its deadlines (receive timeout,
//! keepalive, close), and handing what it decoded to the receiving side.
//!
//! Run by whoever holds the read state (see `readers`); takes `lifecycle`
//! briefly to read the close deadline, and `proto` to answer control frames.

use super::protocol::keep_the_rest;
use super::*;

/// The reader's state between socket reads. Whoever holds it reads the
/// socket: the reader thread, or a thread in `recv` while the reader thread
/// stands aside.
#[derive(Debug)]
pub(super) struct ReadState {
    /// Each read's bytes; the messages it held share its allocation.
    pub(super) buf: BytesMut,
    /// How many bytes the next read asks for (see [`adapt_read_size`]).
    pub(super) read_size: usize,
    /// Messages decoded by the last read, not yet handed over.
    pub(super) batch: Vec<Incoming>,
    pub(super) decoder: Decoder,
    /// When the incomplete message began to arrive (the receive timeout runs).
    pub(super) message_started: Option<Instant>,
    /// The socket's read timeout as last set.
    pub(super) read_timeout: Option<Duration>,
    pub(super) last_inbound: Instant,
    pub(super) ping_sent: Option<Instant>,
    pub(super) next_unsolicited_pong: Option<Instant>,
    /// The bytes that came with the opening handshake, still to decode.
    pub(super) tail: Vec<u8>,
    /// When idle compression state was last let go (or looked at).
    pub(super) compression_checked: Instant,
}
impl ReadState {
    pub(super) fn new(
        options: &Options,
        role: Role,
        tail: Vec<u8>,
        inflater: Option<Inflater>,
    ) -> ReadState {
        let now = Instant::now();
        ReadState {
            buf: BytesMut::new(),
            read_size: READ_BUFFER_MIN,
            batch: Vec::new(),
            decoder: Decoder::new(
                role == Role::Server,
                options.max_message_size,
                options.max_frame_size,
                inflater,
            ),
            message_started: None,
            read_timeout: None,
            last_inbound: now,
            ping_sent: None,
            next_unsolicited_pong: options
                .unsolicited_pong_interval
                .and_then(|every| later(now, every)),
            tail,
            compression_checked: now,
        }
    }
}
/// What one socket read led to.
#[derive(Debug)]
pub(super) enum Step {
    /// Read on.
    More,
    /// Decoding stopped for good: conclude the connection.
    Over(Decoded, Option<CloseFrame>),
    /// The connection failed with this error (its End is still to deliver).
    Ended(Error),
}
/// How the bytes of one read ended for the protocol state.
#[derive(Debug)]
pub(super) enum Decoded {
    /// Everything decoded; more bytes are needed.
    NeedMore,
    /// The close handshake is over (or the peer's close frame has arrived).
    Closed,
    /// The peer closed TCP without a close frame.
    Reset,
    /// The peer broke a rule of the protocol.
    Violated(Violation),
}
/// The deadlines of one read (instants no clock reaches are `None`).
pub(super) struct Due {
    /// The message under way must be complete by then.
    receive: Option<Instant>,
    /// The close handshake (or the peer's TCP close) must be over by then.
    close: Option<Instant>,
    /// A ping is due (idle), or its pong (a ping is out).
    keepalive: Option<Instant>,
    /// Idle compression state is to be let go.
    compression: Option<Instant>,
}

/// Whether the socket's read timeout (`armed`) must change to `wanted`.
///
/// The timeout only wakes the reader to look at its deadlines, so waking a
/// little early is harmless and a little late (1/64) is tolerated: then the
/// keepalive deadline, which moves with every read, costs no system call
/// per read.
pub(super) fn needs_rearming(armed: Option<Duration>, wanted: Option<Duration>) -> bool {
    match (armed, wanted) {
        (Some(armed), Some(wanted)) => wanted < armed - armed / 64 || wanted > armed * 2,
        (armed, wanted) => armed != wanted,
    }
}
/// The earlier of two optional instants (or durations).
pub(super) fn earliest<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
/// Grows the read size while reads fill it, shrinks it while they don't.
pub(super) fn adapt_read_size(size: &mut usize, last_read: usize) {
    if last_read == *size && *size < READ_BUFFER_MAX {
        *size *= 2;
    } else if last_read < *size / 4 && *size > READ_BUFFER_MIN {
        *size /= 2;
    }
}

impl Engine {
    /// One socket read, decoded; the messages are left in `state.batch`.
    /// `limit` bounds the wait (for `recv_timeout`); `as_reader`: the reader
    /// thread, which also applies receive backpressure.
    pub(super) fn read_step(
        &self,
        state: &mut ReadState,
        limit: Option<Duration>,
        as_reader: bool,
    ) -> Step {
        if !state.tail.is_empty() {
            return self.decode_tail(state, as_reader);
        }
        if as_reader {
            self.wait_for_room(state);
        }
        let due = match self.deadlines(state) {
            Ok(due) => due,
            // A failed connection reads no more, even if bytes keep coming
            // (data a peer sends after a shutdown can still be read).
            Err(failure) => return Step::Ended(failure),
        };
        self.arm_read_timeout(state, &due, limit);
        let (read, direct) = self.read_socket(state);
        let n = match read {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Step::More,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return self.on_read_timeout(state, &due);
            }
            Err(e) => {
                let failure = lock(&self.lifecycle).failure().cloned();
                return Step::Ended(
                    failure.unwrap_or_else(|| Error::io(&self.peer, "receiving", e)),
                );
            }
        };
        self.stats.bytes_received.fetch_add(n as u64, Relaxed);
        // A peer that keeps sending never lets a read time out: the close
        // deadline is checked after every read too.
        if due.close.is_some_and(|d| Instant::now() >= d) {
            return Step::Ended(self.close_timed_out());
        }
        self.peer_is_alive(state);
        let (decoded, peer_close) = match direct {
            Some(start) => (self.decode_direct(state, start, n), None),
            None => self.decode(state, n),
        };
        adapt_read_size(&mut state.read_size, n);
        self.note_message_under_way(state);
        match decoded {
            // And the receive timeout, for the message this read left
            // incomplete (a byte a millisecond would hold it forever).
            Decoded::NeedMore if self.message_is_late(state) => {
                Step::Ended(self.receive_timed_out())
            }
            Decoded::NeedMore => Step::More,
            decoded => Step::Over(decoded, peer_close),
        }
    }

    /// Waits while the receive queue is full. The time the program held
    /// the reader back is not the peer's: the receive timeout of a message
    /// under way moves on by as much.
    fn wait_for_room(&self, state: &mut ReadState) {
        let held = Instant::now();
        self.wait_for_queue_room();
        if let Some(started) = state.message_started.as_mut() {
            *started += held.elapsed();
        }
    }

    /// When the message under way must be complete, if one is.
    fn receive_deadline(&self, state: &ReadState) -> Option<Instant> {
        state
            .message_started
            .and_then(|t| later(t, self.options.receive_timeout))
    }

    /// The message under way has been arriving for the receive timeout or
    /// longer.
    fn message_is_late(&self, state: &ReadState) -> bool {
        self.receive_deadline(state)
            .is_some_and(|d| Instant::now() >= d)
    }

    /// A pass that reads nothing: it decodes the frames that came with the
    /// opening handshake, or what a paused pass left.
    fn decode_tail(&self, state: &mut ReadState, as_reader: bool) -> Step {
        if as_reader {
            self.wait_for_room(state);
        }
        let mut tail = BytesMut::from(&std::mem::take(&mut state.tail)[..]);
        let decoded = self.decode_bytes(&mut state.decoder, &mut tail, false, &mut state.batch);
        keep_the_rest(&mut tail, &decoded.0, &mut state.tail);
        self.note_message_under_way(state);
        match decoded {
            (Decoded::NeedMore, _) => Step::More,
            (decoded, peer_close) => Step::Over(decoded, peer_close),
        }
    }

    /// One socket read: into the read buffer (a new allocation once
    /// messages of earlier reads still hold the old one), or straight onto
    /// the message under way while a large frame of it is arriving (then
    /// with where its new bytes start).
    fn read_socket(&self, state: &mut ReadState) -> (io::Result<usize>, Option<usize>) {
        let read_size = state.read_size;
        match state.decoder.direct() {
            // As much as reads have been bringing: plain TCP zero-fills the
            // room first, wasted on a peer that sends a little at a time.
            Some((message, max)) => {
                let start = message.len();
                let max = max.min(read_size);
                (self.transport.read_onto(message, max), Some(start))
            }
            None => (
                self.transport.read_into(&mut state.buf, state.read_size),
                None,
            ),
        }
    }

    /// The receive timeout runs from a message's first byte until the
    /// decoder is no longer in the middle of one (after every pass: one
    /// that finished a paused pass's message too).
    fn note_message_under_way(&self, state: &mut ReadState) {
        if state.decoder.mid_message() {
            // One that began in this pass, after one the pass ended, has a
            // time of its own (a peer sending messages back to back keeps
            // a message under way at every read's end).
            if state.batch.iter().any(Incoming::ends_message) {
                state.message_started = Some(Instant::now());
            } else {
                state.message_started.get_or_insert_with(Instant::now);
            }
        } else {
            state.message_started = None;
        }
    }

    /// The deadlines that run before this read, or the failure that ended
    /// the connection.
    fn deadlines(&self, state: &ReadState) -> std::result::Result<Due, Error> {
        let (close, failed) = {
            let lifecycle = lock(&self.lifecycle);
            (
                lifecycle.close_deadline().and_then(Deadline::instant),
                lifecycle.failure().cloned(),
            )
        };
        if let Some(failure) = failed {
            return Err(failure);
        }
        // Keepalive: a ping when idle, then a pong (or any byte) in time.
        let keepalive = match state.ping_sent {
            None => self
                .options
                .ping_interval
                .and_then(|every| later(state.last_inbound, every)),
            Some(sent) => self
                .options
                .pong_timeout
                .and_then(|limit| later(sent, limit)),
        };
        Ok(Due {
            // A deadline runs while a message is incomplete.
            receive: self.receive_deadline(state),
            close,
            keepalive,
            compression: self.compression_due(state),
        })
    }

    /// Sets the socket's read timeout to wake for the earliest deadline
    /// (and `limit`), unless the one set is close enough.
    fn arm_read_timeout(&self, state: &mut ReadState, due: &Due, limit: Option<Duration>) {
        let now = Instant::now();
        let strict = earliest(due.receive, due.close);
        let soft = earliest(
            earliest(due.keepalive, state.next_unsolicited_pong),
            due.compression,
        );
        // Strict deadlines are checked every second (the kernel rounds long
        // socket timeouts up by seconds); keepalive may fire that late.
        let wanted = earliest(
            strict.map(|d| d.saturating_duration_since(now).min(DEADLINE_SLICE)),
            soft.map(|d| {
                // Wake early from a long wait and re-arm with the rest:
                // the kernel rounds long timeouts up by up to 2 s.
                let rest = d.saturating_duration_since(now);
                if rest > KERNEL_ROUNDING + DEADLINE_SLICE {
                    rest - KERNEL_ROUNDING
                } else {
                    rest
                }
            }),
        )
        .map(|t| t.max(Duration::from_millis(1)));
        let wanted = earliest(wanted, limit.map(|l| l.max(Duration::from_millis(1))));
        if needs_rearming(state.read_timeout, wanted) {
            let _ = self.transport.set_read_timeout(wanted);
            state.read_timeout = wanted;
        }
    }

    /// A read timed out: whichever deadline passed acts (a strict one ends
    /// the connection; keepalive sends a ping, or ends it if the pong is late).
    fn on_read_timeout(&self, state: &mut ReadState, due: &Due) -> Step {
        let now = Instant::now();
        if due.receive.is_some_and(|d| now >= d) {
            return Step::Ended(self.receive_timed_out());
        }
        if due.close.is_some_and(|d| now >= d) {
            return Step::Ended(self.close_timed_out());
        }
        if state.next_unsolicited_pong.is_some_and(|d| now >= d) {
            self.send_unsolicited_pong(state, now);
        }
        if due.compression.is_some_and(|d| now >= d) {
            self.release_compression(state, now);
        }
        if due.keepalive.is_some_and(|d| now >= d) {
            if state.ping_sent.is_some() && self.writer_active() {
                // Our ping waits behind a message going out in parts (its
                // writer sends it with its next frame): not the peer's fault.
                state.ping_sent = Some(now);
                return Step::More;
            }
            if state.ping_sent.is_some() {
                return Step::Ended(self.fail(Error::Timeout {
                    what: format!("waiting for a pong from {}", self.peer),
                    after: self.options.pong_timeout.unwrap_or_default(),
                }));
            }
            state.ping_sent = Some(now);
            self.send_keepalive_ping();
        }
        Step::More
    }

    /// The message under way did not arrive within the receive timeout:
    /// the connection fails.
    fn receive_timed_out(&self) -> Error {
        self.fail(Error::Timeout {
            what: format!("receiving a message from {}", self.peer),
            after: self.options.receive_timeout,
        })
    }

    /// The connection is idle: the compression state goes on both sides
    /// (ours only if no sender holds the wire: this thread never waits).
    fn release_compression(&self, state: &mut ReadState, now: Instant) {
        state.compression_checked = now;
        state.decoder.release_compression();
        if let Some(deflater) = &self.deflater {
            if let Some(_wire) = self.try_writing() {
                lock(deflater).release();
            }
        }
    }

    /// When idle compression state is to go: a second after the last byte
    /// received (or the last look), if either side holds some.
    fn compression_due(&self, state: &ReadState) -> Option<Instant> {
        // A busy compressor counts as holding state.
        let compressing = self.deflater.as_ref().is_some_and(|d| {
            d.try_lock()
                .map_or(true, |compressor| compressor.holds_state())
        });
        if !compressing && !state.decoder.holds_compression() {
            return None;
        }
        let since = state.last_inbound.max(state.compression_checked);
        later(since, COMPRESSION_IDLE)
    }

    /// Fails the connection: the peer's close frame did not come in time.
    fn close_timed_out(&self) -> Error {
        self.fail(Error::Timeout {
            what: format!("waiting for the close frame of {}", self.peer),
            after: self.options.close_timeout,
        })
    }

    fn send_unsolicited_pong(&self, state: &mut ReadState, now: Instant) {
        state.next_unsolicited_pong = self
            .options
            .unsolicited_pong_interval
            .and_then(|every| later(now, every));
        self.send_control(Control::Pong, &[]);
    }

    /// Any byte from the peer shows it is alive: keepalive starts afresh.
    fn peer_is_alive(&self, state: &mut ReadState) {
        let now = Instant::now();
        state.last_inbound = now;
        if state.next_unsolicited_pong.is_some_and(|d| now >= d) {
            self.send_unsolicited_pong(state, now);
        }
        state.ping_sent = None;
    }

    /// Hands decoded messages to the receiving side, then sends what the
    /// decoding queued (pongs, a close reply) if the wire is free.
    pub(super) fn deliver(&self, batch: &mut Vec<Incoming>, events: &Sink) {
        self.hand_over(batch, events);
        self.flush_leftovers();
    }

    /// Counts the messages that `batch` completes.
    pub(super) fn count_received(&self, batch: &[Incoming]) {
        let ended = batch.iter().filter(|i| i.ends_message()).count();
        self.stats
            .messages_received
            .fetch_add(ended as u64, Relaxed);
    }

    /// Hands decoded messages to the receiving side (no socket work).
    pub(super) fn hand_over(&self, batch: &mut Vec<Incoming>, events: &Sink) {
        self.count_received(batch);
        let bytes: usize = batch.iter().map(Incoming::len).sum();
        self.inbox_bytes.fetch_add(bytes, Relaxed);
        match batch.len() {
            0 => {}
            1 => {
                let m = batch.pop().expect("one message");
                events.send(Event::One(m));
            }
            n => {
                // The next batch is likely as long: no regrowing.
                let next = Vec::with_capacity(n.min(BATCH_CAPACITY_MAX));
                events.send(Event::Batch(std::mem::replace(batch, next)));
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn read_timeouts_rearm_only_when_they_matter() {
        use super::needs_rearming;
        use std::time::Duration;
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert!(!needs_rearming(None, None));
        assert!(needs_rearming(None, Some(s(18))));
        assert!(needs_rearming(Some(s(18)), None));
        // The keepalive deadline, a few microseconds nearer after each read.
        assert!(!needs_rearming(Some(s(18)), Some(s(18) - ms(1))));
        // A nearer deadline (a receive timeout slice) is armed.
        assert!(needs_rearming(Some(s(18)), Some(s(1))));
        // A much later one too, so that a short timeout does not spin.
        assert!(needs_rearming(Some(ms(1)), Some(s(18))));
        assert!(!needs_rearming(Some(s(1)), Some(ms(1500))));
    }
}
