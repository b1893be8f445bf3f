//! The protocol state: tungstenite's `WebSocket` over an in-memory pipe,
//! which serves the bytes a reader took off the socket and collects what
//! tungstenite writes (pongs, close replies) for the outbox.
//!
//! Run by the reader thread and a receiving thread that reads (decoding),
//! and by senders and closers (control frames). Holds `proto`; releasing it
//! ([`Proto`]'s drop) takes `outbox`.

use super::*;

/// The in-memory stream tungstenite reads from and writes to: it serves
/// the bytes a reader took off the socket (starting with those that came
/// with the opening handshake), and collects what tungstenite encodes for
/// the outbox. Both sides do their handshakes themselves (`connect/`,
/// `server/`) and build the protocol state with
/// [`WebSocket::from_raw_socket`] over it.
#[derive(Debug, Default)]
pub(crate) struct Pipe {
    pub(super) input: Vec<u8>,
    pub(super) input_len: usize,
    pub(super) input_pos: usize,
    pub(super) eof: bool,
    pub(super) outbox: Vec<u8>,
}
impl Pipe {
    /// A pipe whose input starts with `tail` (bytes read with the handshake).
    pub(crate) fn memory(tail: Vec<u8>) -> Pipe {
        Pipe {
            input_len: tail.len(),
            input: tail,
            ..Pipe::default()
        }
    }
}
impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = &self.input[self.input_pos..self.input_len];
        if available.is_empty() {
            return if self.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.input_pos += n;
        Ok(n)
    }
}
impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbox.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
/// tungstenite's settings for our options.
pub(crate) fn protocol_config(options: &Options) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(PROTOCOL_READ_CHUNK)
        .write_buffer_size(0)
        .max_message_size(Some(options.max_message_size))
        .max_frame_size(Some(options.max_message_size))
}
/// The locked protocol state. Releasing it moves what tungstenite wrote
/// (pongs, close frames) into the outbox, and, once tungstenite's state has
/// closed, stops further data frames in the same step. Whatever a thread
/// queued before handing a message to the receiving side is thus queued
/// before any reply to it.
pub(super) struct Proto<'a> {
    pub(super) ws: MutexGuard<'a, WebSocket<Pipe>>,
    pub(super) shared: &'a Engine,
}
impl Deref for Proto<'_> {
    type Target = WebSocket<Pipe>;
    fn deref(&self) -> &WebSocket<Pipe> {
        &self.ws
    }
}
impl DerefMut for Proto<'_> {
    fn deref_mut(&mut self) -> &mut WebSocket<Pipe> {
        &mut self.ws
    }
}
impl Drop for Proto<'_> {
    fn drop(&mut self) {
        let closing = !self.ws.can_write() && self.shared.writable.load(Relaxed);
        let written = &mut self.ws.get_mut().outbox;
        if written.is_empty() && !closing {
            return;
        }
        let mut outbox = lock(&self.shared.outbox);
        if !written.is_empty() {
            outbox.push_control(written);
            written.clear();
            self.shared.control_end.store(outbox.queued_end, Release);
            self.shared.outbox_end.store(outbox.queued_end, Release);
            self.shared.outbox_dirty.store(true, Release);
        }
        if closing {
            self.shared.writable.store(false, Release);
        }
    }
}

impl Engine {
    pub(super) fn proto(&self) -> Proto<'_> {
        Proto {
            ws: lock(&self.proto),
            shared: self,
        }
    }

    /// Feeds `n` bytes of `buf` (`Some(0)`: end of stream; `None`: nothing
    /// new) to the protocol state and decodes all it can.
    pub(super) fn decode(
        &self,
        buf: &mut Vec<u8>,
        n: Option<usize>,
        batch: &mut Vec<Message>,
    ) -> (Decoded, Option<CloseFrame>) {
        let mut peer_close = None;
        let mut ws = self.proto();
        let pipe = ws.get_mut();
        match n {
            None => {}
            Some(0) => pipe.eof = true,
            Some(n) => {
                std::mem::swap(&mut pipe.input, buf);
                pipe.input_len = n;
                pipe.input_pos = 0;
            }
        }
        let fed = loop {
            match ws.read() {
                Ok(WireMessage::Text(t)) => batch.push(Message::Text(t)),
                Ok(WireMessage::Binary(b)) => batch.push(Message::Binary(b)),
                Ok(WireMessage::Close(frame)) => {
                    peer_close = Some(match frame {
                        Some(f) => CloseFrame {
                            code: f.code.into(),
                            reason: f.reason.to_string(),
                        },
                        None => CloseFrame {
                            code: 1005,
                            reason: String::new(),
                        },
                    });
                    break Decoded::Closed;
                }
                Ok(WireMessage::Pong(payload)) => self.pong_arrived(&payload),
                Ok(_) => {} // a ping: tungstenite queues the pong itself
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    break Decoded::NeedMore;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    break Decoded::Closed;
                }
                Err(e) => break Decoded::Failed(e),
            }
        };
        // Queue what tungstenite owes the peer (pong, close reply) in the outbox.
        let _ = ws.flush();
        if let Some(1..) = n {
            let pipe = ws.get_mut();
            std::mem::swap(&mut pipe.input, buf);
            pipe.input_len = 0;
            pipe.input_pos = 0;
        }
        (fed, peer_close)
    }
}
