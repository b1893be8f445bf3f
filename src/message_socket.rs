//! Message mode: [`MessageWebSocket`] and its [`Sender`] handles, whole
//! text and binary messages.

use std::fmt;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tungstenite::protocol::Role;

use crate::engine::{Engine, Event, NotQueued};
use crate::error::{CloseFrame, Error, Result};
use crate::inbox::{Inbox, Wait};
use crate::info::Info;
use crate::message::{Message, TrySendError};
use crate::options::{Builder, Connect, Options};

/// A handle that sends on a socket from any thread.
///
/// Cheap to clone (it shares an `Arc` with the socket), `Send` and `Sync`.
/// Messages from all handles leave whole, one after another, never
/// interleaved. When the socket itself is dropped the connection closes and
/// sends through a handle fail with [`Status::Closed`](crate::Status::Closed).
///
/// ```no_run
/// # let ws = wsock::MessageWebSocket::connect("ws://127.0.0.1:9001")?;
/// let tx = ws.sender();
/// std::thread::spawn(move || tx.send_text("from another thread"));
/// let reply = ws.recv()?;
/// # Ok::<(), wsock::Error>(())
/// ```
#[derive(Clone)]
pub struct Sender {
    pub(crate) shared: Arc<Engine>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("peer", &self.shared.peer_addr())
            .finish()
    }
}

impl Sender {
    /// Sends a text message; returns once it is written to the socket,
    /// after everything queued before it (the send queue is not a place
    /// for it to wait: a blocking send waits for the wire itself), or fails
    /// after the send timeout, which then ends the connection. To queue
    /// without waiting, see [`try_send`](Sender::try_send).
    pub fn send_text(&self, text: impl AsRef<str>) -> Result<()> {
        let send_timeout = self.shared.options.send_timeout;
        self.shared
            .send_data(true, text.as_ref().as_bytes(), send_timeout)
    }

    /// Sends a binary message; returns once it is written to the socket.
    pub fn send_binary(&self, data: impl AsRef<[u8]>) -> Result<()> {
        let send_timeout = self.shared.options.send_timeout;
        self.shared.send_data(false, data.as_ref(), send_timeout)
    }

    /// Sends a whole message.
    pub fn send(&self, message: Message) -> Result<()> {
        match &message {
            Message::Text(t) => self.send_text(t.as_str()),
            Message::Binary(b) => self.send_binary(b),
        }
    }

    /// Sends a batch of messages in order, within one
    /// [`send_timeout`](crate::Builder::send_timeout) for them all, and
    /// returns how many were sent once all are on the wire. They leave many
    /// frames per system call, so a burst of small messages goes at memory
    /// speed rather than one system call each. Each message stays whole,
    /// but the batch is not atomic: another thread's message may come
    /// between two of its messages. On an error, the messages before it
    /// may have been sent.
    ///
    /// ```
    /// # let (client, server) = {
    /// #     let s = wsock::Server::bind("127.0.0.1:0")?;
    /// #     let url = format!("ws://{}/", s.local_addr()?);
    /// #     let t = std::thread::spawn(move || s.incoming().next().unwrap()?.accept_message());
    /// #     (wsock::MessageWebSocket::connect(&url)?, t.join().unwrap()?)
    /// # };
    /// let prices = (0..1000).map(|i| wsock::Message::from(format!("tick {i}")));
    /// assert_eq!(server.send_all(prices)?, 1000);
    /// assert_eq!(client.recv()?.as_text(), Some("tick 0"));
    /// # Ok::<(), wsock::Error>(())
    /// ```
    pub fn send_all(&self, messages: impl IntoIterator<Item = Message>) -> Result<usize> {
        self.shared.send_all(messages)
    }

    /// Queues a message without waiting: `Ok` once it is queued (it leaves
    /// as soon as the socket takes it, in order with every other send),
    /// [`TrySendError::Full`] at once if the send queue holds
    /// `outbound_queue_limit` bytes or more with it (an empty queue takes
    /// any message), [`TrySendError::Closed`] if the connection cannot send
    /// any more. The message comes back in the error.
    ///
    /// For a server pushing to many clients: a client that stops reading
    /// fills its own queue, and nobody waits for it.
    ///
    /// Queued bytes are written without blocking (`MSG_DONTWAIT`), now and
    /// by the timer's retries while the peer makes room. That needs Unix:
    /// on other targets they leave only with the next blocking send or
    /// waiting `close` on the connection.
    pub fn try_send(&self, message: Message) -> std::result::Result<(), TrySendError> {
        let (text, payload) = (message.is_text(), message.as_bytes());
        match self.shared.try_queue_data(text, payload) {
            Ok(()) => Ok(()),
            Err(NotQueued::Full) => Err(TrySendError::Full(message)),
            Err(NotQueued::Closed(e)) => Err(TrySendError::Closed(message, e)),
        }
    }

