//! Unit tests of URL parsing, name resolution (no sockets) and Happy
//! Eyeballs (real sockets on 127.0.0.1, addresses fed through the resolver
//! stand-in).
use super::eyeballs::{interleave, Outcome, Race, STAGGER};
use super::*;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::TcpListener;
use std::time::Instant;

/// Far longer than anything here should take; what a hang fails after.
const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_slow_resolver_cannot_outlast_the_connect_budget() {
    let budget = Duration::from_millis(100);
    let started = std::time::Instant::now();
    // A stand-in for a resolver that hangs (a DNS server gone silent).
    let e = resolve_with(
        "slow.test",
        80,
        5,
        Deadline::after(budget),
        budget,
        |_, _| {
            std::thread::sleep(Duration::from_secs(3));
            Ok(Vec::new())
        },
    )
    .unwrap_err();
    assert_eq!(e.status(), Status::Timeout, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited for the resolver"
    );
    let fast = resolve_with(
        "fast.test",
        80,
        1,
        Deadline::after(budget),
        budget,
        |_, port| {
            Ok(vec![
                SocketAddr::from(([127, 0, 0, 1], port)),
                SocketAddr::from(([127, 0, 0, 2], port)),
            ])
        },
    )
    .unwrap();
    assert_eq!(
        fast,
        vec![SocketAddr::from(([127, 0, 0, 1], 80))],
        "at most max"
    );
}

fn reason(raw: &str) -> String {
    match parse_url(raw) {
        Err(Error::InvalidUrl { reason, .. }) => reason,
        other => panic!("{raw}: expected InvalidUrl, got {other:?}"),
    }
}

#[test]
fn ports_default_by_scheme() {
    let t = parse_url("ws://example.org/chat?room=1").expect("valid");
    assert_eq!(
        (t.host.as_str(), t.port, t.secure),
        ("example.org", 80, false)
    );
    let t = parse_url("ws://127.0.0.1:9001").expect("valid");
    assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 9001));
    #[cfg(feature = "tls")]
    {
        let t = parse_url("wss://example.org").expect("valid");
        assert_eq!((t.port, t.secure), (443, true));
    }
}

#[test]
fn ipv6_hosts_lose_their_brackets() {
    let t = parse_url("ws://[::1]:8080/").expect("valid");
    assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
}

#[test]
fn bad_urls_say_what_is_wrong() {
    assert!(reason("http://example.org/").contains("ws:// or wss://"));
    assert!(reason("ws://example.org/#top").contains("fragment"));
    assert!(!reason("not a url").is_empty());
    assert!(!reason("ws://").is_empty());
}

#[test]
fn ipv6_and_ipv4_take_turns_the_resolvers_first_family_first() {
    let v4 = |last: u8| SocketAddr::from(([192, 0, 2, last], 80));
    let v6 = |last: u16| SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, last], 80));
    assert_eq!(
        interleave(vec![v4(1), v4(2), v6(1), v4(3), v6(2)]),
        vec![v4(1), v6(1), v4(2), v6(2), v4(3)]
    );
    assert_eq!(
        interleave(vec![v6(1), v4(1), v4(2), v6(2)]),
        vec![v6(1), v4(1), v6(2), v4(2)]
    );
    assert_eq!(interleave(vec![v4(2), v4(1)]), vec![v4(2), v4(1)]);
    assert_eq!(
        interleave(vec![v6(1), v6(2), v4(1)]),
        vec![v6(1), v4(1), v6(2)]
    );
    assert_eq!(interleave(Vec::new()), Vec::new());
    // The limit applies after the interleaving: four IPv4 addresses
    // listed first do not crowd out the IPv6 ones.
    let found = vec![v4(1), v4(2), v4(3), v4(4), v6(1), v6(2)];
    let budget = Duration::from_secs(5);
    let addrs = resolve_with(
        "both.test",
        80,
        3,
        Deadline::after(budget),
        budget,
        |_, _| Ok(found),
    )
    .unwrap();
    assert_eq!(addrs, vec![v4(1), v6(1), v4(2)]);
    // One address: the resolver's first, as before the racing.
    let one = resolve_with(
        "both.test",
        80,
        1,
        Deadline::after(budget),
        budget,
        move |_, _| Ok(vec![v4(1), v6(1)]),
    )
    .unwrap();
    assert_eq!(one, vec![v4(1)]);
}

