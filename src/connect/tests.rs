//! Unit tests of URL parsing and name resolution (no sockets).
use super::*;

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
