//! Pings of ours and the pongs that answer them: the round-trip time, and
//! callers waiting for their pong (`round_trip`).
//!
//! Run by senders of pings (callers, and the reader thread for keepalive)
//! and by whoever decodes a pong (under `proto`). Guarded by `pings`, a
//! leaf: no other lock is taken under it.

use super::*;

/// Pings sent and not yet answered, oldest first (guarded by `pings`).
#[derive(Debug, Default)]
pub(super) struct Pings {
    waiting: std::collections::VecDeque<(Bytes, Instant)>,
    /// Pings answered so far: a waiter's ping is answered once this passes
    /// its number.
    answered: u64,
    sent: u64,
}

/// The most unanswered pings remembered; older ones are forgotten (RFC 6455
/// lets a peer answer only the latest of several).
const PINGS_REMEMBERED: usize = 16;

impl Engine {
    /// Records a ping of ours about to be sent; returns its number.
    fn ping_sent(&self, payload: &Bytes) -> u64 {
        let mut pings = lock(&self.pings);
        if pings.waiting.len() == PINGS_REMEMBERED {
            pings.waiting.pop_front();
        }
        pings.waiting.push_back((payload.clone(), Instant::now()));
        pings.sent += 1;
        pings.sent
    }

    /// A pong arrived: if it answers a ping of ours, that ping and all
    /// older ones are answered, and its round trip is the `rtt`.
    pub(super) fn pong_arrived(&self, payload: &[u8]) {
        let mut pings = lock(&self.pings);
        let Some(at) = pings.waiting.iter().position(|(p, _)| p[..] == *payload) else {
            return; // unsolicited, or for a ping forgotten
        };
        let sent = pings.waiting[at].1;
        pings.waiting.drain(..=at);
        // Every ping still waiting was sent after the answered one.
        pings.answered = pings.sent - pings.waiting.len() as u64;
        drop(pings);
        let rtt = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.rtt_micros.store(rtt.max(1), Relaxed);
        self.pong_seen.notify_all();
    }

    /// The reader thread's keepalive ping.
    pub(super) fn send_keepalive_ping(&self) {
        let payload = Bytes::from_static(b"wsock");
        self.ping_sent(&payload);
        self.send_control(WireMessage::Ping(payload));
    }

    /// Sends a ping with `payload`, waiting for the wire (the send timeout);
    /// returns its number.
    pub(crate) fn ping(&self, payload: &[u8]) -> Result<u64> {
        if payload.len() > 125 {
            return Err(Error::InvalidArgument(format!(
                "a ping payload is at most 125 bytes, not {}",
                payload.len()
            )));
        }
        let payload = Bytes::copy_from_slice(payload);
        let number = self.ping_sent(&payload);
        self.send(WireMessage::Ping(payload))?;
        Ok(number)
    }

    /// Pings the peer and waits up to `timeout` for its pong; returns the
    /// round trip.
    pub(crate) fn round_trip(&self, timeout: Duration) -> Result<Duration> {
        let deadline = Deadline::after(timeout);
        let started = Instant::now();
        let id = self.round_trips.fetch_add(1, Relaxed);
        let number = self.ping(format!("wsock-rtt-{id}").as_bytes())?;
        let mut pings = lock(&self.pings);
        while pings.answered < number {
            if deadline.has_passed() {
                drop(pings);
                return Err(Error::Timeout {
                    what: format!("waiting for the pong of {}", self.peer),
                    after: timeout,
                });
            }
            // A connection that ends answers no more pings.
            let ended = {
                drop(pings);
                let failure = lock(&self.lifecycle).failure().cloned();
                pings = lock(&self.pings);
                failure
            };
            if let Some(e) = ended {
                return Err(e);
            }
            pings = wait_for(&self.pong_seen, pings, deadline.slice(DEADLINE_SLICE));
        }
        Ok(started.elapsed())
    }
}