    /// Sends a ping with up to 125 bytes of payload; the peer's reader
    /// answers with a pong, which wsock consumes (and times: see
    /// [`Info::rtt`]). Returns once the ping is on the wire.
    pub fn ping(&self, payload: impl AsRef<[u8]>) -> Result<()> {
        self.shared.ping(payload.as_ref()).map(drop)
    }

    /// Pings the peer and waits up to `timeout` for its pong: the round
    /// trip, through both sides' reader threads. A Timeout if no pong came
    /// in time (the connection lives on), the connection's error if it
    /// ended.
    pub fn round_trip(&self, timeout: Duration) -> Result<Duration> {
        self.shared.round_trip(timeout)
    }

    /// A number unique among this process's connections (the same for
    /// every handle of one connection).
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.peer_addr()
    }

    /// Starts the close handshake with `code` and `reason`, and waits up to
    /// the close timeout for the peer's close frame; see
    /// [`MessageWebSocket::close`].
    pub fn close(&self, code: u16, reason: &str) -> Result<()> {
        self.shared.close(code, reason, true)
    }
}

/// A WebSocket in message mode: whole text and binary messages.
///
/// Full duplex: one thread can block in [`recv`](Self::recv) while others
/// [`send`](Self::send) through `&self` or through [`sender`](Self::sender)
/// handles. A reader thread owned by the socket reads the connection,
/// answers pings and close frames, and queues messages for `recv`.
///
/// Dropping the socket starts a clean close (code 1000 from a client, 1001
/// from a server) without blocking; the reader thread ends when the peer
/// answers, or after the close timeout.
///
/// ```
/// use wsock::{Message, MessageWebSocket, Server};
///
/// let server = Server::bind("127.0.0.1:0")?;
/// let url = format!("ws://{}/echo", server.local_addr()?);
/// std::thread::spawn(move || -> Result<(), wsock::Error> {
///     let ws = server.incoming().next().unwrap()?.accept_message()?;
///     for m in ws.messages() {
///         ws.send(m?)?;
///     }
///     Ok(())
/// });
///
/// let ws = MessageWebSocket::connect(&url)?;
/// ws.send_text("Hello, World!")?;
/// assert_eq!(ws.recv()?, Message::Text("Hello, World!".into()));
/// ws.close(1000, "done")?;
/// assert_eq!(ws.recv().unwrap_err().close_frame().unwrap().code, 1000);
/// # Ok::<(), wsock::Error>(())
/// ```
pub struct MessageWebSocket {
    pub(crate) sender: Sender,
    pub(crate) events: Mutex<Box<Inbox>>,
    pub(crate) ended: OnceLock<Error>,
}

impl fmt::Debug for MessageWebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageWebSocket")
            .field("local_addr", &self.sender.shared.local_addr())
            .field("peer_addr", &self.sender.shared.peer_addr())
            .finish()
    }
}

impl MessageWebSocket {
    /// Connects to a `ws://` URL with the default options.
    ///
    /// ```no_run
    /// let ws = wsock::MessageWebSocket::connect("ws://127.0.0.1:9001/chat")?;
    /// # Ok::<(), wsock::Error>(())
    /// ```
    pub fn connect(url: &str) -> Result<MessageWebSocket> {
        Self::builder().connect(url)
    }

    /// The Control: options to set before connecting.
    pub fn builder() -> Builder<MessageWebSocket> {
        Builder::new()
    }

    pub(crate) fn from_engine(shared: Arc<Engine>, events: mpsc::Receiver<Event>) -> Self {
        MessageWebSocket {
            events: Mutex::new(Box::new(Inbox::new(events, Arc::clone(&shared)))),
            sender: Sender { shared },
            ended: OnceLock::new(),
        }
    }

    /// Sends a text message; returns once it is written to the socket.
    pub fn send_text(&self, text: impl AsRef<str>) -> Result<()> {
        self.sender.send_text(text)
    }

