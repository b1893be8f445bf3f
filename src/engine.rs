//! The engine: one WebSocket connection driven by two kinds of threads.
//!
//! ```text
//!  caller threads                        reader thread (one per socket)
//!  send() ─► encode ─► outbox ─► wire ─► socket      socket ─► decode (proto)
//!                        ▲                                     │
//!                        └──── pong / close replies ◄──────────┤
//!  recv() ◄──────────────── mpsc channel ◄──────────── messages ◄───────┘
//! ```
//!
//! **Threads.** The caller's threads send; the reader thread, which the
//! socket owns, reads the socket. It turns bytes into messages with
//! tungstenite's protocol state and hands them over a std `mpsc` channel (a
//! batch per socket read).
//!
//! **Who reads.** Whoever holds the `ReadState` (the read buffer, the frame
//! tracker, the keepalive and receive deadlines) reads the socket; it lives
//! in the `read_slot` between reads. Normally that is the reader thread.
//! When the reader thread hands messages to a thread waiting in `recv`, it
//! stands aside: that thread's next `recv`, finding nothing queued, takes
//! the state and reads the socket itself, so a request/response exchange
//! costs no thread hand-over (the same system calls as a plain blocking
//! socket). The reader thread takes the state back once no receiving thread
//! has read for [`STAND_ASIDE`], and at once when a close or a failure needs
//! it; a receiving thread whose read ends the connection hands the end to
//! the reader thread, which concludes it (close handshake, End event). Either
//! way only one thread reads at a time, and what the reader thread decoded
//! is in the channel before it lets go of the state, so order is kept.
//!
//! **Locks**, always taken in this order (a thread holding one may take a
//! later one, never an earlier one):
//!
//! 1. `wire`: the right to write the socket, and the bytes taken from the
//!    outbox that are not yet written. A sender takes it after queueing its
//!    frame and writes everything queued up to that frame (so senders that
//!    queue meanwhile share one system call); a message too large for the
//!    outbox holds it for the whole frame. A small message whose sender
//!    finds `wire` free and nothing queued skips the outbox: it is encoded
//!    straight into the wire buffer (`send_alone`). The reader only ever
//!    `try_lock`s it, and then writes without blocking (`MSG_DONTWAIT`).
//! 2. `proto`: tungstenite's `WebSocket<Pipe>`; the pipe holds the bytes the
//!    reader has read and not yet decoded. Held only for in-memory work,
//!    never across a socket call. Releasing it moves what tungstenite wrote
//!    (pongs, close frames) to the outbox.
//! 3. `outbox`: encoded frames in the order they must leave, data and
//!    control alike; held only to append or to take everything.
//! 4. `link`: the connection's lifecycle (close frames seen, first failure,
//!    deadlines); signalled by the `link_changed` condvar.
//!
//! `read_slot` is a leaf beside them: held only to take or return the read
//! state (or to signal its condvar), with no other lock taken under it.
//!
//! **Blocking.** The reader blocks only in its socket read (with no timeout
//! while the connection is idle between messages, with one-second slices
//! while a deadline runs). A sender blocks in socket writes of at most
//! [`WRITE_SLICE`](crate::transport::WRITE_SLICE) each, until its frame is
//! out or the send timeout passes. Bytes the reader queues (pongs, close
//! replies) leave with the next writer, or with the reader's non-blocking
//! write when no one holds `wire`; every holder of `wire` looks at the outbox
//! once more after releasing it, so nothing is stranded.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{
    AtomicBool, AtomicU64, AtomicUsize, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release,
};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

use crate::sync::{lock, wait_until};
use std::time::{Duration, Instant};

use log::{debug, trace, warn};
use tungstenite::error::{CapacityError, ProtocolError};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::Bytes;
use tungstenite::Message as WireMessage;

use crate::codec::{apply_mask, encode_frame, encode_header, FrameTracker, HeaderExtent, OP_PONG};
use crate::error::{CloseFrame, Error, Result, Status};
use crate::info::{Info, Stats, TlsInfo};
use crate::message::Message;
use crate::options::Options;
use crate::time::Deadline;
use crate::timer::{self, TimerId};
use crate::transport::Transport;

/// How long the reader thread stands aside for a thread in `recv` that
/// reads the socket itself, before it reads again (when no receiving thread
/// has read meanwhile). Bounds how late a ping is answered while the
/// program is not receiving.
const STAND_ASIDE: Duration = Duration::from_millis(50);
/// How often the reader thread looks whether a receiving thread that reads
/// the socket (and may wait long in an idle `recv`) has given it back.
const STAND_ASIDE_IDLE: Duration = Duration::from_secs(1);
/// Smallest and largest read buffer of the reader thread; it doubles while
/// reads fill it and halves while they use less than a quarter of it. The
/// largest is a trade: fewer system calls per MiB against the messages of
/// one read all holding tungstenite's buffers (64 KiB: 64 B receive +10%
/// over 256 KiB, large transfers unchanged).
const READ_BUFFER_MIN: usize = 4 << 10;
const READ_BUFFER_MAX: usize = 64 << 10;
/// tungstenite's read chunk (its default of 128 KiB is zero-filled and kept
/// per connection).
const PROTOCOL_READ_CHUNK: usize = 4 << 10;
/// While a deadline runs, the reader wakes at least this often to check it:
/// the kernel rounds long socket timeouts up by seconds.
const DEADLINE_SLICE: Duration = Duration::from_secs(1);
/// How late this kernel may fire a long socket timeout.
const KERNEL_ROUNDING: Duration = Duration::from_secs(2);
/// A wire buffer grown past this (TLS records of a large piece) is released
/// afterwards.
const WIRE_KEEP: usize = 1 << 20;
/// First and longest wait before the timer retries a flush that found the
/// socket full.
const FLUSH_RETRY_FIRST_MS: u64 = 10;
const FLUSH_RETRY_MAX_MS: u64 = 1000;
/// How long a `close` whose wait timed out waits further for the reader
/// thread to deliver the End event (it does at once: the socket is cut).
const END_GRACE: Duration = Duration::from_secs(2);
/// The largest message [`Shared::send_alone`] takes.
const ALONE_MAX: usize = 16 << 10;
/// The most messages a new batch has room for before it grows.
const BATCH_CAPACITY_MAX: usize = 4096;
/// Messages larger than this go out in pieces of this size, so the wire
/// buffers never grow with the message (a multiple of 4: see `send_pieces`).
const PIECE: usize = 256 << 10;

