//! A fault-injecting TCP proxy on loopback, for tests: it forwards each
//! connection it accepts to a target address, one thread per direction, and
//! a [`Link`] handle injects faults into a live connection at any time:
//! delay, stop forwarding (silently drop the bytes), stop reading (so the
//! sender fills the buffers), cut (FIN to both ends) or reset (RST to both
//! ends), now or after a number of bytes.
//!
//! Bounded: the forwarding threads end when their sockets close, and
//! dropping the proxy cuts every connection and waits (bounded) for them.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::SockRef;

/// Longest blocking write of a forwarding thread: it checks between slices
/// whether its connection was cut.
const WRITE_SLICE: Duration = Duration::from_millis(100);
/// How long dropping the proxy waits for its forwarding threads to end.
const DROP_WAIT: Duration = Duration::from_secs(10);
const CHUNK: usize = 64 << 10;

/// A direction of a proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From the connecting client to the target server.
    ToServer,
    /// From the target server to the connecting client.
    ToClient,
    /// Both of them.
    Both,
}

impl Dir {
    fn indices(self) -> &'static [usize] {
        match self {
            Dir::ToServer => &[0],
            Dir::ToClient => &[1],
            Dir::Both => &[0, 1],
        }
    }
}

/// A fault for one direction (or both) of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward normally (lifts every other fault of the direction).
    Forward,
    /// Hold each chunk this long before forwarding it.
    Delay(Duration),
    /// Read and silently drop the bytes: a peer that is gone without a word.
    /// The end of the connection (a FIN or a reset) still passes.
    Discard,
    /// Stop reading from the sending side, so its socket buffers fill and
    /// its writes block; nothing read before is lost ([`Fault::Forward`]
    /// resumes).
    Pause,
    /// Forward this many more bytes, then close both sockets (a FIN to each
    /// end, in the middle of whatever frame was passing).
    CutAfter(u64),
    /// Forward this many more bytes, then reset both sockets (SO_LINGER 0,
    /// then close: an RST to each end).
    ResetAfter(u64),
}

/// How a connection is ended by the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Fin,
    Reset,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Forward,
    Discard,
    Pause,
}

#[derive(Debug, Clone, Copy)]
struct DirState {
    mode: Mode,
    delay: Duration,
    /// Bytes still to forward before the connection ends, and how it ends.
    end_after: Option<(u64, End)>,
    forwarded: u64,
}

