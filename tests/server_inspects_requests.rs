//! A server sees the client's path, query, headers and subprotocols before
//! deciding, and the subprotocol it selects is the one the client gets.

mod support;

use support::{connect_in_thread, next_request, serve, WAIT};
use wsock::{MessageWebSocket, Server, Status};

#[test]
fn the_request_shows_what_the_client_sent() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "ws://{}/chat/room%201?user=alice&lang=en",
        server.local_addr().unwrap()
    );
    let requests = serve(server);
    let client = connect_in_thread(
        MessageWebSocket::builder()
            .connect_timeout(WAIT)
            .protocols(["chat.v2", "chat.v1"])
            .header("Authorization", "Bearer t")
            .header("X-Trace-Id", "abc-123"),
        url,
    );

    let mut request = next_request(&requests);
    assert_eq!(request.path(), "/chat/room%201");
    assert_eq!(request.query(), Some("user=alice&lang=en"));
    assert_eq!(request.header("Authorization"), Some("Bearer t"));
    assert_eq!(request.header("authorization"), Some("Bearer t"));
    assert_eq!(request.header("X-TRACE-ID"), Some("abc-123"));
    assert_eq!(request.header("X-Not-Sent"), None);
    assert_eq!(request.protocols(), ["chat.v2", "chat.v1"]);

    let e = request
        .select_protocol("chat.v3")
        .expect_err("chose a subprotocol not offered");
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");
    request
        .select_protocol("chat.v1")
        .expect("select an offered subprotocol");
    let server_ws = request.accept_message().expect("accept");

    let client = client
        .recv_timeout(WAIT)
        .expect("connect did not return")
        .expect("connect");
    assert_eq!(client.info().protocol.as_deref(), Some("chat.v1"));
    assert_eq!(server_ws.info().protocol.as_deref(), Some("chat.v1"));
}

#[test]
fn without_protocols_none_are_listed_or_agreed() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let requests = serve(server);
    let client = connect_in_thread(MessageWebSocket::builder().connect_timeout(WAIT), url);

    let mut request = next_request(&requests);
    assert_eq!(request.path(), "/");
    assert_eq!(request.query(), None);
    assert!(request.protocols().is_empty());
    let e = request
        .select_protocol("chat.v1")
        .expect_err("chose a subprotocol not offered");
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");
    let _server_ws = request.accept_message().expect("accept");

    let client = client
        .recv_timeout(WAIT)
        .expect("connect did not return")
        .expect("connect");
    assert_eq!(client.info().protocol, None);
}