/// What the reader thread hands to the receiving side.
#[derive(Debug)]
pub(crate) enum Event {
    Message(Message),
    /// Several messages from one socket read, in order: one hand-over (and
    /// one wake-up of the receiving thread) instead of one each.
    Batch(Vec<Message>),
    /// The connection ended; sent once, last.
    End(Error),
}

/// Where a reader thread delivers: its socket's own channel, or a hub's
/// channel shared by many connections (tagged with the connection's id).
pub(crate) enum Sink {
    Socket(mpsc::Sender<Event>),
    /// Delivers one event; false if no one receives any more.
    Hub(Box<dyn Fn(Event) -> bool + Send>),
}

impl Sink {
    /// Delivers; false if no one receives any more.
    fn send(&self, event: Event) -> bool {
        match self {
            Sink::Socket(tx) => tx.send(event).is_ok(),
            Sink::Hub(deliver) => deliver(event),
        }
    }
}

/// The in-memory stream tungstenite reads from and writes to.
///
/// During the client's opening handshake it passes calls through to the
/// transport (`direct`), but hands tungstenite the response only up to the
/// end of its head: whatever the server sent after it (the first frames)
/// stays in `input`, for a protocol state built afresh with
/// [`WebSocket::from_raw_socket`] (tungstenite's handshake builds its
/// `WebSocket` with a read buffer of no reserved capacity, which costs
/// allocations on every frame). Afterwards it only serves bytes the reader
/// thread has read, and collects encoded bytes in the outbox.
#[derive(Debug, Default)]
pub(crate) struct Pipe {
    direct: Option<Transport>,
    input: Vec<u8>,
    input_len: usize,
    input_pos: usize,
    eof: bool,
    outbox: Vec<u8>,
    /// How much of "\r\n\r\n" the handshake bytes served so far end with.
    head_matched: u8,
    /// Handshake bytes past the end of the head were served (then the
    /// handshake's own `WebSocket` must be kept: it holds them).
    overshot: bool,
}

impl Pipe {
    pub(crate) fn direct(transport: Transport) -> Pipe {
        Pipe {
            direct: Some(transport),
            ..Pipe::default()
        }
    }

    /// A pipe whose input starts with `tail` (bytes read with the handshake).
    pub(crate) fn memory(tail: Vec<u8>) -> Pipe {
        Pipe {
            input_len: tail.len(),
            input: tail,
            ..Pipe::default()
        }
    }

    /// Ends pass-through mode, returning the transport.
    pub(crate) fn take_transport(&mut self) -> Option<Transport> {
        self.direct.take()
    }

    /// Serves handshake bytes from the transport, stopping at the end of
    /// the head.
    fn read_head(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input_pos == self.input_len {
            let Some(t) = &self.direct else {
                return Ok(0);
            };
            self.input.resize(PROTOCOL_READ_CHUNK, 0);
            let n = t.read(&mut self.input)?;
            self.input_len = n;
            self.input_pos = 0;
            if n == 0 {
                return Ok(0);
            }
        }
        let available = &self.input[self.input_pos..self.input_len];
        let mut n = 0;
        for &b in available.iter().take(buf.len()) {
            n += 1;
            if self.head_matched == 4 {
                self.overshot = true;
                continue;
            }
            let expected = if self.head_matched % 2 == 0 {
                b'\r'
            } else {
                b'\n'
            };
            self.head_matched = if b == expected {
                self.head_matched + 1
            } else {
                u8::from(b == b'\r')
            };
            if self.head_matched == 4 {
                break;
            }
        }
        buf[..n].copy_from_slice(&available[..n]);
        self.input_pos += n;
        Ok(n)
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.direct.is_some() {
            return self.read_head(buf);
        }
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
        if let Some(t) = &self.direct {
            let mut t = t;
            return t.write(buf);
        }
        self.outbox.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The protocol state for a connection whose client handshake ran over
/// `ws`'s pipe: afresh, with the bytes that followed the response head,
/// unless tungstenite already holds some of them.
pub(crate) fn after_client_handshake(
    mut ws: WebSocket<Pipe>,
    config: WebSocketConfig,
) -> (WebSocket<Pipe>, Option<Transport>) {
    let mut pipe = std::mem::take(ws.get_mut());
    let transport = pipe.take_transport();
    if pipe.overshot {
        *ws.get_mut() = pipe;
        return (ws, transport);
    }
    (
        WebSocket::from_raw_socket(pipe, Role::Client, Some(config)),
        transport,
    )
}

/// tungstenite's settings for our options.
pub(crate) fn protocol_config(options: &Options) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(PROTOCOL_READ_CHUNK)
        .write_buffer_size(0)
        .max_message_size(Some(options.max_message_size))
        .max_frame_size(Some(options.max_message_size))
}

/// Bytes taken from the outbox and not yet on the wire (guarded by `wire`).
#[derive(Debug, Default)]
struct Wire {
    /// Wire bytes (ciphertext for TLS), of which `written` have been written.
    pending: Vec<u8>,
    written: usize,
    /// Plaintext just taken from the outbox, before sealing.
    plain: Vec<u8>,
    /// Outbox position just past the last byte taken out of it.
    taken_end: u64,
    /// Outbox position up to which every byte is on the wire.
    written_end: u64,
}

/// Encoded frames waiting for the wire, in the order they were queued: small
/// data messages of any thread, and what tungstenite owes the peer (pongs,
/// the close frame). One ordered queue, so a close frame can never overtake
/// a message queued before it, nor a message follow it.
#[derive(Debug, Default)]
struct Outbox {
    bytes: Vec<u8>,
    /// Bytes ever queued: the outbox position just past the last one.
    queued_end: u64,
    /// Where the pong that ends `bytes` starts, if one does.
    tail_pong: Option<usize>,
}

impl Outbox {
    /// Appends one data frame that `encode` writes.
    fn push_data(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let before = self.bytes.len();
        encode(&mut self.bytes);
        self.queued_end += (self.bytes.len() - before) as u64;
        self.tail_pong = None;
    }

