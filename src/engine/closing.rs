//! Closing (ours and the peer's), failing, the End event, and the end of
//! the TCP connection: the actions around the [`Lifecycle`] transitions.
//!
//! Run by closers (`close`, drops), by the reader thread (`conclude`,
//! `finish`), by any thread whose I/O fails (`fail`) and by the timer
//! (the close timeout). Takes `proto`, `wire` (through [`Writing`]) and
//! `lifecycle`, in that order.

use super::*;

/// The close frame for `close(code, reason)`, if both may be sent.
fn close_frame(code: u16, reason: &str) -> Result<CloseFrame> {
    if !crate::codec::close_code_allowed(code) {
        return Err(Error::InvalidArgument(format!(
            "close code {code} may not be sent (use 1000-1003, 1007-1014 or 3000-4999)"
        )));
    }
    if reason.len() > 123 {
        return Err(Error::InvalidArgument(format!(
            "close reason is {} bytes; at most 123 fit in a close frame",
            reason.len()
        )));
    }
    Ok(CloseFrame {
        code,
        reason: reason.to_owned(),
    })
}

impl Engine {
    /// Why nothing can be sent any more.
    pub(super) fn not_writable(&self) -> Error {
        let lifecycle = lock(&self.lifecycle);
        if let Some(e) = lifecycle.failure() {
            return e.clone();
        }
        let frame = lifecycle.close_frame();
        drop(lifecycle);
        Error::Closed {
            peer: self.peer.clone(),
            frame: frame.unwrap_or(CloseFrame {
                code: 1006,
                reason: String::new(),
            }),
        }
    }

    /// Records the first fatal error and cuts the connection, which ends the
    /// reader thread. Returns the first error.
    pub(crate) fn fail(&self, error: Error) -> Error {
        let first = lock(&self.lifecycle).failed(error);
        debug!("connection with {} failed: {first}", self.peer);
        self.transport.shutdown();
        self.lifecycle_changed.notify_all();
        self.need_reader();
        // A reader paused by backpressure must go on to deliver the end.
        drop(lock(&self.inbox_lock));
        self.inbox_room.notify_all();
        // A caller waiting for a pong learns of the end at once.
        self.no_more_pongs();
        first
    }

    /// Starts the close handshake. With `wait`, blocks until the peer's
    /// close frame arrives or the close timeout passes (then the connection
    /// is cut and a Timeout returned); without, returns at once and a timer
    /// cuts the connection at the close timeout if the peer never answers.
    pub(crate) fn close(self: &Arc<Self>, code: u16, reason: &str, wait: bool) -> Result<()> {
        let frame = close_frame(code, reason)?;
        let timeout = self.options.close_timeout;
        let deadline = Deadline::after(timeout);
        let sent = self.proto().close(Some(&frame));
        if sent {
            lock(&self.lifecycle).we_closed(frame, deadline);
            // A reader waiting for the End to be taken need not any more.
            self.lifecycle_changed.notify_all();
            // The close handshake needs the reader thread's deadlines.
            self.need_reader();
            // A reader paused by backpressure must go on to see the reply.
            let _guard = lock(&self.inbox_lock);
            self.inbox_room.notify_all();
        }
        if !wait {
            self.flush_leftovers();
            if sent {
                self.arm_close_timer(deadline);
            }
            return Ok(());
        }
        // Never wait for the wire: a sender stuck behind a peer that stopped
        // reading holds it until its send timeout. Whoever holds it sends the
        // close frame after its message; the close timeout bounds it all.
        if let Some(mut wire) = self.try_writing() {
            // A failure here is recorded as the connection's; the wait
            // below reports it.
            let _ = self.drain(&mut wire, Some((deadline, timeout)));
        } else {
            self.flush_leftovers();
        }
        self.wait_for_end(deadline, timeout)
    }

