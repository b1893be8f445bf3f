//! One application thread serves many connections through a `Hub`, and a
//! server at its `max_connections` answers 503 while it keeps serving.
use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use wsock::{Hub, HubEvent, MessageWebSocket, Server, Status};

const WAIT: Duration = Duration::from_secs(30);

/// The soft limit on open descriptors (each connection here costs two).
fn descriptor_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            let line = t
                .lines()
                .find(|l| l.starts_with("Max open files"))?
                .to_owned();
            line.split_whitespace().nth(3)?.parse().ok()
        })
        .unwrap_or(1024)
}

/// Accepts every request into `hub`, on its own thread.
fn accept_all(server: Server, hub: &Hub) {
    let hub = hub.clone();
    thread::spawn(move || {
        for request in server.incoming() {
            let _ = request.and_then(|r| r.accept_into(&hub));
        }
    });
}

#[test]
fn one_thread_echoes_for_a_thousand_connections() {
    let wanted = 1_000;
    let count = wanted.min(descriptor_limit().saturating_sub(100) / 2);
    if count < wanted {
        eprintln!(
            "descriptor limit {}: testing {count} connections",
            descriptor_limit()
        );
    }
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let hub = Hub::new();
    accept_all(server, &hub);

    // The one application thread: echo messages, count ends.
    let app = hub.clone();
    let serving = thread::spawn(move || {
        let (mut echoed, mut opened, mut ended) = (0, HashSet::new(), HashSet::new());
        while ended.len() < count {
            match app.recv_timeout(WAIT).expect("the hub went quiet") {
                HubEvent::Opened(connection) => {
                    assert!(
                        opened.insert(connection.id()),
                        "two opens for one connection"
                    );
                }
                HubEvent::Message(connection, message) => {
                    assert!(
                        opened.contains(&connection.id()),
                        "a message before its Opened"
                    );
                    connection.send(message).unwrap();
                    echoed += 1;
                }
                HubEvent::Closed(connection, end) => {
                    assert!(
                        opened.contains(&connection.id()),
                        "an end before its Opened"
                    );
                    assert_eq!(end.close_frame().map(|f| f.code), Some(1000), "{end}");
                    assert!(ended.insert(connection.id()), "two ends for one connection");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        echoed
    });

    let clients: Vec<MessageWebSocket> = (0..count)
        .map(|_| MessageWebSocket::connect(&url).unwrap())
        .collect();
    for (i, client) in clients.iter().enumerate() {
        client.send_text(format!("{i:016}")).unwrap();
    }
    for (i, client) in clients.iter().enumerate() {
        assert_eq!(
            client.recv_timeout(WAIT).unwrap().as_text(),
            Some(format!("{i:016}").as_str())
        );
    }
    assert_eq!(hub.len(), count);
    for client in &clients {
        client.close(1000, "").unwrap();
    }
    assert_eq!(serving.join().unwrap(), count);
    assert!(hub.is_empty(), "ended connections leave the hub");
}

#[test]
fn past_max_connections_clients_get_503_and_the_rest_are_served() {
    let server = Server::builder()
        .max_connections(10)
        .bind("127.0.0.1:0")
        .unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let hub = Hub::new();
    accept_all(server, &hub);
    let app = hub.clone();
    thread::spawn(move || loop {
        if let Some(HubEvent::Message(c, m)) = app.recv_timeout(WAIT) {
            let _ = c.send(m);
        }
    });

    let admitted: Vec<MessageWebSocket> = (0..10)
        .map(|_| MessageWebSocket::connect(&url).unwrap())
        .collect();
    for _ in 0..2 {
        let refused = MessageWebSocket::connect(&url).unwrap_err();
        assert_eq!(
            refused.status(),
            Status::UnexpectedStatusCode(503),
            "{refused}"
        );
    }
    for ws in &admitted {
        ws.send_text("still served").unwrap();
        assert_eq!(
            ws.recv_timeout(WAIT).unwrap().as_text(),
            Some("still served")
        );
    }
    // A place frees when a connection ends (its reader thread releases it).
    admitted[0].close(1000, "").unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let late = loop {
        match MessageWebSocket::connect(&url) {
            Ok(ws) => break ws,
            Err(e)
                if e.status() == Status::UnexpectedStatusCode(503)
                    && std::time::Instant::now() < deadline => {}
            Err(e) => panic!("{e}"),
        }
    };
    late.send_text("in").unwrap();
    assert_eq!(late.recv_timeout(WAIT).unwrap().as_text(), Some("in"));
}

#[test]
fn a_connection_knows_the_path_and_query_it_asked_for() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/room?nick=ann", server.local_addr().unwrap());
    let hub = Hub::new();
    accept_all(server, &hub);
    let _client = MessageWebSocket::connect(&url).unwrap();
    match hub.recv_timeout(WAIT) {
        Some(HubEvent::Opened(connection)) => assert_eq!(connection.path(), "/room?nick=ann"),
        other => panic!("{other:?}"),
    }
}