/// A loopback address whose connects hang, with what keeps it so: a
/// listener (backlog 0) whose accept queue is full, so the kernel drops
/// further SYNs unanswered. Made by filling the queue until a probe
/// connect times out.
fn silent_address() -> (SocketAddr, Socket, Vec<TcpStream>) {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut queued = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(tcp) => queued.push(tcp),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return (addr, listener, queued),
            Err(e) => panic!("filling the backlog of {addr}: {e}"),
        }
    }
    panic!("{addr} kept accepting connections: no silent address on this machine");
}

/// An address nobody listens on (connects are refused).
fn refused_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Joins `threads`, failing the test if they are not all done within `WAIT`.
fn join_within(threads: Vec<std::thread::JoinHandle<()>>, what: &str) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for thread in threads {
            let _ = thread.join();
        }
        let _ = tx.send(());
    });
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("{what}: still running after {WAIT:?}"));
}

#[test]
fn a_silent_address_does_not_hold_up_the_next() {
    let (silent, _listener, _queued) = silent_address();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let good = server.local_addr().unwrap();
    let budget = Duration::from_secs(30);
    let deadline = Deadline::after(budget);
    let addrs = resolve_with("two.test", good.port(), 5, deadline, budget, move |_, _| {
        Ok(vec![silent, good])
    })
    .unwrap();
    assert_eq!(addrs, vec![silent, good], "resolver order within a family");

    let started = Instant::now();
    let (won, race) = Race::run(&addrs, deadline, STAGGER);
    let took = started.elapsed();
    let won = won.unwrap_or_else(|| panic!("no connection: {:?}", race.attempts));
    assert_eq!(won.peer_addr().unwrap().as_socket(), Some(good));
    assert!(
        took >= STAGGER,
        "the second started before the stagger: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} (budget {budget:?}, stagger {STAGGER:?})"
    );
    assert!(
        matches!(race.attempts[0].1, Outcome::Pending),
        "{:?}",
        race.attempts
    );
    assert!(
        matches!(race.attempts[1].1, Outcome::Won),
        "{:?}",
        race.attempts
    );
    // The loser was shut down: its thread ends now, not at the deadline.
    join_within(race.threads, "the attempts' threads");
    server.set_nonblocking(true).unwrap();
    assert!(server.accept().is_ok(), "the winner reached the server");
}

#[test]
fn every_address_that_failed_is_named() {
    let (a, b) = (refused_address(), refused_address());
    let budget = WAIT;
    let started = Instant::now();
    let e = connect_tcp(&[a, b], Deadline::after(budget), "ws://two.test/", budget).unwrap_err();
    assert_eq!(e.status(), Status::CannotConnect, "{e}");
    let shown = e.to_string();
    for addr in [a, b] {
        assert!(
            shown.contains(&addr.to_string()),
            "{addr} not named: {shown}"
        );
    }
    // A failure starts the next address at once, not after the stagger.
    assert!(started.elapsed() < Duration::from_secs(3), "{shown}");
}

#[test]
fn silent_addresses_time_out_within_the_budget() {
    let (one, _l1, _q1) = silent_address();
    let (two, _l2, _q2) = silent_address();
    let budget = Duration::from_millis(600);
    let started = Instant::now();
    let e = connect_tcp(
        &[one, two],
        Deadline::after(budget),
        "ws://two.test/",
        budget,
    )
    .unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.status(), Status::Timeout, "{e}");
    assert!(took >= budget, "gave up after {took:?}: {e}");
    assert!(took < Duration::from_secs(3), "took {took:?}: {e}");
    let shown = e.to_string();
    assert!(shown.contains(&format!("{one}: timed out")), "{shown}");
    assert!(shown.contains(&format!("{two}: timed out")), "{shown}");

    // A budget shorter than the stagger: the second address's turn never comes.
    let deadline = Deadline::after(Duration::from_millis(200));
    let (won, race) = Race::run(&[one, two], deadline, Duration::from_secs(5));
    assert!(won.is_none());
    assert!(
        matches!(race.attempts[1].1, Outcome::NotTried),
        "{:?}",
        race.attempts
    );
    join_within(race.threads, "a silent attempt after the budget");
}