    /// Waits until the End event is delivered, so that every receive call
    /// after `close` returns reports the end; at `deadline` cuts the
    /// connection (a Timeout) and gives the reader thread [`END_GRACE`] to
    /// deliver it. Ok only after the peer's close frame.
    fn wait_for_end(&self, deadline: Deadline, timeout: Duration) -> Result<()> {
        let mut lifecycle = lock(&self.lifecycle);
        let mut grace = None;
        while !lifecycle.end_delivered() {
            let until = match grace {
                Some(until) => until,
                None if !deadline.has_passed() => deadline,
                None => {
                    drop(lifecycle);
                    self.fail(Error::Timeout {
                        what: format!("waiting for the close frame of {}", self.peer),
                        after: timeout,
                    });
                    // Cut, the reader thread delivers the End at once: it
                    // may have already, so look again before waiting.
                    grace = Some(Deadline::after(END_GRACE));
                    lifecycle = lock(&self.lifecycle);
                    continue;
                }
            };
            if grace.is_some() && until.has_passed() {
                break;
            }
            lifecycle = wait_until(&self.lifecycle_changed, lifecycle, until);
        }
        // Ok only after the peer's close frame; else what ended the connection.
        let result = lifecycle.close_result();
        drop(lifecycle);
        result.unwrap_or_else(|| Err(self.not_writable()))
    }

    /// Cuts the connection at `deadline` unless the reader has ended by then.
    pub(super) fn arm_close_timer(self: &Arc<Self>, deadline: Deadline) {
        let Some(deadline) = deadline.instant() else {
            return; // a close timeout no clock reaches
        };
        let weak: Weak<Engine> = Arc::downgrade(self);
        let id = timer::schedule(deadline, move || {
            if let Some(shared) = weak.upgrade() {
                if !lock(&shared.lifecycle).reader_done() {
                    shared.fail(Error::Timeout {
                        what: format!("closing the connection with {}", shared.peer),
                        after: shared.options.close_timeout,
                    });
                }
            }
        });
        let mut lifecycle = lock(&self.lifecycle);
        if lifecycle.reader_done() {
            drop(lifecycle);
            if let Some(id) = id {
                timer::cancel(id);
            }
        } else if let Some(old) = lifecycle.set_close_timer(id) {
            timer::cancel(old);
        }
    }

