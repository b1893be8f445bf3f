//! The read path: one socket read, its deadlines (receive timeout,
//! keepalive, close), and handing what it decoded to the receiving side.
//!
//! Run by whoever holds the read state (see `readers`); takes `link`
//! briefly to read the close deadline, and `proto` to decode.

use super::*;

/// The reader's state between socket reads. Whoever holds it reads the
/// socket: the reader thread, or a thread in `recv` while the reader thread
/// stands aside.
#[derive(Debug)]
pub(super) struct ReadState {
    pub(super) buf: Vec<u8>,
    /// Messages decoded by the last read, not yet handed over.
    pub(super) batch: Vec<Message>,
    pub(super) tracker: FrameTracker,
    /// When the incomplete message began to arrive (the receive timeout runs).
    pub(super) message_started: Option<Instant>,
    /// The socket's read timeout as last set.
    pub(super) read_timeout: Option<Duration>,
    pub(super) last_inbound: Instant,
    pub(super) ping_sent: Option<Instant>,
    pub(super) next_unsolicited_pong: Option<Instant>,
    /// The frames that came with the opening handshake are still to decode.
    pub(super) handshake_leftovers: bool,
}
impl ReadState {
    pub(super) fn new(options: &Options) -> ReadState {
        let now = Instant::now();
        ReadState {
            buf: vec![0u8; READ_BUFFER_MIN],
            batch: Vec::new(),
            tracker: FrameTracker::default(),
            message_started: None,
            read_timeout: None,
            last_inbound: now,
            ping_sent: None,
            next_unsolicited_pong: options
                .unsolicited_pong_interval
                .and_then(|every| later(now, every)),
            handshake_leftovers: true,
        }
    }
}
/// What one socket read led to.
#[derive(Debug)]
pub(super) enum Step {
    /// Read on.
    More,
    /// Decoding stopped for good: conclude the connection.
    Over(Fed, Option<CloseFrame>),
    /// The connection failed with this error (its End is still to deliver).
    Ended(Error),
}
/// How the bytes of one read ended for the protocol state.
#[derive(Debug)]
pub(super) enum Fed {
    /// Everything decoded; more bytes are needed.
    NeedMore,
    /// The close handshake is over (or the peer's close frame has arrived).
    Closed,
    /// tungstenite reported an error.
    Failed(tungstenite::Error),
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
/// Grows the read buffer while reads fill it, shrinks it while they don't.
pub(super) fn adapt_read_buffer(buf: &mut Vec<u8>, last_read: usize) {
    let len = buf.len();
    if last_read == len && len < READ_BUFFER_MAX {
        buf.resize(len * 2, 0);
    } else if last_read < len / 4 && len > READ_BUFFER_MIN {
        buf.truncate(len / 2);
        buf.shrink_to(len / 2);
    }
}

impl Shared {
    /// One socket read, decoded; the messages are left in `state.batch`.
    /// `limit` bounds the wait (for `recv_timeout`); `as_reader`: the reader
    /// thread, which also applies receive backpressure.
    pub(super) fn read_step(
        &self,
        state: &mut ReadState,
        limit: Option<Duration>,
        as_reader: bool,
    ) -> Step {
        let ReadState {
            buf,
            batch,
            tracker,
            message_started,
            read_timeout,
            last_inbound,
            ping_sent,
            next_unsolicited_pong,
            handshake_leftovers,
        } = state;
        if std::mem::take(handshake_leftovers) {
            // The first pass reads nothing: it decodes the frames that came
            // with the opening handshake, which tungstenite already holds.
            return match self.decode(buf, None, batch) {
                (Fed::NeedMore, _) => Step::More,
                (fed, peer_close) => Step::Over(fed, peer_close),
            };
        }
        // A deadline runs while a message is incomplete or a close is under way.
        let receive_deadline = message_started.and_then(|t| later(t, self.options.receive_timeout));
        let (close_deadline, failed) = {
            let link = lock(&self.link);
            (
                link.close_deadline.and_then(Deadline::instant),
                link.failure.clone(),
            )
        };
        // A failed connection reads no more, even if bytes keep coming
        // (data a peer sends after a shutdown can still be read).
        if let Some(failure) = failed {
            return Step::Ended(failure);
        }
        let strict = earliest(receive_deadline, close_deadline);
        // Keepalive: a ping when idle, then a pong (or any byte) in time.
        let keepalive_due = match *ping_sent {
            None => self
                .options
                .ping_interval
                .and_then(|every| later(*last_inbound, every)),
            Some(sent) => self
                .options
                .pong_timeout
                .and_then(|limit| later(sent, limit)),
        };
        let keepalive_deadline = earliest(keepalive_due, *next_unsolicited_pong);
        let now = Instant::now();
        // Strict deadlines are checked every second (the kernel rounds long
        // socket timeouts up by seconds); keepalive may fire that late.
        let wanted = earliest(
            strict.map(|d| d.saturating_duration_since(now).min(DEADLINE_SLICE)),
            keepalive_deadline.map(|d| {
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
        if needs_rearming(*read_timeout, wanted) {
            let _ = self.transport.set_read_timeout(wanted);
            *read_timeout = wanted;
        }
        if as_reader {
            self.wait_for_queue_room();
        }
        let n = match self.transport.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Step::More,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let now = Instant::now();
                if receive_deadline.is_some_and(|d| now >= d) {
                    return Step::Ended(self.fail(Error::Timeout {
                        what: format!("receiving a message from {}", self.peer),
                        after: self.options.receive_timeout,
                    }));
                }
                if close_deadline.is_some_and(|d| now >= d) {
                    return Step::Ended(self.fail(Error::Timeout {
                        what: format!("waiting for the close frame of {}", self.peer),
                        after: self.options.close_timeout,
                    }));
                }
                if next_unsolicited_pong.is_some_and(|d| now >= d) {
                    *next_unsolicited_pong = self
                        .options
                        .unsolicited_pong_interval
                        .and_then(|every| later(now, every));
                    self.send_control(WireMessage::Pong(Bytes::new()));
                }
                if keepalive_due.is_some_and(|d| now >= d) {
                    if ping_sent.is_some() {
                        return Step::Ended(self.fail(Error::Timeout {
                            what: format!("waiting for a pong from {}", self.peer),
                            after: self.options.pong_timeout.unwrap_or_default(),
                        }));
                    }
                    *ping_sent = Some(now);
                    self.send_control(WireMessage::Ping(Bytes::from_static(b"wsock")));
                }
                return Step::More;
            }
            Err(e) => {
                let failure = lock(&self.link).failure.clone();
                return Step::Ended(
                    failure.unwrap_or_else(|| Error::io(&self.peer, "receiving", e)),
                );
            }
        };
        self.stats.bytes_received.fetch_add(n as u64, Relaxed);
        // A peer that keeps sending never lets a read time out: the close
        // deadline is checked after every read too.
        if close_deadline.is_some_and(|d| Instant::now() >= d) {
            return Step::Ended(self.fail(Error::Timeout {
                what: format!("waiting for the close frame of {}", self.peer),
                after: self.options.close_timeout,
            }));
        }
        // Any byte from the peer shows it is alive.
        *last_inbound = Instant::now();
        if next_unsolicited_pong.is_some_and(|d| *last_inbound >= d) {
            *next_unsolicited_pong = self
                .options
                .unsolicited_pong_interval
                .and_then(|every| later(*last_inbound, every));
            self.send_control(WireMessage::Pong(Bytes::new()));
        }
        if let Some(sent) = ping_sent.take() {
            let rtt =
                u64::try_from(last_inbound.duration_since(sent).as_micros()).unwrap_or(u64::MAX);
            self.stats.rtt_micros.store(rtt, Relaxed);
        }
        if n > 0 && tracker.feed(&buf[..n]) {
            message_started.get_or_insert_with(Instant::now);
        } else {
            *message_started = None;
        }

        let (fed, peer_close) = self.decode(buf, Some(n), batch);
        adapt_read_buffer(buf, n);
        match fed {
            Fed::NeedMore => Step::More,
            fed => Step::Over(fed, peer_close),
        }
    }

    /// Hands decoded messages to the receiving side, then sends what the
    /// decoding queued (pongs, a close reply) if the wire is free.
    pub(super) fn deliver(&self, batch: &mut Vec<Message>, events: &Sink) {
        self.hand_over(batch, events);
        self.flush_leftovers();
    }

    /// Hands decoded messages to the receiving side (no socket work).
    pub(super) fn hand_over(&self, batch: &mut Vec<Message>, events: &Sink) {
        self.stats
            .messages_received
            .fetch_add(batch.len() as u64, Relaxed);
        let bytes: usize = batch.iter().map(Message::len).sum();
        self.queued.fetch_add(bytes, Relaxed);
        match batch.len() {
            0 => {}
            1 => {
                let m = batch.pop().expect("one message");
                events.send(Event::Message(m));
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
