//! The wire: the right to write the socket, and the bytes taken from the
//! outbox that are not yet on it.
//!
//! Run by every thread that holds `wire`: senders (blocking, within their
//! send timeout), the reader thread and the timer (never blocking: they
//! only `try_lock` it and write with `MSG_DONTWAIT`). Takes `outbox`
//! briefly under `wire`; `fail` takes `lifecycle`. Every holder of
//! `wire` holds it through a [`Writing`] guard, whose release flushes.

use super::*;

/// Bytes taken from the outbox and not yet on the wire (guarded by `wire`).
#[derive(Debug, Default)]
pub(super) struct Unsent {
    /// Wire bytes (ciphertext for TLS), of which `written` have been written.
    pub(super) pending: Vec<u8>,
    pub(super) written: usize,
    /// Plaintext just taken from the outbox, before sealing.
    pub(super) plain: Vec<u8>,
    /// Outbox position just past the last byte taken out of it.
    pub(super) taken_end: u64,
    /// Outbox position up to which every byte is on the wire.
    pub(super) written_end: u64,
}

/// The right to write the socket: `wire`, held. Letting go of it (the
/// drop) writes without blocking whatever was queued while it was held,
/// so no release site has to remember to (a close frame or a pong queued
/// by another thread that found the wire taken would otherwise wait for
/// the next sender).
pub(super) struct Writing<'a> {
    engine: &'a Engine,
    wire: Option<MutexGuard<'a, Unsent>>,
}

impl Deref for Writing<'_> {
    type Target = Unsent;
    fn deref(&self) -> &Unsent {
        self.wire.as_ref().expect("held until dropped")
    }
}

impl DerefMut for Writing<'_> {
    fn deref_mut(&mut self) -> &mut Unsent {
        self.wire.as_mut().expect("held until dropped")
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        drop(self.wire.take());
        self.engine.flush_leftovers();
    }
}