/// A SOCKS5 proxy stand-in on 127.0.0.1: answers each connection's
/// CONNECT with the next of `codes` (after `0`, it sends "tunnel") and
/// hands over each address it was asked for.
fn fake_socks(codes: Vec<u8>) -> (u16, mpsc::Receiver<Vec<u8>>, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen_tx, seen) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        for code in codes {
            let (mut tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(WAIT)).unwrap();
            let mut greeting = [0u8; 3];
            tcp.read_exact(&mut greeting).unwrap();
            tcp.write_all(&[5, 0]).unwrap();
            let mut head = [0u8; 4];
            tcp.read_exact(&mut head).unwrap();
            let mut address = vec![0u8; if head[3] == 4 { 16 } else { 4 }];
            let mut port = [0u8; 2];
            tcp.read_exact(&mut address).unwrap();
            tcp.read_exact(&mut port).unwrap();
            seen_tx.send(address).unwrap();
            tcp.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
            if code == 0 {
                tcp.write_all(b"tunnel").unwrap();
            }
        }
    });
    (port, seen, thread)
}

#[test]
fn socks5_tries_each_address_resolved_here_in_turn() {
    use super::socks::{through, Address};
    use std::io::Read;
    let target = parse_url("ws://multi.test:9/").unwrap();
    let options = Options::default();
    let v6: std::net::IpAddr = "2001:db8::1".parse().unwrap();
    let addresses = [
        Address::Ip(v6),
        Address::Ip([192, 0, 2, 1].into()),
        Address::Ip([192, 0, 2, 2].into()),
    ];
    let octets = |a: &Address| match a {
        Address::Ip(std::net::IpAddr::V4(a)) => a.octets().to_vec(),
        Address::Ip(std::net::IpAddr::V6(a)) => a.octets().to_vec(),
        Address::Name => unreachable!(),
    };

    // Unreachable, refused, then connected: the third connection is the tunnel.
    let (port, seen, fake) = fake_socks(vec![4, 5, 0]);
    let proxy = proxy::parse(&format!("socks5://127.0.0.1:{port}")).unwrap();
    let open = || {
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| Error::io("the proxy", "connecting", e))
    };
    let mut tcp = through(
        &proxy,
        &target,
        &addresses,
        &options,
        Deadline::after(WAIT),
        &open,
    )
    .unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = [0u8; 6];
    tcp.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"tunnel");
    join_within(vec![fake], "the SOCKS5 stand-in");
    let asked: Vec<Vec<u8>> = seen.try_iter().collect();
    assert_eq!(asked, addresses.iter().map(octets).collect::<Vec<_>>());

    // All refused: the error names each address and what became of it.
    let (port, seen, fake) = fake_socks(vec![4, 5]);
    let proxy = proxy::parse(&format!("socks5://127.0.0.1:{port}")).unwrap();
    let open = || {
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| Error::io("the proxy", "connecting", e))
    };
    let e = through(
        &proxy,
        &target,
        &addresses[..2],
        &options,
        Deadline::after(WAIT),
        &open,
    )
    .unwrap_err();
    join_within(vec![fake], "the SOCKS5 stand-in");
    assert_eq!(seen.try_iter().count(), 2);
    assert_eq!(e.status(), Status::CannotConnectToProxy, "{e}");
    let text = e.to_string();
    assert!(text.contains("2001:db8::1: host unreachable"), "{text}");
    assert!(text.contains("192.0.2.1: connection refused"), "{text}");
}
