//! Messages in parts: [`MessageReader`] reads one incoming message as its
//! frames arrive, [`MessageWriter`] sends one as a frame per write.
//! Also `recv`'s way to the next whole message (`MessageWebSocket::next`),
//! assembling parts with `Inbox::assemble`.
//!
//! Run by caller threads. A reader holds the socket's receiving side (other
//! receivers wait); a writer holds the connection's wire (other senders
//! wait) until it is finished.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::MutexGuard;

use tungstenite::Bytes;

use crate::engine::{Fragments, Incoming, Utf8Check};
use crate::error::{Error, Result, Status};
use crate::inbox::{Assembled, Inbox, Next, Wait};
use crate::message::{Message, MessageKind};
use crate::message_socket::{MessageWebSocket, Sender};

impl MessageWebSocket {
    pub(crate) fn next(&self, wait: Wait) -> Result<Option<Message>> {
        // Another thread receiving (in `recv`, or holding a MessageReader)
        // takes what comes: `try_recv` has nothing, and never waits for it.
        let mut events = match wait {
            Wait::No => match crate::sync::try_lock(&self.events) {
                Some(events) => events,
                // The end, once seen, is every call's answer.
                None => return self.ended.get().map_or(Ok(None), |e| Err(e.clone())),
            },
            _ => crate::sync::lock(&self.events),
        };
        let deadline = match wait {
            Wait::For(d) => Some(crate::time::Deadline::after(d)),
            _ => None,
        };
        loop {
            let wait = match (&wait, deadline) {
                (Wait::For(_), Some(d)) => Wait::For(d.left()),
                (Wait::No, _) => Wait::No,
                _ => Wait::Forever,
            };
            match self.next_item(&mut events, wait)? {
                None => return Ok(None),
                // With parts on, a message that came whole in one read is
                // handed on unchecked: the limit holds here.
                Some(Incoming::Message(m)) if m.len() > self.max_message() => {
                    return Err(self.too_big())
                }
                Some(Incoming::Message(m)) => return Ok(Some(m)),
                Some(Incoming::Part(p)) => match events.assemble(p, self.max_message()) {
                    Assembled::Whole(m) => return Ok(Some(m)),
                    Assembled::More => {}
                    Assembled::TooBig => return Err(self.too_big()),
                },
            }
        }
    }

    fn max_message(&self) -> usize {
        self.sender.shared.options.max_message_size
    }

    /// A message assembled for `recv` grew past `max_message_size`: the
    /// connection closes with 1009, and that is the end.
    fn too_big(&self) -> Error {
        let limit = self.max_message();
        let _ = self.sender.shared.close(1009, "message too big", false);
        let error = Error::Protocol {
            peer: self.sender.shared.peer_addr().to_string(),
            status: Status::MessageTooBig,
            code: 1009,
            reason: format!("the peer sent a message over the limit of {limit} bytes"),
        };
        self.ended.get_or_init(|| error).clone()
    }

    /// The next message or part (`Ok(None)`: nothing within the wait).
    pub(crate) fn next_item(&self, events: &mut Inbox, wait: Wait) -> Result<Option<Incoming>> {
        // Ended first: a message over the limit ends the socket even with
        // messages of its batch still queued.
        if let Some(e) = self.ended.get() {
            return Err(e.clone());
        }
        if let Some(item) = events.pop_ready() {
            return Ok(Some(item));
        }
        match events.next(wait) {
            Next::Item(item) => Ok(Some(item)),
            Next::End(e) => Err(self.ended.get_or_init(|| e).clone()),
            Next::Empty => Ok(None),
            Next::Gone => {
                // The reader always sends End before it exits; be safe anyway.
                let e = Error::Resource {
                    what: format!("receiving from {}", self.sender.shared.peer_addr()),
                    reason: "the reader thread ended without a reason".into(),
                };
                Err(self.ended.get_or_init(|| e).clone())
            }
        }
    }