    /// Appends the frames tungstenite wrote (pongs, close frames). Once more
    /// than [`PONG_BACKLOG`] bytes wait, a pong replaces one still waiting
    /// at the end of the queue: RFC 6455 (5.5.3) lets an endpoint answer
    /// only the latest of several pings, and so a peer that pings without
    /// reading cannot make the queue grow. (Below that every ping gets its
    /// pong, as conformance tests expect.)
    fn push_control(&mut self, frames: &[u8]) {
        let mut rest = frames;
        while !rest.is_empty() {
            let whole = HeaderExtent::of(rest)
                .and_then(|h| usize::try_from(h.payload).ok()?.checked_add(h.len))
                .filter(|&n| n <= rest.len());
            let (len, is_pong) = match whole {
                Some(n) => (n, rest[0] & 0x0f == OP_PONG),
                None => (rest.len(), false), // not expected: keep the rest whole
            };
            let (frame, after) = rest.split_at(len);
            if is_pong {
                if let Some(at) = self
                    .tail_pong
                    .take()
                    .filter(|_| self.bytes.len() > PONG_BACKLOG)
                {
                    self.queued_end -= (self.bytes.len() - at) as u64;
                    self.bytes.truncate(at);
                }
                self.tail_pong = Some(self.bytes.len());
            } else {
                self.tail_pong = None;
            }
            self.bytes.extend_from_slice(frame);
            self.queued_end += len as u64;
            rest = after;
        }
    }
}

/// Queued bytes beyond which a new pong replaces the one before it.
const PONG_BACKLOG: usize = 64 << 10;

/// The connection's lifecycle (guarded by `link`).
#[derive(Debug, Default)]
struct Link {
    /// The peer's close frame: the Closed event.
    peer_close: Option<CloseFrame>,
    /// The close frame we sent, if any.
    our_close: Option<CloseFrame>,
    /// The first fatal error; every later call reports it.
    failure: Option<Error>,
    /// When the close handshake (or the wait for the peer's TCP close) must end.
    close_deadline: Option<Deadline>,
    close_timer: Option<TimerId>,
    reader_done: bool,
    /// The End event is in the receiving side's channel (or no one
    /// receives any more): from now on every receive call reports the end.
    end_sent: bool,
    /// The receiving side has taken the End event.
    end_taken: bool,
    /// The close frame owed to the peer for its protocol violation.
    violation: Option<CloseFrame>,
}

/// One connection's state, shared by its handles and its reader thread.
#[derive(Debug)]
pub(crate) struct Shared {
    /// This connection itself, for the timer's flush retries.
    me: Weak<Shared>,
    transport: Transport,
    role: Role,
    pub(crate) options: Arc<Options>,
    /// The URL (client) or the peer's address (server), for error messages.
    peer: String,
    pub(crate) protocol: Option<String>,
    proto: Mutex<WebSocket<Pipe>>,
    read_slot: Mutex<ReadSlot>,
    read_slot_changed: Condvar,
    /// Threads waiting in `recv` (or a stream read).
    pub(crate) receivers_waiting: AtomicUsize,
    /// A close or a failure needs the reader thread: it stops standing aside.
    reader_needed: AtomicBool,
    outbox: Mutex<Outbox>,
    /// The outbox holds bytes (changed only under `outbox`).
    outbox_dirty: AtomicBool,
    /// A non-blocking write left bytes in the wire buffer (changed only
    /// under `wire`).
    backlog: AtomicBool,
    /// Milliseconds until the next flush retry of a backlog (see
    /// [`Shared::retry_flush_later`]); 0 while one is armed.
    flush_retry: AtomicU64,
    /// Outbox position just past the last frame tungstenite queued (pong,
    /// close): a blocking drain does not stop before it (set under `outbox`).
    control_end: AtomicU64,
    /// Data frames may still be queued: tungstenite's state has not closed
    /// (cleared under `outbox`, together with queueing the close frame).
    writable: AtomicBool,
    wire: Mutex<Wire>,
    link: Mutex<Link>,
    link_changed: Condvar,
    pub(crate) stats: Stats,
    /// Payload bytes delivered to the receiving side and not yet taken.
    queued: AtomicUsize,
    /// Signalled when the receiving side takes the queue below its limit.
    queue_room: Condvar,
    queue_lock: Mutex<()>,
}

/// `d` after `t`, or `None` if no wait reaches it (durations such as
/// `Duration::MAX` are valid settings).
fn later(t: Instant, d: Duration) -> Option<Instant> {
    Deadline::from(t, d).instant()
}

/// Starts the engine of a connection whose opening handshake is done: its
/// reader thread delivers into `sink`, and holds `guard` (a server's
/// connection slot) until it ends.
#[allow(clippy::too_many_arguments)] // one call site per kind of socket; a struct would only rename them
pub(crate) fn start(
    transport: Transport,
    ws: WebSocket<Pipe>,
    role: Role,
    options: Arc<Options>,
    peer: String,
    protocol: Option<String>,
    sink: impl FnOnce(&Arc<Shared>) -> Sink,
    guard: Option<Box<dyn Send>>,
) -> Result<Arc<Shared>> {
    let stack = options.reader_stack_size;
    let read_state = Box::new(ReadState::new(&options));
    let shared = Arc::new_cyclic(|me| Shared {
        me: me.clone(),
        transport,
        role,
        options,
        peer,
        protocol,
        proto: Mutex::new(ws),
        read_slot: Mutex::new(ReadSlot {
            state: Some(read_state),
            receiver_steps: 0,
            over: None,
            reader_parked: false,
        }),
        read_slot_changed: Condvar::new(),
        receivers_waiting: AtomicUsize::new(0),
        reader_needed: AtomicBool::new(false),
        outbox: Mutex::new(Outbox::default()),
        outbox_dirty: AtomicBool::new(false),
        backlog: AtomicBool::new(false),
        flush_retry: AtomicU64::new(FLUSH_RETRY_FIRST_MS),
        control_end: AtomicU64::new(0),
        writable: AtomicBool::new(true),
        wire: Mutex::new(Wire::default()),
        link: Mutex::new(Link::default()),
        link_changed: Condvar::new(),
        stats: Stats::default(),
        queued: AtomicUsize::new(0),
        queue_room: Condvar::new(),
        queue_lock: Mutex::new(()),
    });
    let reader = Arc::clone(&shared);
    let sink = sink(&shared);
    std::thread::Builder::new()
        .name("wsock-reader".into())
        .stack_size(stack)
        .spawn(move || {
            reader.run_reader(sink);
            drop(guard);
        })
        .map_err(|e| {
            shared.transport.shutdown();
            Error::Resource {
                what: format!("cannot start the reader thread for {}", shared.peer),
                reason: e.to_string(),
            }
        })?;
    Ok(shared)
}

/// The locked protocol state. Releasing it moves what tungstenite wrote
/// (pongs, close frames) into the outbox, and, once tungstenite's state has
/// closed, stops further data frames in the same step. Whatever a thread
/// queued before handing a message to the receiving side is thus queued
/// before any reply to it.
struct Proto<'a> {
    ws: MutexGuard<'a, WebSocket<Pipe>>,
    shared: &'a Shared,
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
            self.shared.outbox_dirty.store(true, Release);
        }
        if closing {
            self.shared.writable.store(false, Release);
        }
    }
}

