//! A server that pushes to many clients never waits for one that stopped
//! reading: send queues with a byte limit, `try_send`, `Hub::broadcast` and
//! its policy for a full queue, and `round_trip`.

mod support;

use std::collections::HashSet;
use std::io::Read;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use support::{raw_client, read_frame, RawServer, WAIT};
use wsock::{Hub, HubEvent, Message, MessageWebSocket, Server, Status, TrySendError, WhenFull};

const MEMBERS: usize = 50;
const MESSAGES: usize = 400;
const SIZE: usize = 64 << 10;
const LIMIT: usize = 8 << 20;

/// The chat of the issue: `MEMBERS` members, of which one (a hand-made
/// client) completes its handshake and never reads. Alice sends `MESSAGES`
/// messages of `SIZE` bytes, each after her previous one came back to her;
/// the hub thread broadcasts each to everyone. Returns how long until every
/// reading member had them all, the hub, the stuck member's raw socket, and
/// the events other than messages that the relay saw meanwhile.
fn chat(stuck: bool, policy: WhenFull) -> (Duration, Hub, Option<TcpStream>, Vec<HubEvent>) {
    let server = Server::builder()
        .outbound_queue_limit(LIMIT)
        // Far beyond the test: a stall would show as a wait for it.
        .send_timeout(Duration::from_secs(120))
        .close_timeout(Duration::from_secs(1))
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let hub = Hub::new().when_full(policy);
    let accepting = hub.clone();
    thread::spawn(move || {
        for request in server.incoming() {
            let _ = request.and_then(|r| r.accept_into(&accepting));
        }
    });
    let readers = if stuck { MEMBERS - 1 } else { MEMBERS };
    let members: Vec<MessageWebSocket> = (0..readers)
        .map(|i| MessageWebSocket::connect(&format!("ws://{addr}/?member{i}")).unwrap())
        .collect();
    let stuck_socket = stuck.then(|| raw_client(addr));
    // Everyone is in before the first message (Opened comes first).
    let mut opened = 0;
    while opened < MEMBERS.min(readers + usize::from(stuck)) {
        match hub.recv_timeout(WAIT).expect("every member opens") {
            HubEvent::Opened(_) => opened += 1,
            other => panic!("before the chat: {other:?}"),
        }
    }
    let relay = hub.clone();
    let relaying = thread::spawn(move || {
        let (mut relayed, mut others) = (0, Vec::new());
        while relayed < MESSAGES {
            match relay.recv_timeout(WAIT).expect("Alice's next message") {
                HubEvent::Message(_, m) => {
                    relay.broadcast(&m);
                    relayed += 1;
                }
                other => others.push(other),
            }
        }
        others
    });

    let started = Instant::now();
    let receivers: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            thread::spawn(move || {
                for n in 0..MESSAGES {
                    if i == 0 {
                        let mut m = vec![0u8; SIZE];
                        m[..8].copy_from_slice(&(n as u64).to_be_bytes());
                        ws.send_binary(&m).unwrap();
                    }
                    let m = ws.recv_timeout(WAIT).unwrap_or_else(|e| {
                        panic!("member {i} waited in vain for message {n}: {e}")
                    });
                    let Message::Binary(b) = m else {
                        panic!("member {i}: not binary")
                    };
                    assert_eq!(b.len(), SIZE);
                    assert_eq!(b[..8], (n as u64).to_be_bytes(), "member {i}: out of order");
                }
                ws
            })
        })
        .collect();
    let members: Vec<MessageWebSocket> = receivers.into_iter().map(|r| r.join().unwrap()).collect();
    let elapsed = started.elapsed();
    let others = relaying.join().unwrap();
    drop(members);
    (elapsed, hub, stuck_socket, others)
}

#[test]
fn a_member_that_stopped_reading_does_not_hold_up_the_room() {
    let (without, _, _, _) = chat(false, WhenFull::Skip);
    let (with, hub, stuck, others) = chat(true, WhenFull::Skip);
    assert!(others.is_empty(), "nobody left: {others:?}");
    eprintln!(
        "every reader had all {MESSAGES}: {without:?} without a stuck member, {with:?} with one"
    );
    // The stuck member is still there: nobody waited for it (it was
    // skipped), and its queue stayed within the limit (plus one message).
    let stuck_connection = hub
        .connections()
        .into_iter()
        .find(|c| c.path() == "/raw")
        .expect("the stuck member is still connected");
    let queued = stuck_connection.info().queued_bytes;
    assert!(
        queued > 0,
        "the stuck member's queue holds what it did not read"
    );
    assert!(
        queued <= (LIMIT + SIZE + 14) as u64,
        "the stuck member's queue grew to {queued} bytes (limit {LIMIT})"
    );
    drop(stuck);
}