    /// Waits for the next message and returns a reader over its payload,
    /// which yields the bytes as the message's frames arrive and `Ok(0)` at
    /// its end: a message of any size passes through a small buffer (the
    /// Windows `PartialMessage` mode; Python websockets' `recv_streaming`).
    ///
    /// - `max_message_size` does not apply to a message read this way;
    ///   `max_frame_size` bounds each of its frames, and memory stays
    ///   bounded by that and the receive queue limit.
    /// - Text is still checked as UTF-8 as it arrives: the first invalid
    ///   byte closes the connection with 1007, and the reader's next `read`
    ///   fails.
    /// - Other receiving calls on this socket wait until the reader is
    ///   dropped. A reader dropped before the end skips the rest of its
    ///   message: the next `recv` returns the message after it.
    /// - The first call switches this socket to handing on messages in
    ///   parts when they do not arrive whole in one read; `recv` then
    ///   assembles them, with the same result as before.
    ///
    /// ```
    /// # let server = wsock::Server::bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/", server.local_addr()?);
    /// # let peer = std::thread::spawn(move || -> wsock::Result<()> {
    /// #     let ws = server.accept()?.accept_message()?;
    /// #     ws.send_binary(vec![7u8; 1 << 20])?;
    /// #     let _ = ws.recv(); // our close
    /// #     Ok(())
    /// # });
    /// use std::io::Read;
    /// let ws = wsock::MessageWebSocket::connect(&url)?;
    /// let mut reader = ws.recv_reader()?;
    /// let (mut buf, mut total) = ([0u8; 64 << 10], 0);
    /// loop {
    ///     let n = reader.read(&mut buf)?;
    ///     if n == 0 {
    ///         break; // the end of this message
    ///     }
    ///     total += n;
    /// }
    /// assert_eq!(total, 1 << 20);
    /// # drop(reader); ws.close(1000, "")?; peer.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_reader(&self) -> Result<MessageReader<'_>> {
        self.sender.shared.want_parts();
        let mut events = crate::sync::lock(&self.events);
        // What `recv` had assembled of a message when it timed out.
        if let Some((text, data)) = events.partial.take() {
            return Ok(MessageReader::new(self, events, text, data.into(), false));
        }
        loop {
            let item = self
                .next_item(&mut events, Wait::Forever)?
                .expect("a wait without a timeout returns something");
            match item {
                Incoming::Message(m) => {
                    let text = m.is_text();
                    return Ok(MessageReader::new(
                        self,
                        events,
                        text,
                        m.into_payload(),
                        true,
                    ));
                }
                Incoming::Part(p) if events.skipping => events.skipping = !p.fin,
                Incoming::Part(p) => {
                    return Ok(MessageReader::new(self, events, p.text, p.data, p.fin));
                }
            }
        }
    }

    /// Starts sending one message in parts: each `write` to the returned
    /// writer sends one frame (the Windows `SendNonfinalFrameAsync`,
    /// websockets' `send(iterable)`), and [`MessageWriter::finish`] (or a
    /// drop) sends the final frame. See [`Sender::send_writer`].
    ///
    /// ```
    /// # let server = wsock::Server::bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/", server.local_addr()?);
    /// # let peer = std::thread::spawn(move || -> wsock::Result<wsock::Message> {
    /// #     let ws = server.accept()?.accept_message()?;
    /// #     ws.recv()
    /// # });
    /// use std::io::Write;
    /// use wsock::MessageKind;
    /// let ws = wsock::MessageWebSocket::connect(&url)?;
    /// let mut writer = ws.send_writer(MessageKind::Text)?;
    /// for word in ["one ", "message, ", "three frames"] {
    ///     writer.write_all(word.as_bytes())?;
    /// }
    /// writer.finish()?;
    /// assert_eq!(peer.join().unwrap()?.as_text(), Some("one message, three frames"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_writer(&self, kind: MessageKind) -> Result<MessageWriter<'_>> {
        self.sender.send_writer(kind)
    }
}

impl Sender {
    /// Starts sending one message in parts (see
    /// [`MessageWebSocket::send_writer`]).
    ///
    /// Until the writer is finished or dropped, other senders on this
    /// connection wait (no message comes between its frames), and so do
    /// our replies to the peer's pings and our close frame: write the parts
    /// promptly. A send on this same thread while the writer lives would
    /// wait for ever: finish the writer first. Each write must be done
    /// within the send timeout.
    pub fn send_writer(&self, kind: MessageKind) -> Result<MessageWriter<'_>> {
        let fragments = self.shared.fragments(kind == MessageKind::Text)?;
        Ok(MessageWriter {
            fragments: Some(fragments),
            kind,
            utf8: Utf8Check::default(),
            held: Vec::new(),
        })
    }
}

/// One incoming message's payload as its frames arrive; implements
/// [`Read`], returning `Ok(0)` at the message's end. From
/// [`MessageWebSocket::recv_reader`].
pub struct MessageReader<'a> {
    ws: &'a MessageWebSocket,
    events: MutexGuard<'a, Box<Inbox>>,
    kind: MessageKind,
    current: Bytes,
    /// The last part is here: after `current`, the message ends.
    fin: bool,
}

