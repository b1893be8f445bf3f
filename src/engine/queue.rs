//! The send queue: messages queued without waiting for the wire
//! (`try_send`, broadcasts), within the outbound queue limit.
//!
//! Run by caller threads. Takes `outbox`, then `lifecycle`; after queueing,
//! a non-blocking flush (`wire` by `try_lock` only). Never blocks: what the
//! socket cannot take now leaves with the next writer or the timer's flush
//! retries.

use super::*;

/// Why a frame was not queued.
#[derive(Debug)]
pub(crate) enum NotQueued {
    /// The queue holds `outbound_queue_limit` bytes or more with this frame.
    Full,
    /// Nothing can be sent any more: why.
    Closed(Error),
}

impl Engine {
    /// Bytes queued for the wire and not yet written (the outbox and what
    /// the holder of `wire` took from it). A message a sender writes
    /// straight from its own buffer (a blocking send) is not counted.
    pub(crate) fn queued_bytes(&self) -> u64 {
        let end = self.outbox_end.load(Acquire);
        end.saturating_sub(self.written_end.load(Acquire))
    }

    /// Queues a data frame of `len` bytes that `encode` appends, unless the
    /// queue is full (an empty queue takes any frame) or the connection
    /// cannot send; then writes what it can without blocking.
    pub(crate) fn try_queue(
        &self,
        len: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> std::result::Result<(), NotQueued> {
        let mut outbox = lock(&self.outbox);
        if !self.writable.load(Relaxed) {
            drop(outbox);
            return Err(NotQueued::Closed(self.not_writable()));
        }
        if let Some(e) = lock(&self.lifecycle).failure() {
            return Err(NotQueued::Closed(e.clone()));
        }
        let queued = outbox
            .queued_end
            .saturating_sub(self.written_end.load(Acquire));
        let limit = self.options.outbound_queue_limit as u64;
        if queued > 0 && queued.saturating_add(len as u64) > limit {
            return Err(NotQueued::Full);
        }
        outbox.push_data(encode);
        self.outbox_end.store(outbox.queued_end, Release);
        self.outbox_dirty.store(true, Release);
        drop(outbox);
        self.stats.messages_sent.fetch_add(1, Relaxed);
        self.flush_leftovers();
        Ok(())
    }

    /// [`try_queue`](Self::try_queue) for a message: masked for a client.
    pub(crate) fn try_queue_data(
        &self,
        text: bool,
        payload: &[u8],
    ) -> std::result::Result<(), NotQueued> {
        let opcode = OpCode::Data(if text { Data::Text } else { Data::Binary });
        let mask = (self.role == Role::Client).then(rand::random::<[u8; 4]>);
        let len = payload.len() + MAX_HEADER;
        self.try_queue(len, |out| encode_frame(out, opcode, payload, mask))
    }

    /// Queues a frame encoded once for many server-side connections (no
    /// mask, so every one sends the same bytes); a client connection
    /// encodes its own, masked.
    pub(crate) fn try_queue_shared(
        &self,
        frame: &SharedFrame,
    ) -> std::result::Result<(), NotQueued> {
        if self.role == Role::Client {
            return self.try_queue_data(frame.text, frame.payload());
        }
        let bytes = &frame.bytes;
        self.try_queue(bytes.len(), |out| out.extend_from_slice(bytes))
    }
}

/// One message encoded as an unmasked frame, to be queued on many
/// connections (a broadcast).
#[derive(Debug)]
pub(crate) struct SharedFrame {
    text: bool,
    bytes: Vec<u8>,
    header: usize,
}

impl SharedFrame {
    pub(crate) fn new(message: &Message) -> SharedFrame {
        let (text, payload) = (message.is_text(), message.as_bytes());
        let opcode = OpCode::Data(if text { Data::Text } else { Data::Binary });
        let mut bytes = Vec::with_capacity(payload.len() + MAX_HEADER);
        encode_frame(&mut bytes, opcode, payload, None);
        #[cfg(test)]
        ENCODED.fetch_add(1, Relaxed);
        let header = bytes.len() - payload.len();
        SharedFrame {
            text,
            bytes,
            header,
        }
    }