impl Engine {
    /// Takes the right to write the socket, waiting for it.
    pub(super) fn writing(&self) -> Writing<'_> {
        Writing {
            engine: self,
            wire: Some(lock(&self.wire)),
        }
    }

    /// Takes the right to write the socket if no one holds it.
    /// The wire, waited for until `deadline` at most (polled: holders
    /// other than a `MessageWriter` let go within the send timeout).
    pub(super) fn writing_by(&self, deadline: Deadline) -> Option<Writing<'_>> {
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(wire) = self.try_writing() {
                return Some(wire);
            }
            if deadline.has_passed() {
                return None;
            }
            std::thread::sleep(pause.min(deadline.left()));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    pub(super) fn try_writing(&self) -> Option<Writing<'_>> {
        Some(Writing {
            engine: self,
            wire: Some(self.try_lock_wire()?),
        })
    }

    /// `wire` if no one holds it (a panic while it was held does not keep
    /// it from being taken, as with [`lock`]).
    fn try_lock_wire(&self) -> Option<MutexGuard<'_, Unsent>> {
        match self.wire.try_lock() {
            Ok(wire) => Some(wire),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Moves the outbox to the wire's plaintext (skipping the lock when
    /// nothing was queued since the last time).
    pub(super) fn take_outbox(&self, wire: &mut Unsent) {
        if self.outbox_dirty.load(Acquire) {
            self.take_locked(&mut lock(&self.outbox), wire);
        }
    }

    /// Moves all of `outbox` (locked) to the end of `wire`'s plaintext.
    pub(super) fn take_locked(&self, outbox: &mut Outbox, wire: &mut Unsent) {
        if wire.plain.is_empty() {
            std::mem::swap(&mut outbox.bytes, &mut wire.plain);
        } else {
            wire.plain.append(&mut outbox.bytes);
        }
        wire.taken_end = outbox.queued_end;
        outbox.tail_pong = None;
        self.outbox_dirty.store(false, Relaxed);
    }

    /// Part of what was taken is on the wire: the mirror for
    /// `queued_bytes` moves with it (in plaintext positions; with TLS the
    /// records' overhead makes it lag a little, never run ahead).
    fn mirror_written(&self, wire: &Unsent) {
        let unwritten = (wire.pending.len() - wire.written + wire.plain.len()) as u64;
        let at = wire.taken_end.saturating_sub(unwritten);
        self.written_end.fetch_max(at, AcqRel);
    }

    /// Everything taken from the outbox is on the wire.
    fn all_written(&self, wire: &mut Unsent) {
        wire.written_end = wire.taken_end;
        self.written_end.fetch_max(wire.taken_end, AcqRel);
    }

    /// Writes the pending bytes and then the outbox to the socket. With a
    /// deadline it blocks until all is written; without one it writes only
    /// what fits now and returns `Ok(false)` if bytes are left.
    pub(super) fn drain(
        &self,
        wire: &mut Unsent,
        deadline: Option<(Deadline, Duration)>,
    ) -> Result<bool> {
        self.drain_until(wire, deadline, true, u64::MAX)
    }

    /// [`drain`](Self::drain), but done once the outbox is written up to
    /// position `end`, and taking the outbox too only if `with_outbox`
    /// (never in the middle of a frame that goes out in pieces).
    pub(super) fn drain_until(
        &self,
        wire: &mut Unsent,
        deadline: Option<(Deadline, Duration)>,
        with_outbox: bool,
        end: u64,
    ) -> Result<bool> {
        // Done once everything up to `end` is out, and whatever control frame
        // was queued before (the holder of the wire writes those too).
        let done = |wire: &Unsent| wire.written_end >= end.max(self.control_end.load(Acquire));
        if done(wire) {
            return Ok(true); // another sender wrote it meanwhile
        }
        loop {
            if wire.written == wire.pending.len() {
                if self.backlog.load(Relaxed) {
                    self.backlog.store(false, Relaxed);
                    // The next backlog starts its retries afresh, unless one
                    // is armed (then it resets this when it runs and finds
                    // no backlog).
                    let _ = self.flush_retry.fetch_update(Relaxed, Relaxed, |ms| {
                        (ms != 0).then_some(FLUSH_RETRY_FIRST_MS)
                    });
                }
                wire.pending.clear();
                wire.written = 0;
                if wire.pending.capacity() > WIRE_KEEP {
                    wire.pending = Vec::new();
                }
                if wire.plain.is_empty() {
                    self.all_written(wire);
                    if done(wire) {
                        return Ok(true);
                    }
                }
                if with_outbox {
                    self.take_outbox(wire);
                }
                if wire.plain.is_empty() && !self.transport.has_tls_output() {
                    self.all_written(wire);
                    return Ok(true);
                }
                // Sealing (TLS encryption) happens outside the outbox lock.
                let Unsent { plain, pending, .. } = wire;
                let direct = self.transport.seal(plain, pending);
                self.count_sent(direct);
                if wire.pending.is_empty() {
                    self.all_written(wire);
                    return Ok(true);
                }
            }
            match self.write_wire(&wire.pending[wire.written..], deadline)? {
                Some(n) => {
                    wire.written += n;
                    self.mirror_written(wire);
                }
                None => {
                    self.backlog.store(true, Release);
                    return Ok(false);
                }
            }
        }
    }

    /// Counts bytes put on the socket. Called only by the holder of `wire`,
    /// the one writer of this count: no read-modify-write needed.
    pub(super) fn count_sent(&self, n: usize) {
        let sent = &self.stats.bytes_sent;
        sent.store(sent.load(Relaxed) + n as u64, Relaxed);
    }

    /// Writes some of `bytes` (wire bytes) to the socket: `Some(n)` with
    /// `n > 0`. With a deadline it waits for room until then (and fails the
    /// connection with a Timeout after it); without, `None` when the socket
    /// has no room now.
    ///
    /// A blocking write returns what fit within one write slice, so a peer
    /// that reads slowly never makes it time out: the deadline is checked
    /// after every partial write too (then part of a frame is on the wire,
    /// and failing the connection is the only way out).
    ///
    /// Called only by the holder of `wire`.
    pub(super) fn write_wire(
        &self,
        bytes: &[u8],
        deadline: Option<(Deadline, Duration)>,
    ) -> Result<Option<usize>> {
        loop {
            let written = match deadline {
                Some(_) => self.transport.write_raw(bytes),
                None => self.transport.write_raw_nonblocking(bytes),
            };
            match written {
                Ok(0) => {
                    let e =
                        io::Error::new(io::ErrorKind::WriteZero, "the socket accepted no bytes");
                    return Err(self.fail(Error::io(&self.peer, "sending", e)));
                }
                Ok(n) => {
                    self.count_sent(n);
                    if let Some((d, budget)) = deadline {
                        if n < bytes.len() && d.has_passed() {
                            return Err(self.fail(Error::Timeout {
                                what: format!("sending to {}", self.peer),
                                after: budget,
                            }));
                        }
                    }
                    return Ok(Some(n));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    match deadline {
                        None => return Ok(None),
                        Some((d, budget)) if d.has_passed() => {
                            return Err(self.fail(Error::Timeout {
                                what: format!("sending to {}", self.peer),
                                after: budget,
                            }));
                        }
                        Some(_) => {}
                    }
                }
                Err(e) => return Err(self.fail(Error::io(&self.peer, "sending", e))),
            }
        }
    }

    /// Writes queued bytes without blocking, if no one else holds the wire
    /// (whoever does calls this when it lets go: see [`Writing`]). The
    /// only code that takes `wire` without a [`Writing`] guard.
    pub(super) fn flush_leftovers(&self) {
        // Nothing queued and nothing left over: the common case after a send.
        // (TLS may hold records of its own, such as a key update.)
        if !self.outbox_dirty.load(Acquire)
            && !self.backlog.load(Acquire)
            && !self.transport.is_tls()
        {
            return;
        }
        loop {
            let Some(mut wire) = self.try_lock_wire() else {
                return;
            };
            let drained = self.drain(&mut wire, None);
            drop(wire);
            match drained {
                Ok(true) => {}
                // The socket is full and no sender may come: try again later.
                Ok(false) => return self.retry_flush_later(),
                Err(_) => return, // the connection failed
            }
            if !self.outbox_dirty.load(Acquire) {
                return;
            }
        }
    }

    /// Bytes a non-blocking write left behind (a pong, the close frame of a
    /// dropped socket, what `try_send` queued) go out when the peer makes
    /// room, even if nothing else happens on the connection: the timer
    /// retries the flush 10 ms later, again after 10 ms while the peer
    /// reads (bytes left since the last retry), and at doubling intervals
    /// up to a second while it does not, until it is all out or the
    /// connection ends.
    pub(super) fn retry_flush_later(&self) {
        if cfg!(not(unix)) {
            return; // no non-blocking writes there: the next sender flushes
        }
        let ms = self.flush_retry.swap(0, AcqRel);
        if ms == 0 {
            return; // armed already
        }
        let me = self.me.clone();
        let Some(at) = Deadline::after(Duration::from_millis(ms)).instant() else {
            return;
        };
        let armed = timer::schedule(at, move || {
            if let Some(shared) = me.upgrade() {
                // Bytes written since the last retry began (by it, or by
                // anyone): the peer reads, so the next retry comes soon.
                // Someone may also have written it all meanwhile.
                let sent = shared.stats.bytes_sent.load(Relaxed);
                let progress = shared.retry_mark.swap(sent, Relaxed) != sent;
                let next = if shared.backlog.load(Acquire) && !progress {
                    (ms * 2).min(FLUSH_RETRY_MAX_MS)
                } else {
                    FLUSH_RETRY_FIRST_MS
                };
                shared.flush_retry.store(next, Release);
                shared.flush_leftovers();
            }
        });
        if armed.is_none() {
            self.flush_retry.store(ms, Release);
        }
    }
}
