//! Happy Eyeballs (RFC 8305): the addresses of a host raced for the TCP
//! connection rather than tried one after another, within the connect
//! budget. Run by the thread that calls `connect`; each attempt but a lone
//! one runs on a `wsock-connect` thread of its own (so at most
//! `max_addresses` of them), which ends when its connect returns: at once
//! for the losers, which are shut down when the race is decided.
//!
//! The order ([`interleave`]): IPv6 and IPv4 take turns, starting with the
//! family of the resolver's first address (which ranks by the system's
//! preferences: RFC 6724, `/etc/gai.conf`), each
//! family in the resolver's order. The next address starts [`STAGGER`]
//! after the attempt before it began, or at once when an attempt fails; the
//! first connection wins.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::slice_timeouts;
use crate::error::{Error, Result, Status};
use crate::time::Deadline;

/// How long an attempt has alone before the next address starts: RFC
/// 8305's recommended Connection Attempt Delay.
pub(super) const STAGGER: Duration = Duration::from_millis(250);

/// Stack of a `wsock-connect` thread: it only connects and reports.
const ATTEMPT_STACK: usize = 128 << 10;

/// How long past the deadline an attempt's own connect timeout runs: the
/// calling thread decides the deadline (and shuts the attempts down then),
/// so that no attempt reports a timeout a hair early (`poll` counts whole
/// milliseconds) and has the next one started with no time left.
const BACKSTOP: Duration = Duration::from_secs(1);

