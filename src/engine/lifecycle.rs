//! The lifecycle: closing (ours and the peer's), failing, the End event,
//! and the end of the TCP connection.
//!
//! Run by closers (`close`, drops), by the reader thread (`conclude`,
//! `finish`), by any thread whose I/O fails (`fail`) and by the timer
//! (the close timeout). Guarded by `link` (signalled by `link_changed`).

use super::*;

/// The connection's lifecycle (guarded by `link`).
#[derive(Debug, Default)]
pub(super) struct Link {
    /// The peer's close frame: the Closed event.
    pub(super) peer_close: Option<CloseFrame>,
    /// The close frame we sent, if any.
    pub(super) our_close: Option<CloseFrame>,
    /// The first fatal error; every later call reports it.
    pub(super) failure: Option<Error>,
    /// When the close handshake (or the wait for the peer's TCP close) must end.
    pub(super) close_deadline: Option<Deadline>,
    pub(super) close_timer: Option<TimerId>,
    pub(super) reader_done: bool,
    /// The End event is in the receiving side's channel (or no one
    /// receives any more): from now on every receive call reports the end.
    pub(super) end_sent: bool,
    /// The End event's error, once sent (what `close` reports when no
    /// close frame came back and nothing failed, such as a violation's).
    pub(super) end_error: Option<Error>,
    /// The receiving side has taken the End event.
    pub(super) end_taken: bool,
    /// The close frame owed to the peer for its protocol violation.
    pub(super) violation: Option<CloseFrame>,
}
/// The status, close code and reason for a tungstenite read error that the
/// peer caused; `None` when the peer simply went away.
pub(super) fn violation(e: &tungstenite::Error) -> Option<(Status, u16, String)> {
    Some(match e {
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return None,
        tungstenite::Error::Io(_) => return None,
        tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => (
            Status::MessageTooBig,
            1009,
            format!("the peer sent a message of {size} bytes, over the limit of {max_size}"),
        ),
        tungstenite::Error::Capacity(c) => (Status::MessageTooBig, 1009, c.to_string()),
        tungstenite::Error::Utf8(_) => (
            Status::InvalidUtf8,
            1007,
            "the peer sent text that is not valid UTF-8".into(),
        ),
        tungstenite::Error::Protocol(p) => (
            Status::ProtocolError,
            1002,
            format!("the peer broke the WebSocket protocol: {p}"),
        ),
        other => (
            Status::Unknown,
            1011,
            format!("cannot decode what the peer sent: {other}"),
        ),
    })
}
/// A close reason fits in 123 bytes; cut at a character boundary.
pub(super) fn reason_for_frame(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

impl Shared {
    /// Why nothing can be sent any more.
    pub(super) fn not_writable(&self) -> Error {
        let link = lock(&self.link);
        if let Some(e) = &link.failure {
            return e.clone();
        }
        let frame = link.peer_close.clone().or_else(|| link.our_close.clone());
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
        let mut link = lock(&self.link);
        let first = link.failure.get_or_insert(error).clone();
        drop(link);
        debug!("connection with {} failed: {first}", self.peer);
        self.transport.shutdown();
        self.link_changed.notify_all();
        self.need_reader();
        // A reader paused by backpressure must go on to deliver the end.
        let _guard = lock(&self.queue_lock);
        self.queue_room.notify_all();
        first
    }

    /// Starts the close handshake. With `wait`, blocks until the peer's
    /// close frame arrives or the close timeout passes (then the connection
    /// is cut and a Timeout returned); without, returns at once and a timer
    /// cuts the connection at the close timeout if the peer never answers.
    pub(crate) fn close(self: &Arc<Self>, code: u16, reason: &str, wait: bool) -> Result<()> {
        if !CloseCode::from(code).is_allowed() {
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
        let timeout = self.options.close_timeout;
        let deadline = Deadline::after(timeout);
        let frame = CloseFrame {
            code,
            reason: reason.to_owned(),
        };
        let sent = {
            let mut ws = self.proto();
            if ws.can_write() {
                let wire_frame = tungstenite::protocol::CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                };
                let _ = ws.close(Some(wire_frame));
                true
            } else {
                false
            }
        };
        if sent {
            let mut link = lock(&self.link);
            link.our_close = Some(frame);
            link.close_deadline.get_or_insert(deadline);
            drop(link);
            // A reader waiting for the End to be taken need not any more.
            self.link_changed.notify_all();
            // The close handshake needs the reader thread's deadlines.
            self.need_reader();
            // A reader paused by backpressure must go on to see the reply.
            let _guard = lock(&self.queue_lock);
            self.queue_room.notify_all();
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
        if let Ok(mut wire) = self.wire.try_lock() {
            // A failure here is recorded as the connection's; the wait
            // below reports it.
            let _ = self.drain(&mut wire, Some((deadline, timeout)));
        }
        self.flush_leftovers();
        // Wait until the End event is delivered, so that every receive call
        // after this one returns reports the end.
        let mut link = lock(&self.link);
        let mut grace = None;
        while !link.end_sent && !link.reader_done {
            let until = match grace {
                Some(until) => until,
                None if !deadline.has_passed() => deadline,
                None => {
                    drop(link);
                    self.fail(Error::Timeout {
                        what: format!("waiting for the close frame of {}", self.peer),
                        after: timeout,
                    });
                    // Cut, the reader thread delivers the End at once: it
                    // may have already, so look again before waiting.
                    grace = Some(Deadline::after(END_GRACE));
                    link = lock(&self.link);
                    continue;
                }
            };
            if grace.is_some() && until.has_passed() {
                break;
            }
            link = wait_until(&self.link_changed, link, until);
        }
        // Ok only after the peer's close frame; else what ended the connection.
        if link.peer_close.is_some() {
            return Ok(());
        }
        let end = link.failure.clone().or_else(|| link.end_error.clone());
        drop(link);
        Err(end.unwrap_or_else(|| self.not_writable()))
    }

    /// Cuts the connection at `deadline` unless the reader has ended by then.
    pub(super) fn arm_close_timer(self: &Arc<Self>, deadline: Deadline) {
        let Some(deadline) = deadline.instant() else {
            return; // a close timeout no clock reaches
        };
        let weak: Weak<Shared> = Arc::downgrade(self);
        let id = timer::schedule(deadline, move || {
            if let Some(shared) = weak.upgrade() {
                if !lock(&shared.link).reader_done {
                    shared.fail(Error::Timeout {
                        what: format!("closing the connection with {}", shared.peer),
                        after: shared.options.close_timeout,
                    });
                }
            }
        });
        let mut link = lock(&self.link);
        if link.reader_done {
            drop(link);
            if let Some(id) = id {
                timer::cancel(id);
            }
        } else if let Some(old) = std::mem::replace(&mut link.close_timer, id) {
            timer::cancel(old);
        }
    }

    /// Ends the connection after decoding stopped for good: reports the
    /// Closed event or the failure, then finishes the close. Returns the End
    /// event still to be delivered, if any.
    pub(super) fn conclude(
        &self,
        fed: Fed,
        peer_close: Option<CloseFrame>,
        buf: &mut [u8],
        events: &Sink,
    ) -> Option<Error> {
        match fed {
            Fed::NeedMore => None,
            Fed::Closed => {
                let frame = match peer_close {
                    Some(f) => f,
                    None => match lock(&self.link).peer_close.clone() {
                        Some(f) => f,
                        None => CloseFrame {
                            code: 1005,
                            reason: String::new(),
                        },
                    },
                };
                {
                    // The peer gets one close timeout to close TCP, unless a
                    // close of ours already runs on an earlier deadline.
                    let mut link = lock(&self.link);
                    link.peer_close = Some(frame.clone());
                    let limit = Deadline::after(self.options.close_timeout);
                    link.close_deadline = Some(link.close_deadline.map_or(limit, |d| d.min(limit)));
                }
                self.link_changed.notify_all();
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
            Fed::Failed(e) => {
                let Some((status, code, reason)) = violation(&e) else {
                    // The peer closed TCP without a close handshake.
                    let failure = lock(&self.link).failure.clone();
                    return Some(failure.unwrap_or_else(|| Error::Io {
                        peer: self.peer.clone(),
                        what: "receiving".into(),
                        status: Status::ConnectionReset,
                        source: Arc::new(io::Error::new(
                            io::ErrorKind::ConnectionReset,
                            "the peer closed the connection without a close frame",
                        )),
                    }));
                };
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
                lock(&self.link).violation = Some(CloseFrame {
                    code,
                    reason: reason_for_frame(&reason),
                });
                if self.send_end(events, error.clone()) {
                    self.wait_for_end_taken();
                }
                self.send_violation_close();
                {
                    let mut link = lock(&self.link);
                    link.failure.get_or_insert(error);
                    link.close_deadline = Some(Deadline::after(self.options.close_timeout));
                }
                self.link_changed.notify_all();
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
        let mut link = lock(&self.link);
        link.end_sent = true;
        link.end_error = Some(end);
        drop(link);
        self.link_changed.notify_all();
        received
    }

    /// Waits (up to the close timeout) until the receiving side has taken the
    /// End event, or a close of ours or a failure makes waiting moot.
    pub(super) fn wait_for_end_taken(&self) {
        let deadline = Deadline::after(self.options.close_timeout);
        let mut link = lock(&self.link);
        while !link.end_taken && link.our_close.is_none() && link.failure.is_none() {
            if deadline.has_passed() {
                return;
            }
            link = wait_until(&self.link_changed, link, deadline);
        }
    }

    /// The receiving side has taken the End event: a close for a protocol
    /// violation goes out now, before anything the program does next (such
    /// as dropping the socket, which would close with 1000 or 1001).
    pub(crate) fn end_taken(&self) {
        lock(&self.link).end_taken = true;
        self.link_changed.notify_all();
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
            let mut ws = self.proto();
            let Some(frame) = lock(&self.link).violation.take() else {
                return;
            };
            let _ = ws.close(Some(tungstenite::protocol::CloseFrame {
                code: CloseCode::from(frame.code),
                reason: frame.reason.into(),
            }));
        }
        self.flush_leftovers();
    }

    /// Ends a connection whose close frame has been sent or received: push
    /// out what is queued (bounded by the close timeout), then wait for the
    /// peer to close TCP, discarding what it still sends. The server (and a
    /// side that saw a protocol violation) closes its sending half first, as
    /// RFC 6455 asks.
    pub(super) fn finish(&self, buf: &mut [u8], violated: bool) {
        let deadline = lock(&self.link)
            .close_deadline
            .unwrap_or_else(|| Deadline::after(self.options.close_timeout));
        {
            // The close frame first, then TLS close_notify: a peer that reads
            // close_notify reads nothing after it.
            let mut wire = lock(&self.wire);
            let budget = Some((deadline, self.options.close_timeout));
            let _ = self.drain(&mut wire, budget);
            if self.role == Role::Server || violated {
                self.transport.queue_close_notify();
                let _ = self.drain(&mut wire, budget);
            }
        }
        if self.role == Role::Server || violated {
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
