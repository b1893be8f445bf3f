//! Who reads: the reader thread, and a receiving thread that reads the
//! socket itself while the reader thread stands aside.
//!
//! Run by the reader thread (`run_reader`) and by threads in `recv`
//! (`receive_directly`). The read state lives in `read_slot` between reads;
//! only its holder reads the socket. `read_slot` is a leaf lock.

use super::*;

/// The read state lent to a receiving thread; returned with an end if the
/// thread unwinds while reading.
pub(super) struct ReceiverTurn<'a> {
    pub(super) shared: &'a Engine,
    pub(super) state: Option<Box<ReadState>>,
}
impl Drop for ReceiverTurn<'_> {
    fn drop(&mut self) {
        let Some(state) = self.state.take() else {
            return;
        };
        let mut slot = lock(&self.shared.read_slot);
        slot.state = Some(state);
        slot.over = Some(Step::Ended(Error::Resource {
            what: format!("receiving from {}", self.shared.peer),
            reason: "the receiving thread panicked while reading".into(),
        }));
        drop(slot);
        self.shared.read_slot_changed.notify_all();
    }
}
/// Who reads the socket (guarded by `read_slot`).
#[derive(Debug)]
pub(super) struct ReadSlot {
    /// `None` while a thread reads with it.
    pub(super) state: Option<Box<ReadState>>,
    /// Reads done by receiving threads: the reader thread stands aside while
    /// this moves.
    pub(super) receiver_steps: u64,
    /// A receiving thread's read ended decoding for good (it gave the state
    /// back with this): the reader thread concludes.
    pub(super) over: Option<Step>,
    /// The reader thread waits for the state to come back.
    pub(super) reader_parked: bool,
}

impl Engine {
    /// Calls the reader thread back from standing aside for good: a close
    /// or a failure is under way.
    pub(super) fn need_reader(&self) {
        if !self.reader_needed.swap(true, AcqRel) {
            let _guard = lock(&self.read_slot);
            self.read_slot_changed.notify_all();
        }
    }

    /// The reader thread's body.
    pub(super) fn run_reader(self: Arc<Self>, events: Sink) {
        let end = self.read_until_closed(&events);
        if let Some(end) = end {
            // The first failure is the end; without one (the peer closed
            // TCP without a close frame) this end is the failure.
            let failure = lock(&self.lifecycle).failed(end);
            self.send_end(&events, failure);
        }
        let timer = lock(&self.lifecycle).reader_ended();
        self.lifecycle_changed.notify_all();
        if let Some(id) = timer {
            timer::cancel(id);
        }
        self.transport.shutdown();
        trace!("reader thread for {} ends", self.peer);
    }