    fn payload(&self) -> &[u8] {
        &self.bytes[self.header..]
    }
}

/// How many shared frames were encoded (test builds only).
#[cfg(test)]
pub(crate) static ENCODED: AtomicU64 = AtomicU64::new(0);

/// How many queued bytes a batch lets build up before it writes them.
const BATCH_WRITE: u64 = 256 << 10;

impl Engine {
    /// Sends a batch of messages, in order, within one send timeout for
    /// them all: they are encoded into the outbox and leave many frames
    /// per system call. Returns how many were sent; all are on the wire
    /// when it returns `Ok`.
    pub(crate) fn send_all(&self, messages: impl IntoIterator<Item = Message>) -> Result<usize> {
        if let Some(deflater) = &self.deflater {
            return self.send_all_compressed(deflater, messages);
        }
        let timeout = self.options.send_timeout;
        let deadline = Deadline::after(timeout);
        let budget = Some((deadline, timeout));
        let mask = || (self.role == Role::Client).then(rand::random::<[u8; 4]>);
        let (mut count, mut end) = (0, 0);
        for message in messages {
            let (text, payload) = (message.is_text(), message.as_bytes());
            if payload.len() > PIECE {
                // Large: what is queued first, then the message in pieces.
                self.drain_until(&mut self.writing(), budget, true, end)?;
                self.send_data(text, payload, deadline.left())?;
                count += 1;
                continue;
            }
            let opcode = OpCode::Data(if text { Data::Text } else { Data::Binary });
            end = self.enqueue(|out| encode_frame(out, opcode, payload, mask()))?;
            self.stats.messages_sent.fetch_add(1, Relaxed);
            count += 1;
            if self.queued_bytes() >= BATCH_WRITE {
                self.drain_until(&mut self.writing(), budget, true, end)?;
            }
        }
        self.drain_until(&mut self.writing(), budget, true, end)?;
        Ok(count)
    }

    /// [`send_all`](Self::send_all) when we compress: the batch holds the
    /// wire throughout, so its messages are compressed in the order they
    /// go out (and other senders wait for the batch).
    fn send_all_compressed(
        &self,
        deflater: &Mutex<Compressor>,
        messages: impl IntoIterator<Item = Message>,
    ) -> Result<usize> {
        let timeout = self.options.send_timeout;
        let deadline = (Deadline::after(timeout), timeout);
        let budget = Some(deadline);
        let mask = || (self.role == Role::Client).then(rand::random::<[u8; 4]>);
        let (mut count, mut end) = (0, 0);
        let mut wire = self.writing();
        for message in messages {
            let (text, payload) = (message.is_text(), message.as_bytes());
            if payload.len() > PIECE {
                // Large: what is queued first, then the message in frames.
                self.drain_until(&mut wire, budget, true, end)?;
                drop(wire);
                self.send_data(text, payload, deadline.0.left())?;
                wire = self.writing();
                count += 1;
                continue;
            }
            let opcode = OpCode::Data(if text { Data::Text } else { Data::Binary });
            let mut compressor = lock(deflater);
            let (payload, compressed) = if payload.len() >= self.compress_from {
                (compressor.message(payload), true)
            } else {
                (payload, false)
            };
            if payload.len() > PIECE {
                self.send_pieces(&mut wire, opcode, payload, mask(), deadline, compressed)?;
            } else {
                end = self.enqueue(|out| {
                    let at = out.len();
                    encode_frame(out, opcode, payload, mask());
                    mark_compressed(out, at, compressed);
                })?;
            }
            compressor.sent();
            drop(compressor);
            self.stats.messages_sent.fetch_add(1, Relaxed);
            count += 1;
            if self.queued_bytes() >= BATCH_WRITE {
                self.drain_until(&mut wire, budget, true, end)?;
            }
        }
        self.drain_until(&mut wire, budget, true, end)?;
        Ok(count)
    }
}