    /// Ends the connection after decoding stopped for good: reports the
    /// Closed event or the failure, then finishes the close. Returns the End
    /// event still to be delivered, if any.
    pub(super) fn conclude(
        &self,
        fed: Decoded,
        peer_close: Option<CloseFrame>,
        buf: &mut [u8],
        events: &Sink,
    ) -> Option<Error> {
        match fed {
            Decoded::NeedMore => None,
            Decoded::Closed => {
                let frame = match peer_close {
                    Some(f) => f,
                    None => match lock(&self.lifecycle).peer_close().cloned() {
                        Some(f) => f,
                        None => CloseFrame {
                            code: 1005,
                            reason: String::new(),
                        },
                    },
                };
                // The peer gets one close timeout to close TCP, unless a
                // close of ours already runs on an earlier deadline.
                let limit = Deadline::after(self.options.close_timeout);
                lock(&self.lifecycle).peer_closed(frame.clone(), limit);
                self.lifecycle_changed.notify_all();
                self.send_end(
                    events,
                    Error::Closed {
                        peer: self.peer.clone(),
                        frame,
                    },
                );
                self.finish(buf, false);
                None
            }
            Decoded::Reset => {
                // The peer closed TCP without a close handshake.
                let failure = lock(&self.lifecycle).failure().cloned();
                Some(failure.unwrap_or_else(|| Error::Io {
                    peer: self.peer.clone(),
                    what: "receiving".into(),
                    status: Status::ConnectionReset,
                    source: Arc::new(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "the peer closed the connection without a close frame",
                    )),
                }))
            }
            Decoded::Violated(Violation {
                status,
                code,
                reason,
            }) => {
                warn!("{}: {reason}; closing with {code}", self.peer);
                let error = Error::Protocol {
                    peer: self.peer.clone(),
                    status,
                    code,
                    reason: reason.clone(),
                };
                // Messages decoded before the violation are delivered first, and
                // the close goes out once the receiving side has reached the
                // error, so replies to those messages can still be sent.
                lock(&self.lifecycle).owe_violation_close(CloseFrame {
                    code,
                    reason: reason_for_frame(&reason),
                });
                if self.send_end(events, error.clone()) {
                    self.wait_for_end_taken();
                }
                self.send_violation_close();
                let limit = Deadline::after(self.options.close_timeout);
                lock(&self.lifecycle).violation_closing(error, limit);
                self.lifecycle_changed.notify_all();
                self.finish(buf, true);
                None
            }
        }
    }

    /// Delivers the End event (once per connection), then records that it
    /// is delivered, which is what a waiting `close` returns on. False if
    /// no one receives any more.
    pub(super) fn send_end(&self, events: &Sink, end: Error) -> bool {
        let received = events.send(Event::End(end.clone()));
        lock(&self.lifecycle).end_sent(end);
        self.no_more_pongs();
        self.lifecycle_changed.notify_all();
        received
    }

    /// Waits (up to the close timeout) until the receiving side has taken the
    /// End event, or a close of ours or a failure makes waiting moot.
    pub(super) fn wait_for_end_taken(&self) {
        let deadline = Deadline::after(self.options.close_timeout);
        let mut lifecycle = lock(&self.lifecycle);
        while !lifecycle.end_is_taken() && !lifecycle.ending() {
            if deadline.has_passed() {
                return;
            }
            lifecycle = wait_until(&self.lifecycle_changed, lifecycle, deadline);
        }
    }

    /// The receiving side has taken the End event: a close for a protocol
    /// violation goes out now, before anything the program does next (such
    /// as dropping the socket, which would close with 1000 or 1001).
    pub(crate) fn end_taken(&self) {
        lock(&self.lifecycle).end_taken();
        self.lifecycle_changed.notify_all();
        self.send_violation_close();
    }

    /// Queues the close frame for a protocol violation, once.
    ///
    /// The receiving side and the reader thread both call this; taking the
    /// frame and queueing it happen under one `proto` lock, so when the
    /// reader's call returns the frame is in the outbox, whoever queued it,
    /// and the reader's `finish` sends it before shutting the socket down.
    pub(super) fn send_violation_close(&self) {
        {
            let mut proto = self.proto();
            let Some(frame) = lock(&self.lifecycle).take_violation_close() else {
                return;
            };
            proto.close(Some(&frame));
        }
        self.flush_leftovers();
    }

    /// Ends a connection whose close frame has been sent or received: push
    /// out what is queued (bounded by the close timeout), then wait for the
    /// peer to close TCP, discarding what it still sends. The server (and a
    /// side that saw a protocol violation) closes its sending half first, as
    /// RFC 6455 asks.
    pub(super) fn finish(&self, buf: &mut [u8], violated: bool) {
        let deadline = lock(&self.lifecycle)
            .close_deadline()
            .unwrap_or_else(|| Deadline::after(self.options.close_timeout));
        // The wire within the deadline: a `MessageWriter` may hold it for
        // as long as its program likes, and this thread must not wait past
        // the close deadline (then the socket is shut down regardless).
        let wire = self.writing_by(deadline);
        let drained = wire.is_some();
        if let Some(mut wire) = wire {
            // The close frame first, then TLS close_notify: a peer that reads
            // close_notify reads nothing after it.
            let budget = Some((deadline, self.options.close_timeout));
            let _ = self.drain(&mut wire, budget);
            if self.role == Role::Server || violated {
                self.transport.queue_close_notify();
                let _ = self.drain(&mut wire, budget);
            }
        }
        if drained && (self.role == Role::Server || violated) {
            let _ = self.transport.shutdown_write();
        }
        loop {
            if deadline.has_passed() {
                return;
            }
            let _ = self.transport.set_read_timeout(Some(
                deadline.slice(DEADLINE_SLICE).max(Duration::from_millis(1)),
            ));
            match self.transport.read(buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return,
            }
        }
    }
}