#[test]
fn when_full_close_closes_the_member_that_stopped_reading() {
    let (_, hub, stuck, mut others) = chat(true, WhenFull::Close);
    // Its close frame waits behind a full queue it never reads: the close
    // timeout (1 s) ends it, and its Closed event says so.
    let deadline = Instant::now() + WAIT;
    let end = loop {
        if let Some(i) = others
            .iter()
            .position(|e| matches!(e, HubEvent::Closed(c, _) if c.path() == "/raw"))
        {
            let HubEvent::Closed(_, e) = others.swap_remove(i) else {
                unreachable!()
            };
            break e;
        }
        assert!(Instant::now() < deadline, "the stuck member never ended");
        others.extend(hub.recv_timeout(WAIT));
    };
    // The reading members leave as they close (1000, when the test drops
    // them), never for being slow (1008).
    let slow = |e: &HubEvent| matches!(e, HubEvent::Closed(_, e) if e.close_frame().is_some_and(|f| f.code == 1008));
    assert!(
        !others.iter().any(slow),
        "a reading member was closed as slow: {others:?}"
    );
    assert_eq!(end.status(), Status::Timeout, "{end}");
    drop(stuck);
}

/// A server-side socket whose peer (a hand-made client) does not read.
fn unread_pair(limit: usize) -> (MessageWebSocket, TcpStream) {
    let raw = RawServer::start(Server::builder().outbound_queue_limit(limit));
    raw.connect()
}

#[test]
fn try_send_says_full_at_once_and_queues_again_once_the_peer_reads() {
    let (ws, mut peer) = unread_pair(256 << 10);
    let payload = vec![7u8; 16 << 10];
    let mut queued = 0u32;
    // The socket buffers take some; then the queue fills. Bounded: 64 MiB.
    let full = loop {
        assert!(queued < 4096, "the queue never filled");
        let mut m = payload.clone();
        m[..4].copy_from_slice(&queued.to_be_bytes());
        match ws.try_send(Message::Binary(m.into())) {
            Ok(()) => queued += 1,
            Err(e) => break e,
        }
    };
    let TrySendError::Full(back) = full else {
        panic!("expected Full, got {full:?}")
    };
    assert_eq!(back.len(), payload.len(), "the message comes back whole");
    assert_eq!(full_status(&ws), Status::QueueFull);
    assert!(ws.info().queued_bytes > 0);
    // The peer reads everything queued, in order, nothing lost.
    for n in 0..queued {
        let (opcode, body) = read_frame(&mut peer).expect("a queued message");
        assert_eq!(opcode, 2);
        assert_eq!(
            body[..4],
            n.to_be_bytes(),
            "message {n} lost or out of order"
        );
    }
    // The last write may still be finishing on the timer's thread.
    let deadline = Instant::now() + WAIT;
    while ws.info().queued_bytes > 0 {
        assert!(
            Instant::now() < deadline,
            "bytes still counted as queued after the peer read them all"
        );
        thread::sleep(Duration::from_millis(1));
    }
    ws.try_send(Message::Binary(payload.clone().into()))
        .expect("room again after the peer read");
    let (_, body) = read_frame(&mut peer).unwrap();
    assert_eq!(body.len(), payload.len());
}

/// The status of a `try_send` on the (still full) queue.
fn full_status(ws: &MessageWebSocket) -> Status {
    match ws.try_send(Message::Binary(vec![0u8; 16 << 10].into())) {
        Err(e) => e.status(),
        Ok(()) => panic!("queued on a full queue"),
    }
}

#[test]
fn try_send_on_a_closed_connection_gives_the_message_back_with_why() {
    let (ws, mut peer) = unread_pair(1 << 20);
    drop(peer.try_clone().unwrap().shutdown(std::net::Shutdown::Both));
    let mut buf = [0u8; 64];
    let _ = peer.read(&mut buf);
    // The reader thread sees the end; sends fail from then on.
    let deadline = Instant::now() + WAIT;
    let (m, e) = loop {
        assert!(
            Instant::now() < deadline,
            "try_send kept queueing on a dead connection"
        );
        match ws.try_send("hello".into()) {
            Err(TrySendError::Closed(m, e)) => break (m, e),
            Err(TrySendError::Full(_)) => panic!("Full on a dead connection"),
            Ok(()) => thread::yield_now(),
        }
        let _ = ws.recv_timeout(Duration::from_millis(10));
    };
    assert_eq!(m.as_text(), Some("hello"));
    assert_ne!(e.status(), Status::QueueFull);
}