/// The reader's state between socket reads. Whoever holds it reads the
/// socket: the reader thread, or a thread in `recv` while the reader thread
/// stands aside.
#[derive(Debug)]
struct ReadState {
    buf: Vec<u8>,
    /// Messages decoded by the last read, not yet handed over.
    batch: Vec<Message>,
    tracker: FrameTracker,
    /// When the incomplete message began to arrive (the receive timeout runs).
    message_started: Option<Instant>,
    /// The socket's read timeout as last set.
    read_timeout: Option<Duration>,
    last_inbound: Instant,
    ping_sent: Option<Instant>,
    next_unsolicited_pong: Option<Instant>,
    /// The frames that came with the opening handshake are still to decode.
    handshake_leftovers: bool,
}

impl ReadState {
    fn new(options: &Options) -> ReadState {
        let now = Instant::now();
        ReadState {
            buf: vec![0u8; READ_BUFFER_MIN],
            batch: Vec::new(),
            tracker: FrameTracker::default(),
            message_started: None,
            read_timeout: None,
            last_inbound: now,
            ping_sent: None,
            next_unsolicited_pong: options
                .unsolicited_pong_interval
                .and_then(|every| later(now, every)),
            handshake_leftovers: true,
        }
    }
}

/// The read state lent to a receiving thread; returned with an end if the
/// thread unwinds while reading.
struct Lent<'a> {
    shared: &'a Shared,
    state: Option<Box<ReadState>>,
}

impl Drop for Lent<'_> {
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
struct ReadSlot {
    /// `None` while a thread reads with it.
    state: Option<Box<ReadState>>,
    /// Reads done by receiving threads: the reader thread stands aside while
    /// this moves.
    receiver_steps: u64,
    /// A receiving thread's read ended decoding for good (it gave the state
    /// back with this): the reader thread concludes.
    over: Option<Step>,
    /// The reader thread waits for the state to come back.
    reader_parked: bool,
}

/// What one socket read led to.
#[derive(Debug)]
enum Step {
    /// Read on.
    More,
    /// Decoding stopped for good: conclude the connection.
    Over(Fed, Option<CloseFrame>),
    /// The connection failed with this error (its End is still to deliver).
    Ended(Error),
}

/// How the bytes of one read ended for the protocol state.
#[derive(Debug)]
enum Fed {
    /// Everything decoded; more bytes are needed.
    NeedMore,
    /// The close handshake is over (or the peer's close frame has arrived).
    Closed,
    /// tungstenite reported an error.
    Failed(tungstenite::Error),
}

