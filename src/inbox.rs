//! The receiving side of a connection: the end of its channel, the rest of
//! the last batch, and a receiving thread that reads the socket itself
//! while the reader thread stands aside. Run by threads in `recv` and
//! stream `read`; takes the engine's `read_slot` through
//! [`Engine::receive_directly`].

use std::collections::VecDeque;
use std::sync::atomic::Ordering::AcqRel;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::Bytes;

use crate::engine::{Engine, Event, Incoming, Part};
use crate::error::Error;
use crate::message::Message;
use crate::time::Deadline;

/// The receiving end of a socket's channel, with the rest of the last batch.
///
/// A message leaves the receive queue's account (the backpressure limit)
/// when it is taken, not when its batch leaves the channel.
pub(crate) struct Inbox {
    rx: mpsc::Receiver<Event>,
    ready: VecDeque<Incoming>,
    /// `ready` came through the channel (and counts against the receive
    /// queue limit), not from a read of this thread's own.
    ready_queued: bool,
    shared: Arc<Engine>,
    /// A message arriving in parts, assembled so far (for `recv`, which
    /// returns whole messages): whether it is text, and its bytes.
    pub(crate) partial: Option<(bool, Vec<u8>)>,
    /// The rest of the message under way is not wanted (its reader was
    /// dropped early, or it was too large): its parts are dropped.
    pub(crate) skipping: bool,
}

impl Inbox {
    pub(crate) fn new(rx: mpsc::Receiver<Event>, shared: Arc<Engine>) -> Inbox {
        Inbox {
            rx,
            ready: VecDeque::new(),
            ready_queued: false,
            shared,
            partial: None,
            skipping: false,
        }
    }

    /// The next message of the last batch, if any is left.
    #[inline]
    pub(crate) fn pop_ready(&mut self) -> Option<Incoming> {
        let m = self.ready.pop_front()?;
        if self.ready_queued {
            self.shared.consumed(m.len());
        }
        Some(m)
    }

    /// The next message (of the last batch first, then from the channel,
    /// then read from the socket by this thread if the reader thread stands
    /// aside), or the end.
    pub(crate) fn next(&mut self, wait: Wait) -> Next {
        if let Some(m) = self.pop_ready() {
            return Next::Item(m);
        }
        let deadline = match wait {
            Wait::No => {
                return self.take(self.rx.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => Next::Empty,
                    TryRecvError::Disconnected => Next::Gone,
                }))
            }
            Wait::Forever => None,
            Wait::For(d) => Deadline::after(d).instant(),
        };
        self.shared.receivers_waiting.fetch_add(1, AcqRel);
        let next = self.wait_for_next(deadline);
        self.shared.receivers_waiting.fetch_sub(1, AcqRel);
        next
    }

    fn wait_for_next(&mut self, deadline: Option<Instant>) -> Next {
        loop {
            match self.rx.try_recv() {
                Ok(event) => return self.take(Ok(event)),
                Err(TryRecvError::Disconnected) => return Next::Gone,
                Err(TryRecvError::Empty) => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Next::Empty;
            }
            let mut peeked = None;
            let rx = &self.rx;
            // `ready` is empty: its allocation is lent to the read state.
            let mut batch = Vec::from(std::mem::take(&mut self.ready));
            let direct = self.shared.receive_directly(
                deadline,
                || {
                    peeked = rx.try_recv().ok();
                    peeked.is_some()
                },
                &mut batch,
            );
            self.ready = VecDeque::from(batch);
            self.ready_queued = false;
            if let Some(event) = peeked {
                return self.take(Ok(event));
            }
            if direct {
                if let Some(m) = self.ready.pop_front() {
                    return Next::Item(m);
                }
                // Nothing decoded yet (a timeout slice, a control frame).
            } else {
                // The reader thread reads: wait for what it hands over.
                let event = match deadline {
                    None => self.rx.recv().map_err(|_| Next::Gone),
                    Some(d) => self
                        .rx
                        .recv_timeout(d.saturating_duration_since(Instant::now()))
                        .map_err(|e| match e {
                            RecvTimeoutError::Timeout => Next::Empty,
                            RecvTimeoutError::Disconnected => Next::Gone,
                        }),
                };
                return self.take(event);
            }
        }
    }

    /// Takes one event off the channel.
    fn take(&mut self, event: std::result::Result<Event, Next>) -> Next {
        match event {
            Ok(Event::One(m)) => {
                self.shared.consumed(m.len());
                Next::Item(m)
            }
            Ok(Event::Batch(batch)) => {
                self.ready = VecDeque::from(batch);
                self.ready_queued = true;
                match self.pop_ready() {
                    Some(m) => Next::Item(m),
                    None => Next::Empty,
                }
            }
            Ok(Event::End(e)) => {
                self.shared.end_taken();
                Next::End(e)
            }
            Err(none) => none,
        }
    }
}

/// What [`Inbox::assemble`] made of a part.
pub(crate) enum Assembled {
    Whole(Message),
    /// More parts are to come.
    More,
    /// The message grew past the limit: it is dropped (the rest of it too).
    TooBig,
}

impl Inbox {
    /// Adds part `p` to the message `recv` is assembling (`limit`: the
    /// largest message): the whole message once `p` is its last part.
    pub(crate) fn assemble(&mut self, p: Part, limit: usize) -> Assembled {
        if self.skipping {
            self.skipping = !p.fin;
            return Assembled::More;
        }
        if p.first {
            self.partial = Some((p.text, Vec::with_capacity(p.data.len())));
        }
        let (text, data) = self
            .partial
            .get_or_insert_with(|| (p.text, Vec::with_capacity(p.data.len())));
        if data.len() + p.data.len() > limit {
            self.partial = None;
            self.skipping = !p.fin;
            return Assembled::TooBig;
        }
        let text = *text;
        data.extend_from_slice(&p.data);
        if !p.fin {
            return Assembled::More;
        }
        let (_, data) = self.partial.take().expect("just extended");
        let bytes = Bytes::from(data);
        // The decoder checked the text as it came: never the fallback.
        Assembled::Whole(
            Message::from_payload(text, bytes.clone()).unwrap_or(Message::Binary(bytes)),
        )
    }
}

/// What [`Inbox::next`] found.
pub(crate) enum Next {
    /// A whole message, or a part of one.
    Item(Incoming),
    /// The connection ended (delivered once).
    End(Error),
    /// Nothing arrived within the wait.
    Empty,
    /// The reader thread is gone without an End (never expected).
    Gone,
}

/// How long a receive may wait.
pub(crate) enum Wait {
    Forever,
    For(Duration),
    No,
}
