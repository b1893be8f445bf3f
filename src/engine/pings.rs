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
    /// The connection failed or its End was delivered: no pong will come.
    over: bool,
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
        self.send_control(Control::Ping, &payload);
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
        self.send_ping(&payload)?;
        Ok(number)
    }

    /// Pings the peer and waits up to `timeout` for its pong; returns the
    /// round trip. The ping is queued, not written by this thread, so the
    /// timeout covers all of it: a peer that reads slowly (and the data
    /// queued before the ping) makes it a Timeout, never a send timeout
    /// that ends the connection.
    pub(crate) fn round_trip(&self, timeout: Duration) -> Result<Duration> {
        let deadline = Deadline::after(timeout);
        let started = Instant::now();
        let id = self.round_trips.fetch_add(1, Relaxed);
        let payload = Bytes::from(format!("wsock-rtt-{id}"));
        let number = self.ping_sent(&payload);
        if !self.writable.load(Acquire) {
            return Err(self.not_writable());
        }
        self.send_control(Control::Ping, &payload);
        loop {
            // A connection that is closing or failed answers no more pings
            // (an end that comes later sets `over`, under `pings`).
            let ended = lock(&self.lifecycle).ending() || !self.writable.load(Acquire);
            if ended {
                return Err(self.not_writable());
            }
            let pings = lock(&self.pings);
            if pings.answered >= number {
                return Ok(started.elapsed());
            }
            if pings.over {
                drop(pings);
                return Err(self.not_writable());
            }
            if deadline.has_passed() {
                return Err(Error::Timeout {
                    what: format!("waiting for the pong of {}", self.peer),
                    after: timeout,
                });
            }
            drop(wait_for(
                &self.pong_seen,
                pings,
                deadline.slice(DEADLINE_SLICE),
            ));
        }
    }

    /// Wakes callers waiting for a pong: the connection ends.
    pub(super) fn no_more_pongs(&self) {
        lock(&self.pings).over = true;
        self.pong_seen.notify_all();
    }
}