impl Shared {
    fn proto(&self) -> Proto<'_> {
        Proto {
            ws: lock(&self.proto),
            shared: self,
        }
    }

    /// Moves the outbox to the wire's plaintext (skipping the lock when
    /// nothing was queued since the last time).
    fn take_outbox(&self, wire: &mut Wire) {
        if self.outbox_dirty.load(Acquire) {
            self.take_locked(&mut lock(&self.outbox), wire);
        }
    }

    /// Moves all of `outbox` (locked) to the end of `wire`'s plaintext.
    fn take_locked(&self, outbox: &mut Outbox, wire: &mut Wire) {
        if wire.plain.is_empty() {
            std::mem::swap(&mut outbox.bytes, &mut wire.plain);
        } else {
            wire.plain.append(&mut outbox.bytes);
        }
        wire.taken_end = outbox.queued_end;
        outbox.tail_pong = None;
        self.outbox_dirty.store(false, Relaxed);
    }

    /// Queues one data frame that `encode` appends; returns the outbox
    /// position just past it.
    fn enqueue(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<u64> {
        let mut outbox = lock(&self.outbox);
        if !self.writable.load(Relaxed) {
            drop(outbox);
            return Err(self.not_writable());
        }
        outbox.push_data(encode);
        self.outbox_dirty.store(true, Release);
        Ok(outbox.queued_end)
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.transport.local_addr()
    }

    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.transport.peer_addr()
    }

    pub(crate) fn tls_info(&self) -> Option<TlsInfo> {
        self.transport.tls_info()
    }

    /// The Information: addresses, subprotocol, counters, TLS.
    pub(crate) fn info(&self) -> Info {
        Info {
            local_addr: self.local_addr(),
            peer_addr: self.peer_addr(),
            protocol: self.protocol.clone(),
            bytes_sent: self.stats.bytes_sent.load(Relaxed),
            bytes_received: self.stats.bytes_received.load(Relaxed),
            messages_sent: self.stats.messages_sent.load(Relaxed),
            messages_received: self.stats.messages_received.load(Relaxed),
            is_server: self.role() == Role::Server,
            rtt: match self.stats.rtt_micros.load(Relaxed) {
                0 => None,
                us => Some(Duration::from_micros(us)),
            },
            tls: self.tls_info(),
        }
    }

    /// Sends one whole message; returns once it is on the wire.
    pub(crate) fn send(&self, message: WireMessage) -> Result<()> {
        self.send_within(message, self.options.send_timeout)
    }

    /// Sends one whole message within `timeout`.
    pub(crate) fn send_within(&self, message: WireMessage, timeout: Duration) -> Result<()> {
        let deadline = Deadline::after(timeout);
        let is_data = message.is_text() || message.is_binary();
        let mut wire = lock(&self.wire);
        {
            let mut ws = self.proto();
            if !ws.can_write() {
                drop(ws);
                drop(wire);
                self.flush_leftovers();
                return Err(self.not_writable());
            }
            if let Err(e) = ws.send(message) {
                drop(ws);
                drop(wire);
                self.flush_leftovers();
                return Err(match e {
                    tungstenite::Error::AlreadyClosed
                    | tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::Protocol(ProtocolError::SendAfterClosing) => {
                        self.not_writable()
                    }
                    e => Error::InvalidArgument(format!("cannot send to {}: {e}", self.peer)),
                });
            }
        }
        let result = self.drain(&mut wire, Some((deadline, timeout)));
        drop(wire);
        self.flush_leftovers();
        result?;
        self.stats
            .messages_sent
            .fetch_add(u64::from(is_data), Relaxed);
        Ok(())
    }

    /// Sends one data message from a borrowed payload, with one copy of the
    /// payload (masked by a client); it is on the wire when this returns.
    ///
    /// A message of up to [`PIECE`] bytes is queued in the outbox, then its
    /// sender takes the wire and writes all that is queued up to its own
    /// frame, so concurrent senders share system calls (group commit): a
    /// sender whose frame another one wrote meanwhile returns at once. A
    /// larger message holds the wire for its whole frame instead.
    pub(crate) fn send_data(&self, text: bool, payload: &[u8], timeout: Duration) -> Result<()> {
        let opcode = OpCode::Data(if text { Data::Text } else { Data::Binary });
        let mask = (self.role == Role::Client).then(rand::random::<[u8; 4]>);
        if payload.len() <= ALONE_MAX {
            if let Some(done) = self.send_alone(opcode, payload, mask, timeout) {
                return done;
            }
        }
        let deadline = Deadline::after(timeout);
        let mut wire;
        let result = if payload.len() <= PIECE {
            let end = self.enqueue(|out| encode_frame(out, opcode, payload, mask))?;
            wire = lock(&self.wire);
            self.drain_until(&mut wire, Some((deadline, timeout)), true, end)
                .map(drop)
        } else {
            wire = lock(&self.wire);
            self.send_pieces(&mut wire, opcode, payload, mask, (deadline, timeout))
        };
        drop(wire);
        self.flush_leftovers();
        result?;
        self.stats.messages_sent.fetch_add(1, Relaxed);
        Ok(())
    }

    /// The uncontended case of a small message: with the wire free, nothing
    /// queued and nothing left over, the frame is encoded straight into the
    /// wire buffer and written, without a trip through the outbox. `None`
    /// if that case does not hold (then queue as usual).
    ///
    /// Order is kept: only a holder of `wire` writes, so a close frame queued
    /// meanwhile goes out after this frame, and one written before shows as
    /// `writable` false (it was cleared before that frame was queued).
    ///
    /// The first write does not block, and the send timeout starts only if
    /// it leaves bytes over: a frame the socket takes at once needs no clock.
    /// Only for messages up to [`ALONE_MAX`]: larger ones gained nothing
    /// (a stream of 64 KiB messages ran slower this way).
    fn send_alone(
        &self,
        opcode: OpCode,
        payload: &[u8],
        mask: Option<[u8; 4]>,
        timeout: Duration,
    ) -> Option<Result<()>> {
        let mut wire = self.wire.try_lock().ok()?;
        #[cfg(test)]
        pause_point::reached();
        if self.outbox_dirty.load(Acquire)
            || self.backlog.load(Acquire)
            || wire.written != wire.pending.len()
            || !self.writable.load(Acquire)
        {
            // Whoever lets go of the wire flushes what is queued: a close
            // frame queued while this thread held it found the wire taken.
            // The usual path then queues the message, or says why it can't.
            drop(wire);
            self.flush_leftovers();
            return None;
        }
        wire.pending.clear();
        wire.written = 0;
        encode_frame(&mut wire.plain, opcode, payload, mask);
        let Wire { plain, pending, .. } = &mut *wire;
        self.transport.seal(plain, pending);
        let mut result = self.write_wire(&wire.pending, None).map(|n| {
            wire.written = n.unwrap_or(0);
        });
        if result.is_ok() && wire.written < wire.pending.len() {
            // The rest, blocking, within the send timeout from now.
            let deadline = (Deadline::after(timeout), timeout);
            result = self
                .drain_until(&mut wire, Some(deadline), false, u64::MAX)
                .map(drop);
        }
        drop(wire);
        self.flush_leftovers();
        if result.is_ok() {
            self.stats.messages_sent.fetch_add(1, Relaxed);
        }
        Some(result)
    }

    /// Why nothing can be sent any more.
    fn not_writable(&self) -> Error {
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

    /// Writes the pending bytes and then the outbox to the socket. With a
    /// deadline it blocks until all is written; without one it writes only
    /// what fits now and returns `Ok(false)` if bytes are left.
    fn drain(&self, wire: &mut Wire, deadline: Option<(Deadline, Duration)>) -> Result<bool> {
        self.drain_until(wire, deadline, true, u64::MAX)
    }

    /// [`drain`](Self::drain), but done once the outbox is written up to
    /// position `end`, and taking the outbox too only if `with_outbox`
    /// (never in the middle of a frame that goes out in pieces).
    fn drain_until(
        &self,
        wire: &mut Wire,
        deadline: Option<(Deadline, Duration)>,
        with_outbox: bool,
        end: u64,
    ) -> Result<bool> {
        // Done once everything up to `end` is out, and whatever control frame
        // was queued before (the holder of the wire writes those too).
        let done = |wire: &Wire| wire.written_end >= end.max(self.control_end.load(Acquire));
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
                    wire.written_end = wire.taken_end;
                    if done(wire) {
                        return Ok(true);
                    }
                }
                if with_outbox {
                    self.take_outbox(wire);
                }
                if wire.plain.is_empty() && !self.transport.has_tls_output() {
                    wire.written_end = wire.taken_end;
                    return Ok(true);
                }
                // Sealing (TLS encryption) happens outside the outbox lock.
                let Wire { plain, pending, .. } = wire;
                self.transport.seal(plain, pending);
                if wire.pending.is_empty() {
                    wire.written_end = wire.taken_end;
                    return Ok(true);
                }
            }
            match self.write_wire(&wire.pending[wire.written..], deadline)? {
                Some(n) => wire.written += n,
                None => {
                    self.backlog.store(true, Release);
                    return Ok(false);
                }
            }
        }
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
    fn write_wire(
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
                    // Only the holder of `wire` writes this count: no
                    // read-modify-write needed.
                    let sent = &self.stats.bytes_sent;
                    sent.store(sent.load(Relaxed) + n as u64, Relaxed);
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

    /// Sends a frame too large for one wire buffer in pieces of [`PIECE`]
    /// bytes: masked piece by piece for a client, or written straight from
    /// the caller's buffer by a server on plain TCP. Memory stays bounded
    /// whatever the message size, and nothing else enters the frame.
    fn send_pieces(
        &self,
        wire: &mut Wire,
        opcode: OpCode,
        payload: &[u8],
        mask: Option<[u8; 4]>,
        deadline: (Deadline, Duration),
    ) -> Result<()> {
        // Whatever was queued before goes first; checking that data may be
        // sent and taking it is one step, so no close frame can come between.
        {
            let mut outbox = lock(&self.outbox);
            if !self.writable.load(Relaxed) {
                // Leave the queue (the close frame) for the flush after `wire` drops.
                drop(outbox);
                return Err(self.not_writable());
            }
            self.take_locked(&mut outbox, wire);
        }
        encode_header(&mut wire.plain, opcode, payload.len(), mask);
        if mask.is_none() && !self.transport.is_tls() {
            self.drain_until(wire, Some(deadline), false, u64::MAX)?;
            let mut rest = payload;
            while !rest.is_empty() {
                // With a deadline, write_wire returns Some or fails.
                let n = self.write_wire(rest, Some(deadline))?.unwrap_or(0);
                rest = &rest[n..];
            }
        } else {
            // PIECE is a multiple of 4, so every piece starts the mask afresh.
            for piece in payload.chunks(PIECE) {
                let start = wire.plain.len();
                wire.plain.extend_from_slice(piece);
                if let Some(mask) = mask {
                    apply_mask(&mut wire.plain[start..], mask);
                }
                self.drain_until(wire, Some(deadline), false, u64::MAX)?;
            }
        }
        // Whatever was queued meanwhile goes out after the frame.
        self.drain(wire, Some(deadline)).map(drop)
    }

    /// Writes queued bytes without blocking, if no one else holds the wire
    /// (whoever does will call this after releasing it).
    fn flush_leftovers(&self) {
        // Nothing queued and nothing left over: the common case after a send.
        // (TLS may hold records of its own, such as a key update.)
        if !self.outbox_dirty.load(Acquire)
            && !self.backlog.load(Acquire)
            && !self.transport.is_tls()
        {
            return;
        }
        loop {
            let Ok(mut wire) = self.wire.try_lock() else {
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
    /// dropped socket) go out when the peer makes room, even if nothing else
    /// happens on the connection: the timer retries the flush, 10 ms later
    /// and then at doubling intervals up to a second, until it is all out or
    /// the connection ends.
    fn retry_flush_later(&self) {
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
                // Someone else may have written it all meanwhile: then the
                // next backlog starts afresh.
                let next = if shared.backlog.load(Acquire) {
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
                    // Cut, the reader thread delivers the End at once.
                    let until = Deadline::after(END_GRACE);
                    grace = Some(until);
                    link = lock(&self.link);
                    until
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
        let failure = link.failure.clone();
        drop(link);
        Err(failure.unwrap_or_else(|| self.not_writable()))
    }

    /// Calls the reader thread back from standing aside for good: a close
    /// or a failure is under way.
    fn need_reader(&self) {
        if !self.reader_needed.swap(true, AcqRel) {
            let _guard = lock(&self.read_slot);
            self.read_slot_changed.notify_all();
        }
    }

    /// Cuts the connection at `deadline` unless the reader has ended by then.
    fn arm_close_timer(self: &Arc<Self>, deadline: Deadline) {
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

    /// The reader thread's body.
    fn run_reader(self: Arc<Self>, events: Sink) {
        let end = self.read_until_closed(&events);
        if let Some(end) = end {
            // The first failure is the end; without one (the peer closed
            // TCP without a close frame) this end is the failure.
            let failure = lock(&self.link).failure.get_or_insert(end).clone();
            self.send_end(&events, failure);
        }
        let mut link = lock(&self.link);
        link.reader_done = true;
        let timer = link.close_timer.take();
        drop(link);
        self.link_changed.notify_all();
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
    fn read_until_closed(&self, events: &Sink) -> Option<Error> {
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
                let mut slot = self
                    .read_slot_changed
                    .wait_timeout(slot, STAND_ASIDE_IDLE)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
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
            Step::Over(fed, peer_close) => self.conclude(fed, peer_close, &mut state.buf, events),
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
        out: &mut Vec<Message>,
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
        let mut lent = Lent {
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
        self.stats
            .messages_received
            .fetch_add(out.len() as u64, Relaxed);
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

    /// One socket read, decoded; the messages are left in `state.batch`.
    /// `limit` bounds the wait (for `recv_timeout`); `as_reader`: the reader
    /// thread, which also applies receive backpressure.
    fn read_step(&self, state: &mut ReadState, limit: Option<Duration>, as_reader: bool) -> Step {
        let ReadState {
            buf,
            batch,
            tracker,
            message_started,
            read_timeout,
            last_inbound,
            ping_sent,
            next_unsolicited_pong,
            handshake_leftovers,
        } = state;
        if std::mem::take(handshake_leftovers) {
            // The first pass reads nothing: it decodes the frames that came
            // with the opening handshake, which tungstenite already holds.
            return match self.decode(buf, None, batch) {
                (Fed::NeedMore, _) => Step::More,
                (fed, peer_close) => Step::Over(fed, peer_close),
            };
        }
        // A deadline runs while a message is incomplete or a close is under way.
        let receive_deadline = message_started.and_then(|t| later(t, self.options.receive_timeout));
        let close_deadline = lock(&self.link).close_deadline.and_then(Deadline::instant);
        let strict = earliest(receive_deadline, close_deadline);
        // Keepalive: a ping when idle, then a pong (or any byte) in time.
        let keepalive_due = match *ping_sent {
            None => self
                .options
                .ping_interval
                .and_then(|every| later(*last_inbound, every)),
            Some(sent) => self
                .options
                .pong_timeout
                .and_then(|limit| later(sent, limit)),
        };
        let keepalive_deadline = earliest(keepalive_due, *next_unsolicited_pong);
        let now = Instant::now();
        // Strict deadlines are checked every second (the kernel rounds long
        // socket timeouts up by seconds); keepalive may fire that late.
        let wanted = earliest(
            strict.map(|d| d.saturating_duration_since(now).min(DEADLINE_SLICE)),
            keepalive_deadline.map(|d| {
                // Wake early from a long wait and re-arm with the rest:
                // the kernel rounds long timeouts up by up to 2 s.
                let rest = d.saturating_duration_since(now);
                if rest > KERNEL_ROUNDING + DEADLINE_SLICE {
                    rest - KERNEL_ROUNDING
                } else {
                    rest
                }
            }),
        )
        .map(|t| t.max(Duration::from_millis(1)));
        let wanted = earliest(wanted, limit.map(|l| l.max(Duration::from_millis(1))));
        if needs_rearming(*read_timeout, wanted) {
            let _ = self.transport.set_read_timeout(wanted);
            *read_timeout = wanted;
        }
        if as_reader {
            self.wait_for_queue_room();
        }
        let n = match self.transport.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Step::More,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let now = Instant::now();
                if receive_deadline.is_some_and(|d| now >= d) {
                    return Step::Ended(self.fail(Error::Timeout {
                        what: format!("receiving a message from {}", self.peer),
                        after: self.options.receive_timeout,
                    }));
                }
                if close_deadline.is_some_and(|d| now >= d) {
                    return Step::Ended(self.fail(Error::Timeout {
                        what: format!("waiting for the close frame of {}", self.peer),
                        after: self.options.close_timeout,
                    }));
                }
                if next_unsolicited_pong.is_some_and(|d| now >= d) {
                    *next_unsolicited_pong = self
                        .options
                        .unsolicited_pong_interval
                        .and_then(|every| later(now, every));
                    self.send_control(WireMessage::Pong(Bytes::new()));
                }
                if keepalive_due.is_some_and(|d| now >= d) {
                    if ping_sent.is_some() {
                        return Step::Ended(self.fail(Error::Timeout {
                            what: format!("waiting for a pong from {}", self.peer),
                            after: self.options.pong_timeout.unwrap_or_default(),
                        }));
                    }
                    *ping_sent = Some(now);
                    self.send_control(WireMessage::Ping(Bytes::from_static(b"wsock")));
                }
                return Step::More;
            }
            Err(e) => {
                let failure = lock(&self.link).failure.clone();
                return Step::Ended(
                    failure.unwrap_or_else(|| Error::io(&self.peer, "receiving", e)),
                );
            }
        };
        self.stats.bytes_received.fetch_add(n as u64, Relaxed);
        // Any byte from the peer shows it is alive.
        *last_inbound = Instant::now();
        if next_unsolicited_pong.is_some_and(|d| *last_inbound >= d) {
            *next_unsolicited_pong = self
                .options
                .unsolicited_pong_interval
                .and_then(|every| later(*last_inbound, every));
            self.send_control(WireMessage::Pong(Bytes::new()));
        }
        if let Some(sent) = ping_sent.take() {
            let rtt =
                u64::try_from(last_inbound.duration_since(sent).as_micros()).unwrap_or(u64::MAX);
            self.stats.rtt_micros.store(rtt, Relaxed);
        }
        if n > 0 && tracker.feed(&buf[..n]) {
            message_started.get_or_insert_with(Instant::now);
        } else {
            *message_started = None;
        }

        let (fed, peer_close) = self.decode(buf, Some(n), batch);
        adapt_read_buffer(buf, n);
        match fed {
            Fed::NeedMore => Step::More,
            fed => Step::Over(fed, peer_close),
        }
    }

    /// Queues a keepalive ping (or unsolicited pong) and sends it if the
    /// wire is free. A sender stuck writing delays it, but the pong deadline
    /// runs regardless.
    fn send_control(&self, frame: WireMessage) {
        {
            let mut ws = self.proto();
            if !ws.can_write() {
                return;
            }
            // A pong still queued serves as the heartbeat; an unsolicited one
            // queued after it would take its place (see `push_control`), and
            // the peer would miss the answer to its latest ping.
            if frame.is_pong() && lock(&self.outbox).tail_pong.is_some() {
                return;
            }
            let _ = ws.write(frame);
        }
        self.flush_leftovers();
    }

    /// Hands decoded messages to the receiving side, then sends what the
    /// decoding queued (pongs, a close reply) if the wire is free.
    fn deliver(&self, batch: &mut Vec<Message>, events: &Sink) {
        self.hand_over(batch, events);
        self.flush_leftovers();
    }

    /// Hands decoded messages to the receiving side (no socket work).
    fn hand_over(&self, batch: &mut Vec<Message>, events: &Sink) {
        self.stats
            .messages_received
            .fetch_add(batch.len() as u64, Relaxed);
        let bytes: usize = batch.iter().map(Message::len).sum();
        self.queued.fetch_add(bytes, Relaxed);
        match batch.len() {
            0 => {}
            1 => {
                let m = batch.pop().expect("one message");
                events.send(Event::Message(m));
            }
            n => {
                // The next batch is likely as long: no regrowing.
                let next = Vec::with_capacity(n.min(BATCH_CAPACITY_MAX));
                events.send(Event::Batch(std::mem::replace(batch, next)));
            }
        }
    }

    /// The receiving side took a message of `len` bytes off the queue.
    pub(crate) fn consumed(&self, len: usize) {
        let before = self.queued.fetch_sub(len, Relaxed);
        let limit = self.options.receive_queue_limit;
        if before > limit && before - len <= limit {
            let _guard = lock(&self.queue_lock);
            self.queue_room.notify_all();
        }
    }

    /// Backpressure: while the receiving side holds more than the receive
    /// queue limit, the reader stops reading, so the peer meets TCP flow
    /// control instead of growing our heap. A close in progress lifts it (the
    /// peer's close frame must be seen).
    fn wait_for_queue_room(&self) {
        let limit = self.options.receive_queue_limit;
        if self.queued.load(Relaxed) <= limit {
            return;
        }
        loop {
            {
                let link = lock(&self.link);
                if link.failure.is_some() || link.our_close.is_some() {
                    return;
                }
            }
            let guard = lock(&self.queue_lock);
            if self.queued.load(Relaxed) <= limit {
                return;
            }
            let _ = self.queue_room.wait_timeout(guard, DEADLINE_SLICE);
        }
    }

    /// Feeds `n` bytes of `buf` (`Some(0)`: end of stream; `None`: nothing
    /// new) to the protocol state and decodes all it can.
    fn decode(
        &self,
        buf: &mut Vec<u8>,
        n: Option<usize>,
        batch: &mut Vec<Message>,
    ) -> (Fed, Option<CloseFrame>) {
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
                    break Fed::Closed;
                }
                Ok(_) => {} // ping, pong: tungstenite queues the pong itself
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    break Fed::NeedMore;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    break Fed::Closed;
                }
                Err(e) => break Fed::Failed(e),
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

    /// Ends the connection after decoding stopped for good: reports the
    /// Closed event or the failure, then finishes the close. Returns the End
    /// event still to be delivered, if any.
    fn conclude(
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
    fn send_end(&self, events: &Sink, end: Error) -> bool {
        let received = events.send(Event::End(end));
        lock(&self.link).end_sent = true;
        self.link_changed.notify_all();
        received
    }

    /// Waits (up to the close timeout) until the receiving side has taken the
    /// End event, or a close of ours or a failure makes waiting moot.
    fn wait_for_end_taken(&self) {
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
    fn send_violation_close(&self) {
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
    fn finish(&self, buf: &mut [u8], violated: bool) {
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

/// The status, close code and reason for a tungstenite read error that the
/// peer caused; `None` when the peer simply went away.
fn violation(e: &tungstenite::Error) -> Option<(Status, u16, String)> {
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
fn reason_for_frame(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

/// Whether the socket's read timeout (`armed`) must change to `wanted`.
///
/// The timeout only wakes the reader to look at its deadlines, so waking a
/// little early is harmless and a little late (1/64) is tolerated: then the
/// keepalive deadline, which moves with every read, costs no system call
/// per read.
fn needs_rearming(armed: Option<Duration>, wanted: Option<Duration>) -> bool {
    match (armed, wanted) {
        (Some(armed), Some(wanted)) => wanted < armed - armed / 64 || wanted > armed * 2,
        (armed, wanted) => armed != wanted,
    }
}

/// The earlier of two optional instants (or durations).
fn earliest<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Grows the read buffer while reads fill it, shrinks it while they don't.
fn adapt_read_buffer(buf: &mut Vec<u8>, last_read: usize) {
    let len = buf.len();
    if last_read == len && len < READ_BUFFER_MAX {
        buf.resize(len * 2, 0);
    } else if last_read < len / 4 && len > READ_BUFFER_MIN {
        buf.truncate(len / 2);
        buf.shrink_to(len / 2);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn read_timeouts_rearm_only_when_they_matter() {
        use super::needs_rearming;
        use std::time::Duration;
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert!(!needs_rearming(None, None));
        assert!(needs_rearming(None, Some(s(18))));
        assert!(needs_rearming(Some(s(18)), None));
        // The keepalive deadline, a few microseconds nearer after each read.
        assert!(!needs_rearming(Some(s(18)), Some(s(18) - ms(1))));
        // A nearer deadline (a receive timeout slice) is armed.
        assert!(needs_rearming(Some(s(18)), Some(s(1))));
        // A much later one too, so that a short timeout does not spin.
        assert!(needs_rearming(Some(ms(1)), Some(s(18))));
        assert!(!needs_rearming(Some(s(1)), Some(ms(1500))));
    }
}

/// A test's hook into `send_alone`, right after it took the wire: it runs
/// on the thread that installed it, once (test builds only).
#[cfg(test)]
mod pause_point {
    use std::cell::RefCell;

    thread_local! {
        pub(super) static HOOK: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    pub(super) fn reached() {
        if let Some(hook) = HOOK.with(|h| h.borrow_mut().take()) {
            hook();
        }
    }
}

#[cfg(test)]
mod races {
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use crate::{MessageWebSocket, Server};

    /// The socket is dropped (close without waiting) while a sender holds
    /// the wire in `send_alone`: the closer's flush finds the wire taken, so
    /// the sender, which then finds the close frame queued, must see it out.
    /// (It once let go of the wire and failed without a flush: the close
    /// frame stayed queued until the close timer cut the connection.)
    #[test]
    fn a_close_queued_while_a_sender_holds_the_wire_still_goes_out() {
        let server = Server::builder()
            .close_timeout(Duration::from_secs(5))
            .bind("127.0.0.1:0")
            .unwrap();
        let url = format!("ws://{}/", server.local_addr().unwrap());
        let client = thread::spawn(move || {
            MessageWebSocket::builder()
                .receive_timeout(Duration::from_secs(10))
                .connect(&url)
                .unwrap()
        });
        let request = server.incoming().next().unwrap().unwrap();
        let ws = request.accept_message().unwrap();
        let peer = client.join().unwrap();

        let (holding_tx, holding_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let tx = ws.sender();
        let sender = thread::spawn(move || {
            super::pause_point::HOOK.with(|h| {
                *h.borrow_mut() = Some(Box::new(move || {
                    holding_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                }))
            });
            tx.send_binary([7u8; 10])
        });
        holding_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the sender never reached send_alone");
        drop(ws);
        go_tx.send(()).unwrap();
        let _ = sender.join().unwrap(); // sent, or Closed: either is fine

        // The peer's wait (10 s) outlasts the close timer (5 s): without the
        // close frame the connection is cut first, and the end has no frame.
        let end = loop {
            match peer.recv_timeout(Duration::from_secs(10)) {
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(end.close_frame().map(|f| f.code), Some(1001), "{end}");
    }
}