impl fmt::Debug for MessageReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageReader")
            .field("kind", &self.kind)
            .field("buffered", &self.current.len())
            .field("last_part_here", &self.fin)
            .finish()
    }
}

impl<'a> MessageReader<'a> {
    fn new(
        ws: &'a MessageWebSocket,
        events: MutexGuard<'a, Box<Inbox>>,
        text: bool,
        current: Bytes,
        fin: bool,
    ) -> Self {
        let kind = if text {
            MessageKind::Text
        } else {
            MessageKind::Binary
        };
        MessageReader {
            ws,
            events,
            kind,
            current,
            fin,
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }
}

impl Read for MessageReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.current.is_empty() || buf.is_empty() {
                let n = self.current.len().min(buf.len());
                buf[..n].copy_from_slice(&self.current[..n]);
                self.current = self.current.slice(n..);
                return Ok(n);
            }
            if self.fin {
                return Ok(0);
            }
            let item = self
                .ws
                .next_item(&mut self.events, Wait::Forever)
                .map_err(Error::into_io)?
                .expect("a wait without a timeout returns something");
            match item {
                Incoming::Part(p) => {
                    self.current = p.data;
                    self.fin = p.fin;
                }
                // Not reached: the decoder hands on the rest of a message
                // begun in parts in parts.
                Incoming::Message(_) => {
                    return Err(io::Error::other("a whole message came inside another"))
                }
            }
        }
    }
}

impl Drop for MessageReader<'_> {
    fn drop(&mut self) {
        if !self.fin {
            self.events.skipping = true;
        }
    }
}

/// One outgoing message sent in parts: each `write` is a frame. From
/// [`MessageWebSocket::send_writer`] or [`Sender::send_writer`];
/// [`finish`](Self::finish) sends the final frame (a drop does too,
/// without reporting an error).
///
/// A text writer takes UTF-8 in any slices (a character may be split
/// between writes) and refuses bytes that are not UTF-8 with
/// `ErrorKind::InvalidData`, sending nothing of that write.
pub struct MessageWriter<'a> {
    fragments: Option<Fragments<'a>>,
    kind: MessageKind,
    utf8: Utf8Check,
    /// The start of a character split between writes (text), held back.
    held: Vec<u8>,
}

impl fmt::Debug for MessageWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageWriter")
            .field("kind", &self.kind)
            .field("finished", &self.fragments.is_none())
            .finish()
    }
}

impl MessageWriter<'_> {
    /// Sends the final frame: the message is complete.
    ///
    /// Fails with [`Status::InvalidArgument`] if a text message ends inside
    /// a character (the message ends without that character's bytes).
    pub fn finish(mut self) -> Result<()> {
        self.end()
    }

    fn end(&mut self) -> Result<()> {
        let Some(mut fragments) = self.fragments.take() else {
            return Ok(());
        };
        fragments.frame(&[], true)?;
        if !self.held.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "the text message ended inside a character; its last {} bytes were not sent",
                self.held.len()
            )));
        }
        Ok(())
    }

    /// Sends `payload` as one frame; for text, the bytes of a character it
    /// leaves unfinished wait for the next write.
    fn send_part(&mut self, payload: &[u8]) -> Result<()> {
        let fragments = self
            .fragments
            .as_mut()
            .ok_or_else(|| Error::InvalidArgument("the message is finished".into()))?;
        if self.kind == MessageKind::Binary {
            return fragments.frame(payload, false);
        }
        if self.held.is_empty() && !payload.is_empty() && std::str::from_utf8(payload).is_ok() {
            // Whole characters, none held: the write as it is.
            return fragments.frame(payload, false);
        }
        let mut check = std::mem::take(&mut self.utf8);
        let valid = check.feed(payload);
        if !valid {
            self.utf8 = Utf8Check::default();
            self.utf8.feed(&self.held);
            return Err(Error::InvalidArgument(
                "a text message's bytes are not UTF-8".into(),
            ));
        }
        let keep = check.carried();
        self.utf8 = check;
        let mut whole = std::mem::take(&mut self.held);
        whole.extend_from_slice(payload);
        let cut = whole.len() - keep;
        self.held = whole.split_off(cut);
        if whole.is_empty() {
            return Ok(());
        }
        fragments.frame(&whole, false)
    }
}

impl Write for MessageWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.send_part(buf).map_err(|e| match e.status() {
            Status::InvalidArgument => io::Error::new(io::ErrorKind::InvalidData, e),
            _ => e.into_io(),
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // each write is on the wire when it returns
    }
}

impl Drop for MessageWriter<'_> {
    fn drop(&mut self) {
        let _ = self.end();
    }
}