/// `addrs` with IPv6 and IPv4 taking turns, the family of the first
/// address first, each family in the order given (RFC 8305, section 4).
pub(super) fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (same, other): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(same.len() + other.len());
    let (mut same, mut other) = (same.into_iter(), other.into_iter());
    loop {
        match (same.next(), other.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// Connects to the first of `addrs` to answer, racing them within one
/// budget; the error names what became of each address.
pub(super) fn connect_tcp(
    addrs: &[SocketAddr],
    deadline: Deadline,
    url: &str,
    budget: Duration,
) -> Result<TcpStream> {
    // The threads of the losers end on their own (they were shut down).
    let (won, race) = Race::run(addrs, deadline, STAGGER);
    match won {
        Some(socket) => {
            let tcp: TcpStream = socket.into();
            // The handshake reads and writes in slices so the budget is kept.
            slice_timeouts(&tcp, deadline);
            Ok(tcp)
        }
        None => Err(race.error(url, budget, deadline)),
    }
}

/// What became of one address.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Its turn never came: the budget ran out, or another address won.
    NotTried,
    /// Connecting when the race ended.
    Pending,
    /// Refused, unreachable, ...: what the system said.
    Failed(String),
    Won,
}

/// What an attempt's thread reports: its index, and its socket connected.
type Report = (usize, io::Result<Arc<Socket>>);

/// The attempts of one connect.
pub(super) struct Race {
    pub attempts: Vec<(SocketAddr, Outcome)>,
    /// The sockets of the attempts under way (shut down when the race ends).
    sockets: Vec<Option<Arc<Socket>>>,
    /// The attempts' threads (tests join them; `connect` leaves them).
    pub threads: Vec<JoinHandle<()>>,
    /// Set when the race is decided: an attempt not yet connecting stays
    /// out (one that looked a moment before connects, unwoken by the
    /// shutdown, and ends at its own timeout: the deadline plus `BACKSTOP`).
    over: Arc<AtomicBool>,
    reports: (mpsc::Sender<Report>, mpsc::Receiver<Report>),
    /// The last failure, as the error's source.
    last: Option<io::Error>,
}

impl Race {
    /// Races `addrs`, starting one every `stagger` (or at once after a
    /// failure), until one connects or `deadline`; a lone address is
    /// connected on this thread.
    pub(super) fn run(
        addrs: &[SocketAddr],
        deadline: Deadline,
        stagger: Duration,
    ) -> (Option<Socket>, Race) {
        let mut race = Race {
            attempts: addrs.iter().map(|a| (*a, Outcome::NotTried)).collect(),
            sockets: addrs.iter().map(|_| None).collect(),
            threads: Vec::new(),
            over: Arc::new(AtomicBool::new(false)),
            reports: mpsc::channel(),
            last: None,
        };
        let won = if let [addr] = addrs {
            race.alone(*addr, deadline)
        } else {
            race.staggered(deadline, stagger)
        };
        race.end();
        (won, race)
    }

    fn alone(&mut self, addr: SocketAddr, deadline: Deadline) -> Option<Socket> {
        if deadline.has_passed() {
            return None;
        }
        let attempt = new_socket(addr).and_then(|s| {
            s.connect_timeout(&addr.into(), deadline.left().max(Duration::from_millis(1)))
                .map(|()| s)
        });
        match attempt {
            Ok(socket) => {
                self.attempts[0].1 = Outcome::Won;
                Some(socket)
            }
            Err(e) => {
                self.failed(0, e);
                None
            }
        }
    }

    fn staggered(&mut self, deadline: Deadline, stagger: Duration) -> Option<Socket> {
        let mut next = 0;
        let mut next_at = Deadline::At(Instant::now());
        loop {
            let now = Instant::now();
            if deadline.passed_at(now) {
                return None;
            }
            let under_way = self.sockets.iter().filter(|s| s.is_some()).count();
            let more = next < self.attempts.len();
            if more && (under_way == 0 || next_at.passed_at(now)) {
                self.start(next, deadline);
                next += 1;
                next_at = Deadline::from(now, stagger);
                continue;
            }
            if under_way == 0 {
                return None; // every address failed
            }
            let wait = if more {
                deadline.min(next_at)
            } else {
                deadline
            };
            match self.reports.1.recv_timeout(wait.left()) {
                Ok((i, Ok(socket))) => {
                    // Ours goes first, so theirs is the last reference (the
                    // thread let go of its own): no `dup` is needed.
                    self.sockets[i] = None;
                    match Arc::try_unwrap(socket).or_else(|shared| shared.try_clone()) {
                        Ok(socket) => {
                            self.attempts[i].1 = Outcome::Won;
                            return Some(socket);
                        }
                        Err(e) => {
                            self.failed(i, e);
                            next_at = Deadline::At(now);
                        }
                    }
                }
                Ok((i, Err(e))) => {
                    self.sockets[i] = None;
                    self.failed(i, e);
                    next_at = Deadline::At(now); // the next one starts at once
                }
                Err(_) => {} // the stagger or the budget: checked above
            }
        }
    }

    /// Starts attempt `i` on a thread of its own.
    fn start(&mut self, i: usize, deadline: Deadline) {
        let addr = self.attempts[i].0;
        let socket = match new_socket(addr) {
            Ok(socket) => Arc::new(socket),
            Err(e) => return self.failed(i, e),
        };
        let (theirs, over, tx) = (socket.clone(), self.over.clone(), self.reports.0.clone());
        let spawned = std::thread::Builder::new()
            .name("wsock-connect".into())
            .stack_size(ATTEMPT_STACK)
            .spawn(move || {
                if over.load(Ordering::Acquire) {
                    return;
                }
                let left = deadline.left().saturating_add(BACKSTOP);
                let result = theirs.connect_timeout(&addr.into(), left);
                // A send fails once the race is over: the socket closes here.
                let _ = tx.send((i, result.map(|()| theirs)));
            });
        match spawned {
            Ok(thread) => {
                self.threads.push(thread);
                self.sockets[i] = Some(socket);
                self.attempts[i].1 = Outcome::Pending;
            }
            Err(e) => self.failed(
                i,
                io::Error::new(e.kind(), format!("cannot start a thread to connect: {e}")),
            ),
        }
    }

    fn failed(&mut self, i: usize, e: io::Error) {
        self.attempts[i].1 = Outcome::Failed(e.to_string());
        self.last = Some(e);
    }

    /// Decides the race: attempts still connecting are shut down (which
    /// wakes their threads) and closed, a connection that won too late with
    /// them.
    fn end(&mut self) {
        self.over.store(true, Ordering::Release);
        for socket in self.sockets.iter_mut().filter_map(Option::take) {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        while let Ok((_, Ok(late))) = self.reports.1.try_recv() {
            let _ = late.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The error when no address connected: each address and its fate, in
    /// the order tried.
    pub(super) fn error(self, url: &str, budget: Duration, deadline: Deadline) -> Error {
        let ran_out = self
            .attempts
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Pending | Outcome::NotTried));
        let timed_out = deadline.has_passed()
            || ran_out
            || self.last.as_ref().is_some_and(|e| {
                matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                )
            });
        let fates: Vec<String> = self
            .attempts
            .iter()
            .map(|(addr, outcome)| match outcome {
                Outcome::Failed(e) => format!("{addr}: {e}"),
                Outcome::Pending => format!("{addr}: timed out"),
                Outcome::NotTried | Outcome::Won => format!("{addr}: not tried"),
            })
            .collect();
        let mut detail = if fates.is_empty() {
            "no address was tried".to_owned()
        } else {
            fates.join("; ")
        };
        if timed_out {
            detail = format!("no connection within {budget:?} ({detail})");
        }
        Error::Connect {
            url: url.to_owned(),
            status: if timed_out {
                Status::Timeout
            } else {
                Status::CannotConnect
            },
            detail,
            source: self.last.map(Arc::new),
        }
    }
}

fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
}