    /// Reads and decodes until the connection is over. Returns the End event
    /// still to be delivered (`None` if it already was).
    ///
    /// While a thread waits in `recv`, the reader thread stands aside after
    /// handing it messages, so that thread reads the socket itself on its
    /// next `recv` (no hand-over, no wake-up of a second thread per
    /// message). It takes over again once no receiving thread has read for
    /// [`STAND_ASIDE`], or at once when a close or a failure needs it.
    pub(super) fn read_until_closed(&self, events: &Sink) -> Option<Error> {
        let mut stand_aside_until: Option<Instant> = None;
        let mut seen_steps = 0;
        let (step, mut state) = loop {
            let mut slot = lock(&self.read_slot);
            if let Some(step) = slot.over.take() {
                // A receiving thread's read ended decoding; it gave the state back.
                let state = slot.state.take().expect("handed back with the end");
                break (step, state);
            }
            let needed = self.reader_needed.load(Acquire);
            if let Some(until) = stand_aside_until.filter(|_| !needed) {
                let now = Instant::now();
                if slot.receiver_steps != seen_steps {
                    // A receiving thread read meanwhile: keep standing aside.
                    seen_steps = slot.receiver_steps;
                    stand_aside_until = Some(now + STAND_ASIDE);
                    let _ = self.read_slot_changed.wait_timeout(slot, STAND_ASIDE);
                    continue;
                }
                if now < until {
                    let _ = self.read_slot_changed.wait_timeout(slot, until - now);
                    continue;
                }
            }
            let Some(mut state) = slot.state.take() else {
                // A receiving thread reads. It hands the state back when its
                // read ends; it says so only if it ended the connection or
                // we are needed, so look again now and then.
                stand_aside_until = Some(Instant::now());
                slot.reader_parked = true;
                let mut slot = wait_for(&self.read_slot_changed, slot, STAND_ASIDE_IDLE);
                slot.reader_parked = false;
                drop(slot);
                continue;
            };
            stand_aside_until = None;
            drop(slot);
            let step = self.read_step(&mut state, None, true);
            if !matches!(step, Step::More) {
                self.deliver(&mut state.batch, events);
                break (step, state);
            }
            // Someone waits in recv: after this delivery, let it read itself.
            let waiting = self.receivers_waiting.load(Acquire) > 0;
            let delivered = !state.batch.is_empty();
            // For a waiting receiver the events go out and the state goes
            // back in one step, so the receiver they wake finds the state in
            // the slot. (Only a socket's own channel has receivers; a hub's
            // delivery takes the hub's locks, so never under `read_slot`.)
            if !waiting {
                self.hand_over(&mut state.batch, events);
            }
            let mut slot = lock(&self.read_slot);
            if waiting {
                self.hand_over(&mut state.batch, events);
            }
            slot.state = Some(state);
            if waiting && delivered && !self.reader_needed.load(Acquire) {
                seen_steps = slot.receiver_steps;
                stand_aside_until = Some(Instant::now() + STAND_ASIDE);
            }
            drop(slot);
            self.flush_leftovers();
        };
        match step {
            Step::More => None,
            Step::Over(fed, peer_close) => {
                state.buf.clear();
                state.buf.resize(READ_BUFFER_MIN, 0);
                self.conclude(fed, peer_close, &mut state.buf, events)
            }
            Step::Ended(e) => Some(e),
        }
    }

    /// For a thread waiting in `recv` with nothing queued: reads and decodes
    /// the socket itself if the reader thread stands aside, puts what it
    /// decoded in `out` and returns true (`out` maybe empty: look at the
    /// channel again), or returns false if the reader thread is reading
    /// (then wait for its delivery). Waits at most until `deadline`.
    ///
    /// `out` must be empty; its allocation goes to the read state for the
    /// next read's messages (so a batch of hundreds of small messages is not
    /// regrown on every read).
    pub(crate) fn receive_directly(
        &self,
        deadline: Option<Instant>,
        mut has_queued: impl FnMut() -> bool,
        out: &mut Vec<Incoming>,
    ) -> bool {
        debug_assert!(out.is_empty());
        let mut slot = lock(&self.read_slot);
        if slot.over.is_some() || self.reader_needed.load(Acquire) {
            return false;
        }
        let Some(state) = slot.state.take() else {
            return false;
        };
        slot.receiver_steps += 1;
        drop(slot);
        // Should the read panic, the state goes back with an end, so the
        // reader thread still concludes and ends.
        let mut lent = ReceiverTurn {
            shared: self,
            state: Some(state),
        };
        let state = lent.state.as_mut().expect("just lent");
        // The reader thread delivers before it hands the state back, so
        // whatever it decoded is in the channel by now: that comes first.
        let step = if has_queued() {
            Step::More
        } else {
            let limit = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            self.read_step(state, limit, false)
        };
        std::mem::swap(&mut state.batch, out);
        if state.batch.capacity() > BATCH_CAPACITY_MAX {
            state.batch = Vec::new();
        }
        self.count_received(out);
        // What the decoding queued (pongs, a close reply) goes out now.
        self.flush_leftovers();
        let state = lent.state.take().expect("still lent");
        let mut slot = lock(&self.read_slot);
        slot.state = Some(state);
        let tell = !matches!(step, Step::More);
        if tell {
            // The end: the reader thread concludes (close handshake, End).
            slot.over = Some(step);
        }
        let parked = slot.reader_parked;
        drop(slot);
        if tell || parked || self.reader_needed.load(Acquire) {
            self.read_slot_changed.notify_all();
        }
        true
    }
}