impl Default for DirState {
    fn default() -> Self {
        DirState {
            mode: Mode::Forward,
            delay: Duration::ZERO,
            end_after: None,
            forwarded: 0,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    dirs: [DirState; 2],
    /// Cut or reset: the forwarding threads stop.
    dead: bool,
}

/// One proxied connection: the socket the client connected to, and the
/// socket to the target. Owned by its two forwarding threads; it closes
/// both sockets when the last of them ends.
struct Conn {
    /// `ends[0]` faces the client, `ends[1]` the server.
    ends: [TcpStream; 2],
    state: Mutex<State>,
    changed: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Conn {
    /// Ends the connection: a FIN to both ends, or (SO_LINGER 0) an RST to
    /// both ends once the forwarding threads have let go of the sockets.
    fn kill(&self, how: End) {
        let mut state = lock(&self.state);
        if state.dead {
            return;
        }
        state.dead = true;
        drop(state);
        for end in &self.ends {
            match how {
                End::Fin => {
                    let _ = end.shutdown(Shutdown::Both);
                }
                End::Reset => {
                    let _ = SockRef::from(end).set_linger(Some(Duration::ZERO));
                    // Wakes a blocked read without sending anything; the
                    // RST leaves when the socket is closed.
                    let _ = end.shutdown(Shutdown::Read);
                }
            }
        }
        self.changed.notify_all();
    }

    fn is_dead(&self) -> bool {
        lock(&self.state).dead
    }

    fn inject(&self, dir: Dir, fault: Fault) {
        let mut state = lock(&self.state);
        let mut end_now = None;
        for &i in dir.indices() {
            let d = &mut state.dirs[i];
            match fault {
                Fault::Forward => {
                    d.mode = Mode::Forward;
                    d.delay = Duration::ZERO;
                    d.end_after = None;
                }
                Fault::Delay(delay) => d.delay = delay,
                Fault::Discard => d.mode = Mode::Discard,
                Fault::Pause => d.mode = Mode::Pause,
                Fault::CutAfter(0) => end_now = Some(End::Fin),
                Fault::ResetAfter(0) => end_now = Some(End::Reset),
                Fault::CutAfter(n) => d.end_after = Some((n, End::Fin)),
                Fault::ResetAfter(n) => d.end_after = Some((n, End::Reset)),
            }
        }
        drop(state);
        self.changed.notify_all();
        if let Some(how) = end_now {
            self.kill(how);
        }
    }

    /// Waits while direction `i` is paused; false once the connection is dead.
    fn wait_unpaused(&self, i: usize) -> bool {
        let mut state = lock(&self.state);
        loop {
            if state.dead {
                return false;
            }
            if !matches!(state.dirs[i].mode, Mode::Pause) {
                return true;
            }
            state = self
                .changed
                .wait_timeout(state, Duration::from_secs(1))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits `delay`, or less if the connection dies; false if it did.
    fn wait_delay(&self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        let mut state = lock(&self.state);
        loop {
            if state.dead {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            state = self
                .changed
                .wait_timeout(state, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Writes all of `bytes` to end `to`, in slices; false if the
    /// connection died meanwhile or the write failed (then it is reset).
    fn write_all(&self, to: usize, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            if self.is_dead() {
                return false;
            }
            match (&self.ends[to]).write(bytes) {
                Ok(0) => {
                    self.kill(End::Reset);
                    return false;
                }
                Ok(n) => bytes = &bytes[n..],
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => {
                    self.kill(End::Reset);
                    return false;
                }
            }
        }
        true
    }

    /// The forwarding thread of direction `i` (0: client to server, 1:
    /// server to client).
    fn pump(&self, i: usize) {
        let (from, to) = if i == 0 { (0, 1) } else { (1, 0) };
        let mut buf = vec![0u8; CHUNK];
        loop {
            if !self.wait_unpaused(i) {
                return;
            }
            let n = match (&self.ends[from]).read(&mut buf) {
                Ok(0) => {
                    // The sender closed its half: pass the FIN on.
                    let _ = self.ends[to].shutdown(Shutdown::Write);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    // Reset by the sender (or by a kill): pass the reset on.
                    self.kill(End::Reset);
                    return;
                }
            };
            // A pause that came while reading holds back what was read.
            if !self.wait_unpaused(i) {
                return;
            }
            let (mode, delay, end_after) = {
                let d = lock(&self.state).dirs[i];
                (d.mode, d.delay, d.end_after)
            };
            if !delay.is_zero() && !self.wait_delay(delay) {
                return;
            }
            let take = match end_after {
                Some((left, _)) => n.min(usize::try_from(left).unwrap_or(usize::MAX)),
                None => n,
            };
            if !matches!(mode, Mode::Discard) && !self.write_all(to, &buf[..take]) {
                return;
            }
            let mut state = lock(&self.state);
            let d = &mut state.dirs[i];
            d.forwarded += take as u64;
            if let Some((left, how)) = d.end_after {
                let left = left - take as u64;
                if left == 0 {
                    d.end_after = None;
                    drop(state);
                    self.kill(how);
                    return;
                }
                d.end_after = Some((left, how));
            }
        }
    }
}

/// A handle on one proxied connection; it does not keep the connection open.
#[derive(Clone)]
pub struct Link(Weak<Conn>);

impl Link {
    /// Injects `fault` into direction `dir` (no effect once the connection
    /// has ended).
    pub fn inject(&self, dir: Dir, fault: Fault) {
        if let Some(conn) = self.0.upgrade() {
            conn.inject(dir, fault);
        }
    }

    /// Stops forwarding in `dir`, silently: the bytes are read and dropped.
    pub fn discard(&self, dir: Dir) {
        self.inject(dir, Fault::Discard);
    }

    /// Stops reading in `dir`, so that side's sender fills the buffers.
    pub fn pause(&self, dir: Dir) {
        self.inject(dir, Fault::Pause);
    }

    /// Forwards normally again in `dir`.
    pub fn resume(&self, dir: Dir) {
        self.inject(dir, Fault::Forward);
    }

    /// Closes both sockets now (a FIN to each end).
    pub fn cut(&self) {
        if let Some(conn) = self.0.upgrade() {
            conn.kill(End::Fin);
        }
    }

    /// Resets both sockets now (SO_LINGER 0, then close: an RST to each end).
    pub fn reset(&self) {
        if let Some(conn) = self.0.upgrade() {
            conn.kill(End::Reset);
        }
    }

    /// Bytes forwarded (or dropped by [`Fault::Discard`]) so far in `dir`
    /// (`Dir::Both`: the sum).
    pub fn forwarded(&self, dir: Dir) -> u64 {
        match self.0.upgrade() {
            Some(conn) => {
                let state = lock(&conn.state);
                dir.indices().iter().map(|&i| state.dirs[i].forwarded).sum()
            }
            None => 0,
        }
    }

    /// True until both forwarding threads have ended and the sockets are closed.
    pub fn is_open(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// Which connections a fault goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every connection open now.
    All,
    /// The connection accepted last.
    Latest,
}

struct Shared {
    target: SocketAddr,
    stopping: AtomicBool,
    accepted: AtomicUsize,
    /// Every connection accepted (pruned of closed ones as new ones come).
    conns: Mutex<Vec<Weak<Conn>>>,
    /// Forwarding threads running.
    pumps: Mutex<usize>,
    pumps_changed: Condvar,
}

/// The proxy: listens on 127.0.0.1 (port 0) and forwards to a target.
pub struct FaultProxy {
    addr: SocketAddr,
    listener: TcpListener,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `target`.
    pub fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            target,
            stopping: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            conns: Mutex::new(Vec::new()),
            pumps: Mutex::new(0),
            pumps_changed: Condvar::new(),
        });
        let accepting = listener.try_clone().unwrap();
        let acceptor_shared = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("fault-proxy".into())
            .stack_size(128 << 10)
            .spawn(move || accept_loop(accepting, acceptor_shared))
            .expect("spawn the proxy's acceptor");
        FaultProxy {
            addr,
            listener,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections the proxy has accepted.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// The connection accepted last, if any.
    pub fn latest(&self) -> Option<Link> {
        lock(&self.shared.conns).last().map(|w| Link(w.clone()))
    }

    /// Every connection still open.
    pub fn open(&self) -> Vec<Link> {
        lock(&self.shared.conns)
            .iter()
            .filter(|w| w.strong_count() > 0)
            .map(|w| Link(w.clone()))
            .collect()
    }

    /// Injects `fault` into direction `dir` of the connections in `scope`.
    pub fn inject(&self, scope: Scope, dir: Dir, fault: Fault) {
        let links = match scope {
            Scope::All => self.open(),
            Scope::Latest => self.latest().into_iter().collect(),
        };
        for link in links {
            link.inject(dir, fault);
        }
    }

    /// Waits until every forwarding thread has ended (all connections
    /// closed), at most `timeout`; true if they have.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut pumps = lock(&self.shared.pumps);
        while *pumps > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            pumps = self
                .shared
                .pumps_changed
                .wait_timeout(pumps, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocked accept() (Linux returns EINVAL).
        let _ = SockRef::from(&self.listener).shutdown(Shutdown::Both);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let conns: Vec<Arc<Conn>> = lock(&self.shared.conns)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for conn in conns {
            conn.kill(End::Fin);
        }
        if !self.wait_idle(DROP_WAIT) && !thread::panicking() {
            panic!("the proxy's forwarding threads did not end within {DROP_WAIT:?}");
        }
    }
}

/// Decrements the running count when a forwarding thread ends, however.
struct PumpGuard(Arc<Shared>);

impl Drop for PumpGuard {
    fn drop(&mut self) {
        *lock(&self.0.pumps) -= 1;
        self.0.pumps_changed.notify_all();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok((client, _)) = accepted else {
            continue;
        };
        let Ok(server) = TcpStream::connect_timeout(&shared.target, Duration::from_secs(5)) else {
            // The target is gone: the client sees its connection reset.
            let _ = SockRef::from(&client).set_linger(Some(Duration::ZERO));
            continue;
        };
        if let Err(e) = start_conn(client, server, &shared) {
            eprintln!("fault proxy: cannot forward a connection: {e}");
        }
    }
}

fn start_conn(client: TcpStream, server: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    for end in [&client, &server] {
        end.set_nodelay(true)?;
        end.set_write_timeout(Some(WRITE_SLICE))?;
    }
    let conn = Arc::new(Conn {
        ends: [client, server],
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
    });
    {
        let mut conns = lock(&shared.conns);
        conns.retain(|w| w.strong_count() > 0);
        conns.push(Arc::downgrade(&conn));
    }
    shared.accepted.fetch_add(1, Ordering::SeqCst);
    for i in 0..2 {
        *lock(&shared.pumps) += 1;
        let guard = PumpGuard(Arc::clone(shared));
        let pumped = Arc::clone(&conn);
        let spawned = thread::Builder::new()
            .name("fault-pump".into())
            .stack_size(128 << 10)
            .spawn(move || {
                let _guard = guard;
                pumped.pump(i);
            });
        if let Err(e) = spawned {
            conn.kill(End::Reset);
            return Err(e);
        }
    }
    Ok(())
}