    /// Queues a message without waiting; see [`Sender::try_send`].
    pub fn try_send(&self, message: Message) -> std::result::Result<(), TrySendError> {
        self.sender.try_send(message)
    }

    /// Sends a batch of messages, many frames per system call; see
    /// [`Sender::send_all`].
    pub fn send_all(&self, messages: impl IntoIterator<Item = Message>) -> Result<usize> {
        self.sender.send_all(messages)
    }

    /// Sends a ping; see [`Sender::ping`].
    pub fn ping(&self, payload: impl AsRef<[u8]>) -> Result<()> {
        self.sender.ping(payload)
    }

    /// Pings the peer and waits up to `timeout` for its pong; see
    /// [`Sender::round_trip`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let server = wsock::Server::bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/", server.local_addr()?);
    /// # std::thread::spawn(move || {
    /// #     let ws = server.incoming().next().unwrap()?.accept_message()?;
    /// #     ws.recv()
    /// # });
    /// let ws = wsock::MessageWebSocket::connect(&url)?;
    /// let rtt = ws.round_trip(Duration::from_secs(5))?;
    /// // The reader thread timed the same pong, from a little later.
    /// assert!(ws.info().rtt.is_some_and(|seen| seen <= rtt));
    /// # Ok::<(), wsock::Error>(())
    /// ```
    pub fn round_trip(&self, timeout: Duration) -> Result<Duration> {
        self.sender.round_trip(timeout)
    }

    /// Sends a binary message; returns once it is written to the socket.
    pub fn send_binary(&self, data: impl AsRef<[u8]>) -> Result<()> {
        self.sender.send_binary(data)
    }

    /// Sends a whole message.
    pub fn send(&self, message: Message) -> Result<()> {
        self.sender.send(message)
    }

    /// Blocks until the next whole message arrives.
    ///
    /// After the connection ends it returns the same error every time: for a
    /// close handshake one whose [`close_frame`](Error::close_frame) is the
    /// peer's code and reason; for an abnormal end the cause
    /// ([`Status::ConnectionReset`](crate::Status::ConnectionReset),
    /// [`Status::Timeout`](crate::Status::Timeout), ...). Messages that
    /// arrived before the end are all returned first.
    #[inline]
    pub fn recv(&self) -> Result<Message> {
        self.next(Wait::Forever)
            .map(|m| m.expect("an unbounded wait returns a message"))
    }