#[test]
fn broadcast_reaches_a_thousand_connections() {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            let l = t.lines().find(|l| l.starts_with("Max open files"))?;
            l.split_whitespace().nth(3)?.parse::<usize>().ok()
        })
        .unwrap_or(1024);
    // Each connection takes two descriptors here (both ends); the other
    // tests of this file run meanwhile and need some hundreds.
    let count = 1000.min(limit.saturating_sub(500) / 2);
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let hub = Hub::new();
    let accepting = hub.clone();
    thread::spawn(move || {
        for request in server.incoming() {
            let _ = request.and_then(|r| r.accept_into(&accepting));
        }
    });
    let clients: Vec<MessageWebSocket> = (0..count)
        .map(|_| MessageWebSocket::connect(&url).unwrap())
        .collect();
    let mut opened = HashSet::new();
    while opened.len() < count {
        match hub.recv_timeout(WAIT) {
            Some(HubEvent::Opened(c)) => assert!(opened.insert(c.id())),
            Some(other) => panic!("before the broadcast: {other:?}"),
            None => panic!("only {} of {count} connections opened", opened.len()),
        }
    }
    assert_eq!(hub.broadcast(&"to everyone".into()), count);
    for (i, c) in clients.iter().enumerate() {
        let m = c
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        assert_eq!(m.as_text(), Some("to everyone"));
    }
    // The free helper over senders does the same.
    let senders: Vec<wsock::Sender> = hub.connections().iter().map(|c| c.sender()).collect();
    assert_eq!(wsock::broadcast(&senders, &"again".into()), count);
    for c in &clients {
        assert_eq!(c.recv_timeout(WAIT).unwrap().as_text(), Some("again"));
    }
}

#[test]
fn round_trip_times_a_live_peer_and_gives_up_on_a_silent_one() {
    let (client, server) = support::pair();
    let rtt = client.round_trip(WAIT).expect("a live peer answers");
    assert!(rtt < WAIT);
    let seen = client.info().rtt.expect("the pong was timed");
    assert!(
        seen <= rtt,
        "rtt {seen:?} longer than the whole round trip {rtt:?}"
    );
    assert!(server.round_trip(WAIT).is_ok(), "the server side too");

    // A peer that does not read answers no ping: a Timeout, and the
    // connection lives on.
    let (ws, _peer) = unread_pair(1 << 20);
    let e = ws
        .round_trip(Duration::from_millis(300))
        .expect_err("nobody answers");
    assert_eq!(e.status(), Status::Timeout, "{e}");
    ws.send_text("still open").expect("the connection lives on");

    // After the close handshake, a round trip says so (not a Timeout).
    server.close(1000, "done").unwrap();
    let e = client.round_trip(WAIT).expect_err("closed");
    assert_eq!(e.status(), Status::Closed, "{e}");
}

#[test]
fn send_all_delivers_a_burst_in_order_with_a_large_message_among_them() {
    let (client, server) = support::pair();
    let big = vec![9u8; 1 << 20];
    let count = 10_000u32;
    let burst = (0..count).map(move |i| match i {
        5_000 => Message::Binary(big.clone().into()),
        i => Message::from(i.to_string()),
    });
    let reading = thread::spawn(move || {
        for i in 0..count {
            let m = client.recv_timeout(WAIT).unwrap();
            match i {
                5_000 => assert_eq!(m.len(), 1 << 20),
                i => assert_eq!(m.as_text(), Some(i.to_string().as_str())),
            }
        }
        client
    });
    assert_eq!(server.send_all(burst).unwrap(), count as usize);
    assert_eq!(server.info().messages_sent, u64::from(count));
    assert_eq!(
        server.info().queued_bytes,
        0,
        "all on the wire when it returns"
    );
    let client = reading.join().unwrap();
    // The connection goes on as usual afterwards.
    server.send_text("after").unwrap();
    assert_eq!(client.recv_timeout(WAIT).unwrap().as_text(), Some("after"));
}