    /// Like [`recv`](Self::recv), but gives up after `timeout` with an error
    /// of status [`Timeout`](crate::Status::Timeout); the connection stays usable.
    ///
    /// A connection that ended because of a deadline (a keepalive pong that
    /// never came) also reports status `Timeout`. To tell "nothing yet"
    /// from "the end" by the result's shape, use
    /// [`recv_for`](Self::recv_for): `Ok(None)` is nothing yet, `Err` is
    /// always the end.
    ///
    /// Receiving is one thread at a time: while another thread is in
    /// `recv` (or holds a [`MessageReader`](crate::MessageReader)), this
    /// waits for it to finish first, which may be longer than `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message> {
        match self.next(Wait::For(timeout))? {
            Some(m) => Ok(m),
            None => Err(Error::Timeout {
                what: format!(
                    "waiting for a message from {}",
                    self.sender.shared.peer_addr()
                ),
                after: timeout,
            }),
        }
    }

    /// The end of the connection, once a receive call has reported it
    /// (`None` before): the peer's close frame after a close handshake
    /// (the Closed event), `None` for an abnormal end. For after a
    /// [`messages`](Self::messages) loop, which ends without an error on a
    /// normal close:
    ///
    /// ```
    /// # let server = wsock::Server::bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/", server.local_addr()?);
    /// # std::thread::spawn(move || -> wsock::Result<()> {
    /// #     let ws = server.accept()?.accept_message()?;
    /// #     ws.send_text("bye")?;
    /// #     ws.close(1000, "that's all")
    /// # });
    /// let ws = wsock::MessageWebSocket::connect(&url)?;
    /// for message in ws.messages() {
    ///     println!("{:?}", message?);
    /// }
    /// let closed = ws.close_frame().expect("a close handshake");
    /// assert_eq!((closed.code, closed.reason.as_str()), (1000, "that's all"));
    /// # Ok::<(), wsock::Error>(())
    /// ```
    pub fn close_frame(&self) -> Option<CloseFrame> {
        self.ended.get()?.close_frame().cloned()
    }

    /// Returns a message if one is already queued, `Ok(None)` if none is;
    /// `Err` only when the connection has ended. Never blocks: while another
    /// thread receives (in [`recv`](Self::recv), or holding a
    /// [`MessageReader`](crate::MessageReader)), the messages are that
    /// thread's and this returns `Ok(None)`.
    pub fn try_recv(&self) -> Result<Option<Message>> {
        self.next(Wait::No)
    }

    /// Waits up to `timeout` for a message: `Ok(None)` if none came (the
    /// connection lives on), `Err` only when the connection has ended. The
    /// same shape as [`try_recv`](Self::try_recv) (and as
    /// [`Hub::recv_timeout`](crate::Hub::recv_timeout)'s `Option`), so a
    /// loop tells "nothing yet" from "the end" without looking at a status.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let server = wsock::Server::bind("127.0.0.1:0")?;
    /// # let url = format!("ws://{}/", server.local_addr()?);
    /// # std::thread::spawn(move || { let ws = server.accept()?.accept_message()?; ws.recv() });
    /// let ws = wsock::MessageWebSocket::connect(&url)?;
    /// match ws.recv_for(Duration::from_millis(50))? {
    ///     Some(message) => println!("got {message:?}"),
    ///     None => println!("nothing yet; the connection is still open"),
    /// }
    /// # Ok::<(), wsock::Error>(())
    /// ```
    pub fn recv_for(&self, timeout: Duration) -> Result<Option<Message>> {
        self.next(Wait::For(timeout))
    }

    /// Iterates over incoming messages; ends (`None`) after a normal close
    /// (code 1000, 1001 or none), yields one `Err` after any other end.
    pub fn messages(&self) -> Messages<'_> {
        Messages {
            ws: self,
            done: false,
        }
    }

    /// A handle for sending from other threads.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// Starts the close handshake with `code` and `reason`, and waits up to
    /// the close timeout for the peer's close frame; after it, `recv`
    /// reports the peer's code and reason.
    ///
    /// Returns `Ok` once the peer's close frame has arrived (now, or before:
    /// calling it again after a close handshake is `Ok`). Otherwise it
    /// returns the error that ended the connection: a peer that does not
    /// answer in time gives [`Status::Timeout`](crate::Status::Timeout) and
    /// the connection is cut (then the reader thread reports the end at
    /// once; `close` waits at most 2 s more for that); a keepalive timeout or a reset meanwhile is
    /// returned as it is. When it returns, the End event is queued: every
    /// receive call after it reports the end (after any messages that
    /// arrived before it).
    ///
    /// Codes that may be sent: 1000-1003, 1007-1014, 3000-4999; the reason
    /// is at most 123 bytes. Others give [`Status::InvalidArgument`](crate::Status::InvalidArgument).
    pub fn close(&self, code: u16, reason: &str) -> Result<()> {
        self.sender.close(code, reason)
    }

    /// The Information: addresses, subprotocol, traffic counters.
    pub fn info(&self) -> Info {
        self.sender.shared.info()
    }
}

impl Drop for MessageWebSocket {
    fn drop(&mut self) {
        let code = if self.sender.shared.role() == Role::Server {
            1001
        } else {
            1000
        };
        let _ = self.sender.shared.close(code, "", false);
    }
}

impl Connect for MessageWebSocket {}

impl crate::options::sealed::Sealed for MessageWebSocket {
    fn connect_with(url: &str, options: Arc<Options>) -> Result<Self> {
        let (shared, events) = crate::connect::connect(url, options)?;
        Ok(MessageWebSocket::from_engine(shared, events))
    }
}

/// Iterator over a socket's incoming messages; see [`MessageWebSocket::messages`].
#[derive(Debug)]
pub struct Messages<'a> {
    ws: &'a MessageWebSocket,
    done: bool,
}

impl Iterator for Messages<'_> {
    type Item = Result<Message>;

    #[inline]
    fn next(&mut self) -> Option<Result<Message>> {
        if self.done {
            return None;
        }
        match self.ws.recv() {
            Ok(m) => Some(Ok(m)),
            Err(e) => {
                self.done = true;
                match e.close_frame() {
                    Some(f) if matches!(f.code, 1000 | 1001 | 1005) => None,
                    _ => Some(Err(e)),
                }
            }
        }
    }
}

impl<'a> IntoIterator for &'a MessageWebSocket {
    type Item = Result<Message>;
    type IntoIter = Messages<'a>;

    fn into_iter(self) -> Messages<'a> {
        self.messages()
    }
}
