//! wsock beside blocking tungstenite and raw TCP, on 127.0.0.1, in one run.
//!
//! ```text
//! cargo run --release --example bench                 # full run, under 5 minutes on 2 cores
//! cargo run --release --example bench -- --quick      # a ~30 s pass (fewer, shorter runs)
//! cargo run --release --example bench -- --only echo  # one row kind (repeat or comma-separate)
//! cargo run --release --example bench -- --runs 9     # more repetitions per figure
//! cargo run --release --example bench -- --svg docs/bench.svg  # also chart the ratios
//! ```
//!
//! Client and server always run in separate processes: the bench re-executes
//! itself as `bench --serve ROLE`, and the child prints its port on stdout
//! line 1 and exits when its stdin closes. With `taskset` on PATH the parent
//! pins itself to core 0 (`taskset -cp 0`, before it starts any thread, so
//! every thread it starts inherits that) and starts the child under
//! `taskset -c 1`; the "1 core" echo rows start it under `taskset -c 0`.
//! Without `taskset` everything runs unpinned and the output says so.
//!
//! Compression (permessage-deflate) is off on every wsock server here but
//! the `deflate` row's, so no other row compresses: the references have
//! none, and the payloads (runs of one byte) would shrink to nothing.
//!
//! Row kinds (`--only` names), in output order:
//!
//! - `echo`: 16 B text round trips, p50 and p99 in µs (lower is better), on
//!   2 cores and on 1 core: a wsock `MessageWebSocket` client against a wsock
//!   `Server` echo; the reference is a blocking tungstenite client against a
//!   tungstenite echo server, and raw TCP 16 B ping-pong.
//! - `send64`: 64 B binary one way, messages/s (higher is better). The client
//!   sends for a bounded time, then a "done" text; the server counts and
//!   acks with one final message, and the clock stops at the ack. The
//!   receiving server is the same tungstenite sink for both columns, so the
//!   row measures the sending side: wsock `send_binary` against tungstenite
//!   `send` (default write buffer, flushed per message). Its second line is 4
//!   threads sending through `sender()` handles of one wsock socket (the
//!   total), against the same single tungstenite sender.
//! - `recv64`: 64 B receive side, messages/s: one client sends to the
//!   server under test, which counts: wsock `Server` + `recv` against a
//!   tungstenite server's direct `read` loop. The client opens with
//!   tungstenite, then writes frames it masked once before the clock
//!   started, 1,024 per write (about 0.1 CPU seconds per second), so it
//!   outruns both receivers and the row measures the receiving side.
//! - `push64`: 64 B binary pushed by the server, messages/s. The pusher
//!   child is the server: it learns its bounds from the URL's query
//!   (`/push?n=N&ms=T`: `small_max` messages, the run time), pushes, then
//!   sends a "done <count>" text. wsock: a `Server` + `accept_message`
//!   socket calling `send_all` with batches of 1,000; the reference: a
//!   blocking tungstenite server (`accept`) calling `write` per message and
//!   `flush` once per 1,000. This process receives with the same
//!   tungstenite client for both, and its clock runs from the first
//!   message to the "done" (which follows the last at once).
//! - `1mib`, `16mib`: binary one way in MB/s (MB = 10^6 bytes), send side as
//!   in `send64` (tungstenite sink); `1mib` adds raw TCP 1 MiB writes.
//! - `stream`: 1 GiB (256 MiB with `--quick`) through a
//!   `StreamWebSocket` client in 64 KiB writes and in 1 MiB writes, MB/s: a
//!   wsock `accept_stream` server learns the total from the URL's query
//!   (`?bytes=N`), reads it with a 64 KiB buffer and acks with the count (8
//!   bytes); the clock runs from the first write to the ack. The reference
//!   is raw TCP with the same write sizes into a sink that reads with a
//!   64 KiB buffer until FIN and answers the count (the `1mib` row's raw TCP
//!   line uses the same sink). Raw TCP over loopback is bimodal here: runs
//!   settle at about 2 GB/s or about 7 GB/s, as the sender catches the
//!   receiver asleep (each write then pays a wake-up) or not.
//! - `wss`: over rustls (ring), with a throwaway CA and server certificate
//!   made by rcgen in the parent and handed to the children in environment
//!   variables (PEM). 16 B text echo, p50 and p99 µs: a wsock client
//!   (`root_certificate_pem`) against a wsock `Server` built with `tls_pem`,
//!   beside a blocking tungstenite client against a tungstenite echo server,
//!   both over `rustls::StreamOwned`. 1 MiB binary one way, MB/s, end to
//!   end: a wsock client into a wsock TLS sink, beside a tungstenite client
//!   into a tungstenite-over-rustls sink (TLS costs most on the receiving
//!   side, where rustls is fed the socket's bytes: a shared sink would
//!   measure only the sender). A last line gives each receiving server's
//!   CPU time (user + system, all threads, from `/proc/<pid>/stat`) per GB
//!   received.
//! - `deflate`: permessage-deflate beside Python websockets and Node ws,
//!   which both compress by default. The sample, made by this process with
//!   a fixed generator (splitmix64) and written to a temporary folder for
//!   the peers: 256 distinct compact JSON messages of 890 to 1,211 B
//!   (ticker updates with recent trades, chat messages with a user and
//!   text), one per line, and a 1 MiB text of about 1,000 more such lines
//!   (exactly 1,048,576 B). Each library's client sends to its own sink,
//!   one way: N text messages (20,000 of the sample, cycling, or 32 of the
//!   1 MiB; 5,000 and 8 with `--quick`), then "done"; the sink counts and
//!   answers "<messages> <payload bytes> <wire bytes>", and the clock runs
//!   from the first send to that answer. Compression on and off for each:
//!   wsock (client in this process, `Deflate::default()` or `None`; sink
//!   `bench --serve wsock-text-sink[-deflate]`), Python websockets (sync
//!   API, its defaults: level 6, memLevel 5, every message compressed; or
//!   `compression=None`) and Node ws (`perMessageDeflate: { threshold:
//!   128 }`, wsock's threshold, as ws's own 1,024 B would leave the
//!   smaller half of the sample uncompressed; or `false`), driven by
//!   `.ci/bench/deflate_peer.py` and `.ci/bench/deflate_peer.js` (their
//!   headers say how). The peers' clients run on core 0 and their sinks on
//!   core 1, as wsock's. They are found through `WSOCK_BENCH_VENV` (a venv
//!   with websockets; `target/ci/venv` by default) and
//!   `WSOCK_BENCH_NODE_DIR` (a folder whose `node_modules` has ws;
//!   `target/ci/node` by default; `node` from PATH); a missing one's
//!   column says "skipped". Figures: msg/s, wsock beside Node ws and
//!   Python websockets, compression on and off; and with compression on,
//!   wire bytes per message: what each sink read after the handshake (the
//!   "done" frame included; wsock's `info().bytes_received`, Node's
//!   `socket.bytesRead`, Python's bytes fed to its protocol) over N,
//!   beside the same for the peers and beside zlib level 6: the same
//!   stream compressed here with flate2 (zlib-rs) at level 6, raw
//!   deflate, 15-bit window, context takeover, a sync flush per message
//!   without its 4-byte trailer, plus a client frame's header (2, 4 or 10
//!   bytes) and mask. The progress lines add each side's CPU time per
//!   message.
//! - `broadcast`: a 64 B and a 4 KiB binary message broadcast to 1,000
//!   clients, messages delivered per second (higher is better). The server
//!   runs in this process: wsock a `Server` accepting every connection
//!   with `accept_into` one `Hub`, then `hub.broadcast` per round; the
//!   reference a tungstenite server holding the 1,000 `WebSocket`s and
//!   `send`ing (write and flush) to each in turn per round. The clients
//!   read in 2 child processes per server (`bench --serve
//!   tungstenite-count-clients`, on core 1 when pinned): plain tungstenite
//!   clients, set non-blocking once upgraded, read by 2 threads per child
//!   that pass over their connections until `WouldBlock` and count (the
//!   child prints "ready <connected>" on stdout instead of a port). Per
//!   run the parent tells each child on stdin how many messages to expect,
//!   and the clock runs from the first round until every child has
//!   reported that its clients got them all (or a 30 s bound passed).
//!   Figure: messages delivered (rounds × clients at best) over that time.
//!   The clients, on one core, are what limits that rate, so a second line
//!   gives the server's own cost: this process's CPU time over the run (the
//!   other server idles meanwhile) per message delivered.
//!   Rounds per run: 100 of 64 B and 50 of 4 KiB (half with `--quick`).
//!   With `ulimit -n` too low for 3 descriptors per client in this process
//!   the row uses fewer clients and says so. Included in the default run
//!   (about 20 s), not in `--quick`.
//! - `idle`: 1,000, 5,000 and 10,000 connections (only 1,000 with
//!   `--quick`), medians of 3 runs, each run's server in a fresh child.
//!   Under test: a wsock `Server` accepting into one `Hub`, one thread
//!   echoing through it (as `examples/chat_server.rs`); the reference: a
//!   tungstenite server with one thread per connection (`accept` and a
//!   read/echo loop, default config). The load generator (this process,
//!   4 threads) opens the connections over raw TCP with a hand-written
//!   upgrade request (a fixed `Sec-WebSocket-Key`); then each connection
//!   sends one masked 16 B text frame and reads its echo; then all stay
//!   idle while the server's `VmRSS` and `Threads` are read from
//!   `/proc/<child pid>/status`. Lines: the time to connect all (TCP and
//!   the 101 response, in s), the server's RSS (MiB), its RSS above its
//!   baseline (read before the first connection) per connection (KiB),
//!   and its thread count. Then the connections are closed and the bench
//!   waits (bounded) until the server's thread count falls back. Each
//!   connection takes a descriptor in both processes: with `ulimit -n`
//!   below 12,000 some fail, and the line says how many got through.
//! - `limit`: a wsock hub server with `max_connections(10_000)` and 12,000
//!   connections attempted as in `idle` (4 threads): how many were answered
//!   101 and how many 503, and how many of the 101s still echo afterwards.
//!   Included in the default run, not in `--quick`.
//!
//! Every figure is the median of `--runs` runs (5; 3 with `--quick`), the
//! runs of a row's variants interleaved so drift hits them alike (`idle`:
//! at most 3 runs; `limit`: one). Every loop is bounded in count and in time.
//! TCP_NODELAY is on everywhere.
//!
//! To profile the server side, set `BENCH_SERVER_WRAPPER`, e.g.
//! `BENCH_SERVER_WRAPPER="valgrind --tool=callgrind" bench --only recv64 --quick`
//! (the client side: run the bench itself under the profiler). The `idle`
//! rows read the child's `/proc` entry, so they measure the wrapper then.

use std::error::Error;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Bytes, Message as Wire, Utf8Bytes};
use wsock::{Deflate, Hub, HubEvent, Message, MessageWebSocket, Request, Server, StreamWebSocket};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Row kinds, in output order.
const ROWS: &[&str] = &[
    "echo",
    "send64",
    "recv64",
    "push64",
    "1mib",
    "16mib",
    "stream",
    "wss",
    "deflate",
    "broadcast",
    "idle",
    "limit",
];
/// Row kinds a `--quick` run leaves out (unless named with `--only`).
const NOT_QUICK: &[&str] = &["broadcast", "limit"];

const ECHO_TEXT: &str = "0123456789abcdef"; // 16 bytes
/// The read buffer of the byte sinks (raw TCP and stream mode). Reads of
/// 1 MiB made raw TCP itself run at 1.3 GB/s instead of 3 GB/s here (each
/// read's copy overflows the caches), a handicap for the reference.
const SINK_READ: usize = 64 << 10;
/// Limit for any single wait on a peer (ack, handshake, close).
const PEER_WAIT: Duration = Duration::from_secs(60);
/// How long the machine is watched for other load before each row.
const LOAD_SAMPLE: Duration = Duration::from_millis(300);
/// Upper bound of bytes sent in one large-message run.
const LARGE_RUN_BYTES: usize = 2 << 30;
/// Time bound of one stream run (at 1 GiB, slower than 18 MB/s is an error).
const STREAM_TIME: Duration = Duration::from_secs(60);
/// Runs of each `idle` figure at most (fewer with `--runs` below it).
const IDLE_RUNS: usize = 3;
/// Load-generator threads of the `idle` and `limit` rows.
const LOAD_THREADS: usize = 4;
/// Time bound of each phase (connecting all, echoing on all) of an idle run.
const IDLE_PHASE_TIME: Duration = Duration::from_secs(60);
/// Limit for a single connect, write or read of the load generator.
const IDLE_IO_WAIT: Duration = Duration::from_secs(10);
/// How long a server may take to let go of closed connections.
const DRAIN_TIME: Duration = Duration::from_secs(30);
/// The `limit` row: the server's `max_connections`, and attempts.
const LIMIT_MAX: usize = 10_000;
const LIMIT_ATTEMPTS: usize = 12_000;
/// Children's environment: the `wsock-hub-echo` server's `max_connections`.
const MAX_CONNECTIONS_ENV: &str = "BENCH_MAX_CONNECTIONS";
/// Children's environment: the `wsock-hub-echo` server accepts
/// permessage-deflate, and the load generator offers it and sends its one
/// message compressed.
const IDLE_DEFLATE_ENV: &str = "BENCH_IDLE_DEFLATE";
/// How long the compressed `idle` line waits before it reads the server's
/// RSS: past the second after which an idle wsock connection lets its
/// compression state go.
const IDLE_DEFLATE_QUIET: Duration = Duration::from_secs(3);
/// Messages per `send_all` call (wsock) or per `flush` (tungstenite) of
/// the `push64` pushers.
const PUSH_BATCH: usize = 1_000;
/// Clients of the `broadcast` row (fewer if `ulimit -n` is too low), and
/// the child processes they read in.
const BROADCAST_CLIENTS: usize = 1_000;
const BROADCAST_CHILDREN: usize = 2;
/// Reader threads in each broadcast client child.
const COUNT_READERS: usize = 2;
/// Time bound of connecting all broadcast clients, and of one run's delivery.
const BROADCAST_WAIT: Duration = Duration::from_secs(30);
/// Children's environment of `tungstenite-count-clients`: the server's
/// port, and how many connections to open.
const CONNECT_PORT_ENV: &str = "BENCH_CONNECT_PORT";
const CONNECTIONS_ENV: &str = "BENCH_CONNECTIONS";

/// How much to measure.
struct Plan {
    runs: usize,
    /// Sending time of one one-way run.
    run_time: Duration,
    /// Upper bound of messages in one 64 B run.
    small_max: usize,
    echo_trips: usize,
    echo_warmup: usize,
    /// Time bound of one echo run.
    echo_time: Duration,
    /// Bytes of one stream run.
    stream_bytes: usize,
    /// Connection counts of the idle rows.
    idle_counts: &'static [usize],
    /// Broadcast rounds of one run: of 64 B, of 4 KiB.
    broadcast_rounds: [usize; 2],
    /// Messages of one `deflate` run: of the ~1 KiB sample, of 1 MiB.
    deflate_messages: [usize; 2],
    pinned: bool,
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        let role = args.get(1).ok_or("--serve needs a role")?;
        return serve(role);
    }
    let cores = core_count();
    // Pin first: threads started later inherit the main thread's affinity.
    let pinned = cores >= 2 && pin_self_to_core0();
    let mut only: Vec<String> = Vec::new();
    let mut quick = false;
    let mut runs = None;
    let mut svg: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--only" => {
                let v = it.next().ok_or("--only needs a row kind")?;
                only.extend(v.split(',').map(str::to_owned));
            }
            "--runs" => runs = Some(it.next().ok_or("--runs needs a number")?.parse()?),
            "--svg" => svg = Some(it.next().ok_or("--svg needs a path")?.clone()),
            other => return Err(format!("unknown argument {other:?}; see the file header").into()),
        }
    }
    for o in &only {
        if !ROWS.contains(&o.as_str()) {
            return Err(format!("unknown row kind {o:?}; known: {}", ROWS.join(", ")).into());
        }
    }
    let plan = if quick {
        Plan {
            runs: runs.unwrap_or(3),
            run_time: Duration::from_millis(400),
            small_max: 2_000_000,
            echo_trips: 2_000,
            echo_warmup: 200,
            echo_time: Duration::from_secs(1),
            stream_bytes: 256 << 20,
            idle_counts: &[1_000],
            broadcast_rounds: [50, 25],
            deflate_messages: [5_000, 8],
            pinned,
        }
    } else {
        Plan {
            runs: runs.unwrap_or(5),
            run_time: Duration::from_secs(1),
            small_max: 10_000_000,
            echo_trips: 10_000,
            echo_warmup: 1_000,
            echo_time: Duration::from_secs(3),
            stream_bytes: 1 << 30,
            idle_counts: &[1_000, 5_000, 10_000],
            broadcast_rounds: [100, 50],
            deflate_messages: [20_000, 32],
            pinned,
        }
    };
    if plan.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    if !pinned {
        eprintln!(
            "note: running unpinned ({}); the 1-core echo rows are skipped",
            if cores < 2 {
                "fewer than 2 cores"
            } else {
                "taskset not usable"
            }
        );
    }

    let started = Instant::now();
    let mut table = Vec::new();
    let mut notes = Vec::new();
    let mut loads = Vec::new();
    for row in ROWS {
        let wanted = if only.is_empty() {
            !(quick && NOT_QUICK.contains(row))
        } else {
            only.iter().any(|o| o == row)
        };
        if !wanted {
            continue;
        }
        let busy = other_load();
        loads.push((*row, busy));
        eprintln!("== {row} (cores busy before it: {:.0}%)", busy * 100.0);
        match *row {
            "echo" => {
                table.extend(echo_rows(&plan, 2)?);
                if plan.pinned {
                    table.extend(echo_rows(&plan, 1)?);
                }
            }
            "send64" => table.extend(send_rows(&plan, 64, true)?),
            "recv64" => table.extend(receive_row(&plan)?),
            "push64" => table.extend(push_row(&plan)?),
            "1mib" => table.extend(send_rows(&plan, 1 << 20, false)?),
            "16mib" => table.extend(send_rows(&plan, 16 << 20, false)?),
            "stream" => table.extend(stream_rows(&plan)?),
            #[cfg(feature = "tls")]
            "wss" => table.extend(tls::wss_rows(&plan)?),
            #[cfg(not(feature = "tls"))]
            "wss" => eprintln!("  skipped: built without the tls feature"),
            "deflate" => table.extend(deflate::deflate_rows(&plan, &mut notes)?),
            "broadcast" => table.extend(broadcast_rows(&plan)?),
            "idle" => table.extend(idle_rows(&plan)?),
            "limit" => table.extend(limit_rows(&plan)?),
            _ => unreachable!("checked above"),
        }
    }
    print_report(&table, &notes, &plan, &loads, quick, started.elapsed());
    if let Some(path) = svg {
        write_svg(&path, &table, &plan, quick)?;
        eprintln!("chart written to {path}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// One line of the table.
struct Line {
    row: String,
    wsock: f64,
    reference: f64,
    reference_name: &'static str,
    higher_is_better: bool,
    /// The issue's target, if it set one.
    target: Option<Target>,
}

/// What a line should reach.
#[derive(Clone, Copy)]
enum Target {
    /// wsock / reference: at least this (higher is better) or at most.
    Ratio(f64),
    /// wsock's own figure: at least this (higher is better) or at most.
    Figure(f64),
    /// wsock's own figure: exactly this.
    Exactly(f64),
}

/// 16 B text echo, p50 and p99, with the server on its own core (`cores` 2)
/// or on the client's core (`cores` 1).
fn echo_rows(plan: &Plan, cores: usize) -> Res<Vec<Line>> {
    let core = if cores == 2 { 1 } else { 0 };
    let wsock_server = Peer::start("wsock-echo", plan.pinned.then_some(core))?;
    let tung_server = Peer::start("tungstenite-echo", plan.pinned.then_some(core))?;
    let raw_server = Peer::start("raw-echo", plan.pinned.then_some(core))?;
    // p50 and p99 of each run: wsock, tungstenite, raw TCP.
    let (mut w, mut t, mut r) = (Runs::default(), Runs::default(), Runs::default());
    for run in 0..plan.runs {
        let trips = w.add(echo_wsock(wsock_client(wsock_server.port)?, plan)?);
        t.add(echo_tungstenite(
            tungstenite_client(tung_server.port)?,
            plan,
        )?);
        r.add(echo_raw(raw_server.port, plan)?);
        eprintln!(
            "  {cores} core(s), run {}: p50 wsock {:.1} tungstenite {:.1} raw {:.1} µs; \
             trips over 1 ms: {} {} {} (of {trips})",
            run + 1,
            w.p50[run],
            t.p50[run],
            r.p50[run],
            w.over_1ms[run],
            t.over_1ms[run],
            r.over_1ms[run],
        );
    }
    let p50_target = if cores == 2 { 1.1 } else { 1.5 };
    let cores_name = match (plan.pinned, cores) {
        (false, _) => "unpinned",
        (true, 1) => "1 core",
        (true, _) => "2 cores",
    };
    let name = |p: &str| format!("echo 16 B text, {cores_name}, {p} µs (lower is better)");
    let line = |row: String, w: &[f64], r: &[f64], rn, target: Option<f64>| Line {
        row,
        wsock: median(w),
        reference: median(r),
        reference_name: rn,
        higher_is_better: false,
        target: target.map(Target::Ratio),
    };
    Ok(vec![
        line(name("p50"), &w.p50, &t.p50, "tungstenite", Some(p50_target)),
        line(name("p99"), &w.p99, &t.p99, "tungstenite", None),
        line(name("p50"), &w.p50, &r.p50, "raw TCP", None),
        line(name("p99"), &w.p99, &r.p99, "raw TCP", None),
    ])
}

/// One way, send side: wsock and tungstenite clients send `size`-byte binary
/// messages to the same tungstenite sink; for 64 B also 4 wsock threads, and
/// for 1 MiB also raw TCP writes.
fn send_rows(plan: &Plan, size: usize, small: bool) -> Res<Vec<Line>> {
    let core = plan.pinned.then_some(1);
    let sink = Peer::start("tungstenite-sink", core)?;
    let raw_sink = if size == 1 << 20 {
        Some(Peer::start("raw-sink", core)?)
    } else {
        None
    };
    let max = if small {
        plan.small_max
    } else {
        (LARGE_RUN_BYTES / size).max(1)
    };
    let payload = vec![0x5au8; size];
    let (mut w1, mut w4, mut tung, mut raw) = (vec![], vec![], vec![], vec![]);
    for run in 0..plan.runs {
        let w = send_wsock(wsock_client(sink.port)?, &payload, 1, max, plan.run_time)?;
        let t = send_tungstenite(tungstenite_client(sink.port)?, &payload, max, plan.run_time)?;
        w1.push(w.per_second(small));
        tung.push(t.per_second(small));
        let mut more = String::new();
        if small {
            let w = send_wsock(wsock_client(sink.port)?, &payload, 4, max, plan.run_time)?;
            w4.push(w.per_second(true));
            more = format!("; wsock 4 threads {}", w.show(true));
        }
        if let Some(raw_sink) = &raw_sink {
            let r = send_raw(raw_sink.port, &payload, max, plan.run_time)?;
            raw.push(r.per_second(false));
            more = format!("; raw TCP {}", r.show(false));
        }
        eprintln!(
            "  run {}: wsock {}; tungstenite {}{more}",
            run + 1,
            w.show(small),
            t.show(small)
        );
    }
    let what = format!("{} binary one way, send side", size_name(size));
    let unit = if small { "msg/s" } else { "MB/s" };
    let target = if small { 1.0 } else { 0.95 };
    let mut lines = vec![Line {
        row: format!("{what}, {unit} (higher is better)"),
        wsock: median(&w1),
        reference: median(&tung),
        reference_name: "tungstenite",
        higher_is_better: true,
        target: Some(Target::Ratio(target)),
    }];
    if small {
        lines.push(Line {
            row: format!("{what}, 4 threads on one socket (total), {unit} (higher is better)"),
            wsock: median(&w4),
            reference: median(&tung),
            reference_name: "tungstenite, 1 thread",
            higher_is_better: true,
            target: Some(Target::Ratio(1.0)),
        });
    }
    if !raw.is_empty() {
        lines.push(Line {
            row: format!("{what}, {unit} (higher is better)"),
            wsock: median(&w1),
            reference: median(&raw),
            reference_name: "raw TCP 1 MiB writes",
            higher_is_better: true,
            target: None,
        });
    }
    Ok(lines)
}

/// 64 B receive side: the same tungstenite client sends to a wsock sink and
/// to a tungstenite sink, with buffered writes, so the receiver is the
/// bottleneck (with a flush per message the sender would be, and its cost
/// would depend on how often it has to wake an idle receiver).
fn receive_row(plan: &Plan) -> Res<Vec<Line>> {
    let core = plan.pinned.then_some(1);
    let wsock_sink = Peer::start("wsock-sink", core)?;
    let tung_sink = Peer::start("tungstenite-sink", core)?;
    let payload = vec![0x5au8; 64];
    // The premasked sender outruns the receivers: allow more messages.
    let max = plan.small_max * 4;
    let (mut w, mut t) = (vec![], vec![]);
    for run in 0..plan.runs {
        let a = send_premasked(
            tungstenite_client(wsock_sink.port)?,
            &payload,
            max,
            plan.run_time,
        )?;
        let b = send_premasked(
            tungstenite_client(tung_sink.port)?,
            &payload,
            max,
            plan.run_time,
        )?;
        w.push(a.per_second(true));
        t.push(b.per_second(true));
        eprintln!(
            "  run {}: wsock {}; tungstenite {}",
            run + 1,
            a.show(true),
            b.show(true)
        );
    }
    Ok(vec![Line {
        row: "64 B binary one way, receive side, msg/s (higher is better)".into(),
        wsock: median(&w),
        reference: median(&t),
        reference_name: "tungstenite read loop",
        higher_is_better: true,
        target: Some(Target::Ratio(1.2)),
    }])
}

/// 64 B pushed by the server: a wsock pusher (`send_all` in batches) and a
/// tungstenite pusher (`write` per message, `flush` per batch), each a
/// child, received by the same tungstenite client in this process.
fn push_row(plan: &Plan) -> Res<Vec<Line>> {
    let core = plan.pinned.then_some(1);
    let wsock_pusher = Peer::start("wsock-pusher", core)?;
    let tung_pusher = Peer::start("tungstenite-pusher", core)?;
    let (mut w, mut t) = (vec![], vec![]);
    for run in 0..plan.runs {
        let a = receive_pushed(wsock_pusher.port, plan)?;
        let b = receive_pushed(tung_pusher.port, plan)?;
        w.push(a.per_second(true));
        t.push(b.per_second(true));
        eprintln!(
            "  run {}: wsock {}; tungstenite {}",
            run + 1,
            a.show(true),
            b.show(true)
        );
    }
    Ok(vec![Line {
        row: "64 B binary pushed by the server, msg/s (higher is better)".into(),
        wsock: median(&w),
        reference: median(&t),
        reference_name: "tungstenite write+flush/1000",
        higher_is_better: true,
        target: Some(Target::Ratio(0.5)),
    }])
}

/// Stream mode: `plan.stream_bytes` in 64 KiB and in 1 MiB writes through
/// a wsock `StreamWebSocket` into a wsock `accept_stream` sink, beside the
/// same writes on raw TCP into a raw sink.
fn stream_rows(plan: &Plan) -> Res<Vec<Line>> {
    let core = plan.pinned.then_some(1);
    let wsock_sink = Peer::start("wsock-stream-sink", core)?;
    let raw_sink = Peer::start("raw-sink", core)?;
    let mut lines = Vec::new();
    for (write, target) in [(64 << 10, Some(0.8)), (1 << 20, None)] {
        let payload = vec![0x5au8; write];
        let count = plan.stream_bytes / write;
        let (mut w, mut r) = (vec![], vec![]);
        for run in 0..plan.runs {
            let a = stream_wsock(wsock_sink.port, &payload, count)?;
            let b = send_raw(raw_sink.port, &payload, count, STREAM_TIME)?;
            if b.messages != count as u64 {
                return Err(format!("raw TCP sent only {} of {count} writes", b.messages).into());
            }
            w.push(a.per_second(false));
            r.push(b.per_second(false));
            eprintln!(
                "  {} writes, run {}: wsock {}; raw TCP {}",
                size_name(write),
                run + 1,
                a.show(false),
                b.show(false)
            );
        }
        lines.push(Line {
            row: format!(
                "stream {} in {} writes, MB/s (higher is better)",
                size_name(plan.stream_bytes),
                size_name(write)
            ),
            wsock: median(&w),
            reference: median(&r),
            reference_name: if write == 1 << 20 {
                "raw TCP 1 MiB writes"
            } else {
                "raw TCP 64 KiB writes"
            },
            higher_is_better: true,
            target: target.map(Target::Ratio),
        });
    }
    Ok(lines)
}

/// Broadcast: a 64 B and a 4 KiB message, round after round, from a wsock
/// hub server and from a tungstenite server (both in this process) to
/// clients reading in child processes; runs interleaved.
fn broadcast_rows(plan: &Plan) -> Res<Vec<Line>> {
    let limit = open_files_limit();
    // This process holds every connection of both servers at once.
    let clients = BROADCAST_CLIENTS.min(limit.saturating_sub(200) / 3);
    if clients < BROADCAST_CHILDREN {
        return Err(format!("ulimit -n is {limit}: too low for the broadcast row").into());
    }
    let connecting = Instant::now();
    let mut wsock = WsockBroadcaster::start(plan, clients)?;
    let mut tung = TungsteniteBroadcaster::start(plan, clients)?;
    eprintln!(
        "  {clients} clients connected to each server in {:.2} s",
        connecting.elapsed().as_secs_f64()
    );
    let mut name_clients = figure(clients as f64);
    if clients < BROADCAST_CLIENTS {
        name_clients += &format!(" (only: ulimit -n is {limit})");
    }
    let mut lines = Vec::new();
    for (size, rounds) in [64, 4 << 10].into_iter().zip(plan.broadcast_rounds) {
        let payload = Bytes::from(vec![0x5au8; size]);
        let message = Message::Binary(payload.clone());
        let (mut w, mut t) = (Vec::new(), Vec::new());
        for run in 0..plan.runs {
            let a = broadcast_run(&mut wsock.groups, rounds, || {
                Ok(wsock.hub.broadcast(&message))
            })?;
            let b = tung.run(rounds, &payload)?;
            eprintln!(
                "  {}, run {}: wsock {}; tungstenite {}",
                size_name(size),
                run + 1,
                a.show(),
                b.show()
            );
            w.push(a);
            t.push(b);
        }
        let mut name = format!(
            "broadcast {} binary to {name_clients} clients",
            size_name(size)
        );
        for (who, all) in [("wsock", &w), ("tungstenite", &t)] {
            let worst = all.iter().map(|d| d.delivered).min().unwrap_or(0);
            let expected = all.first().map_or(0, |d| d.expected);
            if worst < expected {
                name += &format!(
                    " ({who}: only {} of {} delivered in the worst run)",
                    figure(worst as f64),
                    figure(expected as f64)
                );
            }
        }
        let rate =
            |all: &[Delivered]| median(&all.iter().map(Delivered::per_second).collect::<Vec<_>>());
        lines.push(Line {
            row: format!("{name}, messages delivered/s (higher is better)"),
            wsock: rate(&w),
            reference: rate(&t),
            reference_name: "tungstenite, send to each in turn",
            higher_is_better: true,
            target: None,
        });
        // The clients share one core and are the bottleneck of the rate
        // above; the server's own cost is this.
        let cpu = |all: &[Delivered]| {
            median(
                &all.iter()
                    .map(Delivered::server_cpu_micros)
                    .collect::<Vec<_>>(),
            )
        };
        lines.push(Line {
            row: format!("{name}, server's CPU per message delivered, µs (lower is better)"),
            wsock: cpu(&w),
            reference: cpu(&t),
            reference_name: "tungstenite, send to each in turn",
            higher_is_better: false,
            target: None,
        });
    }
    Ok(lines)
}

/// Idle connections: for each count, a wsock hub server and a tungstenite
/// thread-per-connection server, each run in a fresh child, runs interleaved.
fn idle_rows(plan: &Plan) -> Res<Vec<Line>> {
    let runs = plan.runs.min(IDLE_RUNS);
    let mut lines = Vec::new();
    for &n in plan.idle_counts {
        let (mut w, mut t) = (vec![], vec![]);
        for _ in 0..runs {
            w.push(idle_run(plan, "wsock-hub-echo", n, &[])?);
            t.push(idle_run(plan, "tungstenite-threads-echo", n, &[])?);
        }
        let mut name = format!("idle {} connections", figure(n as f64));
        for (who, all) in [("wsock", &w), ("tungstenite", &t)] {
            let upgraded = all.iter().map(|r| r.upgraded).min().unwrap_or(0);
            let echoed = all.iter().map(|r| r.echoed).min().unwrap_or(0);
            if upgraded < n || echoed < upgraded {
                name += &format!(
                    " ({who}: only {} upgraded, {} echoed in the worst run)",
                    figure(upgraded as f64),
                    figure(echoed as f64)
                );
            }
        }
        let big = n >= 10_000;
        let line = |what: &str, figure: fn(&IdleRun) -> f64, target: Option<Target>| {
            let of = |all: &[IdleRun]| median(&all.iter().map(figure).collect::<Vec<_>>());
            Line {
                row: format!("{name}: {what} (lower is better)"),
                wsock: of(&w),
                reference: of(&t),
                reference_name: "tungstenite, thread per connection",
                higher_is_better: false,
                target,
            }
        };
        lines.extend([
            line(
                "time to connect all (TCP + 101), s",
                |r| r.connect_secs,
                big.then_some(Target::Figure(5.0)),
            ),
            line(
                "server RSS after one echo each, MiB",
                IdleRun::rss_mib,
                big.then_some(Target::Figure(256.0)),
            ),
            line(
                "server RSS above its baseline, KiB per connection",
                IdleRun::kib_per_connection,
                None,
            ),
            line("server threads", |r| r.threads as f64, None),
        ]);
        if Some(&n) == plan.idle_counts.last() {
            lines.push(idle_deflate_line(plan, n, &w)?);
        }
    }
    Ok(lines)
}

/// The largest `idle` count again with permessage-deflate agreed and each
/// connection's one message compressed, its RSS read after
/// [`IDLE_DEFLATE_QUIET`], beside the same wsock server without compression.
fn idle_deflate_line(plan: &Plan, n: usize, plain: &[IdleRun]) -> Res<Line> {
    let runs = plan.runs.min(IDLE_RUNS);
    let mut compressed = Vec::new();
    for _ in 0..runs {
        compressed.push(idle_run(
            plan,
            "wsock-hub-echo",
            n,
            &[(IDLE_DEFLATE_ENV, "1")],
        )?);
    }
    let rss = |all: &[IdleRun]| median(&all.iter().map(IdleRun::rss_mib).collect::<Vec<_>>());
    Ok(Line {
        row: format!(
            "idle {} connections, compression agreed, one compressed message each: server RSS \
             {} s later, MiB (lower is better)",
            figure(n as f64),
            IDLE_DEFLATE_QUIET.as_secs()
        ),
        wsock: rss(&compressed),
        reference: rss(plain),
        reference_name: "wsock, compression off",
        higher_is_better: false,
        target: (n >= 10_000).then_some(Target::Figure(256.0)),
    })
}

/// The connection limit: a wsock hub server with `max_connections` of
/// [`LIMIT_MAX`], [`LIMIT_ATTEMPTS`] connections attempted.
fn limit_rows(plan: &Plan) -> Res<Vec<Line>> {
    let max = LIMIT_MAX.to_string();
    let run = idle_run(
        plan,
        "wsock-hub-echo",
        LIMIT_ATTEMPTS,
        &[(MAX_CONNECTIONS_ENV, &max)],
    )?;
    let name = format!(
        "limit: max_connections({}), {} connections attempted",
        figure(LIMIT_MAX as f64),
        figure(LIMIT_ATTEMPTS as f64)
    );
    let line = |what: &str, v: usize, expected: usize| Line {
        row: format!("{name}: {what}"),
        wsock: v as f64,
        reference: f64::NAN,
        reference_name: "none",
        higher_is_better: true,
        target: Some(Target::Exactly(expected as f64)),
    };
    let mut lines = vec![
        line("answered 101", run.upgraded, LIMIT_MAX),
        line("answered 503", run.refused, LIMIT_ATTEMPTS - LIMIT_MAX),
        line("of the 101s, echo afterwards", run.echoed, LIMIT_MAX),
    ];
    if run.failed > 0 {
        lines.push(line("failed otherwise", run.failed, 0));
    }
    Ok(lines)
}

// ---------------------------------------------------------------------------
// Idle connections: the load generator (this process)
// ---------------------------------------------------------------------------

/// What one idle run saw.
struct IdleRun {
    /// Connections answered 101, 503, and neither (errors, other statuses).
    upgraded: usize,
    refused: usize,
    failed: usize,
    /// Upgraded connections whose one message came back.
    echoed: usize,
    connect_secs: f64,
    baseline_kib: u64,
    rss_kib: u64,
    threads: u64,
}

impl IdleRun {
    fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }

    fn kib_per_connection(&self) -> f64 {
        self.rss_kib.saturating_sub(self.baseline_kib) as f64 / self.upgraded.max(1) as f64
    }
}

/// Starts `role` in a fresh child, opens `attempts` connections, echoes one
/// message on each upgraded one, reads the child's RSS and threads, closes
/// everything and waits (bounded) for the child's thread count to fall back.
fn idle_run(plan: &Plan, role: &str, attempts: usize, env: &[(&str, &str)]) -> Res<IdleRun> {
    let peer = Peer::start_with(role, plan.pinned.then_some(1), env)?;
    let pid = peer.child.id();
    let deflate = env.iter().any(|(name, _)| *name == IDLE_DEFLATE_ENV);
    std::thread::sleep(Duration::from_millis(200)); // let the child settle
    let (baseline_kib, baseline_threads) = proc_status(pid)?;
    let start = Instant::now();
    let (mut connections, refused, failed, error) = open_all(peer.port, attempts, deflate);
    let connect_secs = start.elapsed().as_secs_f64();
    let echo_start = Instant::now();
    let (echoed, echo_error) = echo_all(&mut connections, deflate);
    let echo_secs = echo_start.elapsed().as_secs_f64();
    std::thread::sleep(if deflate {
        IDLE_DEFLATE_QUIET
    } else {
        Duration::from_millis(100)
    });
    let (rss_kib, threads) = proc_status(pid)?;
    let run = IdleRun {
        upgraded: connections.len(),
        refused,
        failed,
        echoed,
        connect_secs,
        baseline_kib,
        rss_kib,
        threads,
    };
    eprintln!(
        "  {role}, {attempts} attempted: {} upgraded, {refused} refused (503), {failed} failed, \
         {echoed} echoed; connect {connect_secs:.2} s, echo {echo_secs:.2} s; server RSS \
         {:.1} MiB (baseline {:.1} MiB, {:.1} KiB per connection above it), {threads} threads \
         (baseline {baseline_threads})",
        run.upgraded,
        run.rss_mib(),
        baseline_kib as f64 / 1024.0,
        run.kib_per_connection(),
    );
    for e in [error, echo_error].into_iter().flatten() {
        eprintln!("  {role}: first error: {e}");
    }
    drop(connections);
    let drain = Instant::now();
    let mut now_threads = threads;
    while drain.elapsed() < DRAIN_TIME {
        now_threads = proc_status(pid).map_or(0, |(_, t)| t);
        if now_threads <= baseline_threads + 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if now_threads > baseline_threads + 2 {
        eprintln!(
            "  {role}: WARNING: {now_threads} threads {DRAIN_TIME:?} after the clients closed \
             (baseline {baseline_threads})"
        );
    } else {
        eprintln!(
            "  {role}: back to {now_threads} threads {:.2} s after the clients closed",
            drain.elapsed().as_secs_f64()
        );
    }
    Ok(run)
}

/// `VmRSS` (KiB) and `Threads` of a process, from `/proc/<pid>/status`.
fn proc_status(pid: u32) -> Res<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Res<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))?;
        let number = line.split_whitespace().next().unwrap_or("");
        Ok(number.parse()?)
    };
    Ok((field("VmRSS:")?, field("Threads:")?))
}

/// Opens `attempts` connections from [`LOAD_THREADS`] threads: TCP connect,
/// upgrade request, response. Returns the upgraded connections, how many
/// were answered 503 and how many failed otherwise, and the first error.
fn open_all(
    port: u16,
    attempts: usize,
    deflate: bool,
) -> (Vec<TcpStream>, usize, usize, Option<String>) {
    let stop = Instant::now() + IDLE_PHASE_TIME;
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..LOAD_THREADS)
            .map(|t| {
                let share = attempts / LOAD_THREADS + usize::from(t < attempts % LOAD_THREADS);
                s.spawn(move || {
                    let (mut open, mut refused, mut failed, mut error) = (vec![], 0, 0, None);
                    for _ in 0..share {
                        if Instant::now() >= stop {
                            failed += 1;
                            error.get_or_insert_with(|| "out of time".to_owned());
                            continue;
                        }
                        match raw_upgrade(port, deflate) {
                            Ok(Ok(tcp)) => open.push(tcp),
                            Ok(Err(503)) => refused += 1,
                            Ok(Err(status)) => {
                                failed += 1;
                                error.get_or_insert_with(|| format!("answered {status}"));
                            }
                            Err(e) => {
                                failed += 1;
                                error.get_or_insert_with(|| e.to_string());
                            }
                        }
                    }
                    (open, refused, failed, error)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let (mut all, mut refused, mut failed, mut error) = (Vec::new(), 0, 0, None);
    for r in results {
        match r {
            Ok((open, r, f, e)) => {
                all.extend(open);
                refused += r;
                failed += f;
                error = error.or(e);
            }
            Err(_) => error = Some("a load-generator thread panicked".into()),
        }
    }
    (all, refused, failed, error)
}

/// Sends one masked 16 B text frame on every connection and reads its echo,
/// from [`LOAD_THREADS`] threads. Returns how many came back, and the first error.
fn echo_all(connections: &mut [TcpStream], deflate: bool) -> (usize, Option<String>) {
    let stop = Instant::now() + IDLE_PHASE_TIME;
    let chunk = connections.len().div_ceil(LOAD_THREADS).max(1);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = connections
            .chunks_mut(chunk)
            .map(|share| {
                s.spawn(move || {
                    let (mut echoed, mut error) = (0, None);
                    for tcp in share {
                        if Instant::now() >= stop {
                            error.get_or_insert_with(|| "out of time".to_owned());
                            break;
                        }
                        match raw_echo_once(tcp, deflate) {
                            Ok(()) => echoed += 1,
                            Err(e) => {
                                error.get_or_insert_with(|| e.to_string());
                            }
                        }
                    }
                    (echoed, error)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let (mut echoed, mut error) = (0, None);
    for r in results {
        match r {
            Ok((n, e)) => {
                echoed += n;
                error = error.or(e);
            }
            Err(_) => error = Some("a load-generator thread panicked".into()),
        }
    }
    (echoed, error)
}

/// Connects and sends an upgrade request by hand (a fixed key); returns
/// the connection on 101, else the status the server answered.
/// With `deflate` it offers permessage-deflate.
fn raw_upgrade(port: u16, deflate: bool) -> Res<Result<TcpStream, u16>> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut tcp = TcpStream::connect_timeout(&addr, IDLE_IO_WAIT)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(IDLE_IO_WAIT))?;
    tcp.set_write_timeout(Some(IDLE_IO_WAIT))?;
    let offer = if deflate {
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    } else {
        ""
    };
    let request = format!(
        "GET /bench HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    tcp.write_all(request.as_bytes())?;
    // The server sends nothing after its 101 before the echo; after any
    // other status, the rest does not matter.
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if head.len() > 4096 {
            return Err("a response head over 4 KiB".into());
        }
        let n = tcp.read(&mut chunk)?;
        if n == 0 {
            return Err("closed before its response was complete".into());
        }
        head.extend_from_slice(&chunk[..n]);
    };
    let status = std::str::from_utf8(&head[..end])
        .ok()
        .and_then(|h| h.strip_prefix("HTTP/1.1 "))
        .and_then(|h| h.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or("not an HTTP/1.1 response")?;
    if status == 101 && head.len() > end {
        return Err("bytes after the 101 response".into());
    }
    Ok(if status == 101 { Ok(tcp) } else { Err(status) })
}

/// One masked 16 B text frame, and its echo (pings before it are skipped).
/// With `deflate` the frame is compressed (RSV1; the echo of 16 B comes
/// back uncompressed, under the server's threshold).
fn raw_echo_once(tcp: &mut TcpStream, deflate: bool) -> Res<()> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let payload = if deflate {
        let mut c = flate2::Compress::new(flate2::Compression::default(), false);
        let mut out = Vec::with_capacity(64);
        c.compress_vec(ECHO_TEXT.as_bytes(), &mut out, flate2::FlushCompress::Sync)?;
        out.truncate(out.len() - 4); // the sync flush's 00 00 ff ff
        out
    } else {
        ECHO_TEXT.as_bytes().to_vec()
    };
    let first = if deflate { 0xc1 } else { 0x81 };
    let mut frame = vec![first, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    tcp.write_all(&frame)?;
    for _ in 0..4 {
        let mut header = [0u8; 2];
        tcp.read_exact(&mut header)?;
        let len = match header[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                tcp.read_exact(&mut ext)?;
                u16::from_be_bytes(ext) as usize
            }
            127 => return Err("an unexpectedly large frame".into()),
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload)?;
        match header[0] & 0x0f {
            0x1 if payload == ECHO_TEXT.as_bytes() => return Ok(()),
            0x9 | 0xa => continue, // a keepalive ping or pong
            op => return Err(format!("unexpected frame (opcode {op}, {len} bytes)").into()),
        }
    }
    Err("no echo among the first frames".into())
}

// ---------------------------------------------------------------------------
// Broadcast: the servers (this process) and the client children
// ---------------------------------------------------------------------------

/// What one broadcast run delivered, and how long until the last of it.
struct Delivered {
    /// Messages the clients counted, and rounds × clients.
    delivered: u64,
    expected: u64,
    /// Connections each round was queued (wsock) or sent (tungstenite) on,
    /// summed over the rounds.
    sent: u64,
    secs: f64,
    /// How long the rounds took to queue or send.
    rounds_secs: f64,
    /// CPU time of this process (the broadcasting server: the other one
    /// is idle) from the first round to the last child's answer.
    server_cpu_secs: f64,
}

impl Delivered {
    fn per_second(&self) -> f64 {
        self.delivered as f64 / self.secs
    }

    /// The server's CPU time per message delivered, in µs.
    fn server_cpu_micros(&self) -> f64 {
        self.server_cpu_secs * 1e6 / self.delivered.max(1) as f64
    }

    fn show(&self) -> String {
        format!(
            "{} msg/s ({} of {} delivered, {} sent, in {:.3} s; rounds done after {:.3} s; \
             server cpu {:.2} µs per message)",
            figure(self.per_second()),
            self.delivered,
            self.expected,
            self.sent,
            self.secs,
            self.rounds_secs,
            self.server_cpu_micros()
        )
    }
}

/// One run: tells every client child how many messages to expect, waits
/// until all are armed, runs `rounds` rounds of `round` (which returns on
/// how many connections it put the message), and waits for every child's
/// count. The clock runs from the first round to the last child's answer.
fn broadcast_run(
    groups: &mut [ClientGroup],
    rounds: usize,
    mut round: impl FnMut() -> Res<usize>,
) -> Res<Delivered> {
    for g in groups.iter_mut() {
        let n = g.connections * rounds;
        g.tell(&format!("expect {n} {}", BROADCAST_WAIT.as_millis()))?;
    }
    for g in groups.iter_mut() {
        g.expect_line("armed")?;
    }
    let start = Instant::now();
    let cpu_before = cpu_seconds();
    let mut sent = 0;
    for i in 0..rounds {
        if start.elapsed() > BROADCAST_WAIT {
            return Err(format!("broadcast: {i} of {rounds} rounds in {BROADCAST_WAIT:?}").into());
        }
        sent += round()? as u64;
    }
    let rounds_secs = start.elapsed().as_secs_f64();
    let mut delivered = 0;
    for g in groups.iter_mut() {
        let line = g.line()?;
        delivered += line
            .strip_prefix("got ")
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("a client child answered {line:?}"))?;
    }
    let secs = start.elapsed().as_secs_f64();
    let server_cpu_secs = cpu_seconds() - cpu_before;
    let expected = groups.iter().map(|g| g.connections * rounds).sum::<usize>() as u64;
    Ok(Delivered {
        delivered,
        expected,
        sent,
        secs,
        rounds_secs,
        server_cpu_secs,
    })
}

/// The wsock side: a `Server` whose connections were all accepted into one
/// `Hub`, and the children holding their clients.
struct WsockBroadcaster {
    hub: Hub,
    groups: Vec<ClientGroup>,
    _server: Server,
}

impl WsockBroadcaster {
    fn start(plan: &Plan, clients: usize) -> Res<WsockBroadcaster> {
        let server = Server::builder().compression(None).bind("127.0.0.1:0")?;
        let port = server.local_addr()?.port();
        let hub = Hub::new();
        let into = hub.clone();
        let (done, accepted) = mpsc::channel();
        std::thread::spawn(move || {
            let result = (0..clients).try_for_each(|_| -> Res<()> {
                server.accept()?.accept_into(&into)?;
                Ok(())
            });
            let _ = done.send((server, result));
        });
        let groups = start_client_groups(plan, port, clients)?;
        let (server, result) = accepted
            .recv_timeout(BROADCAST_WAIT)
            .map_err(|_| "wsock: the clients were not all accepted in time")?;
        result?;
        let mut opened = 0;
        while opened < clients {
            match hub.recv_timeout(PEER_WAIT) {
                Some(HubEvent::Opened(_)) => opened += 1,
                Some(HubEvent::Closed(c, e)) => {
                    return Err(format!("wsock: connection {} closed: {e}", c.id()).into())
                }
                Some(_) => {}
                None => return Err(format!("wsock: {opened} of {clients} opened").into()),
            }
        }
        Ok(WsockBroadcaster {
            hub,
            groups,
            _server: server,
        })
    }
}

/// The reference: a tungstenite server holding every client's `WebSocket`,
/// and the children holding the clients.
struct TungsteniteBroadcaster {
    clients: Vec<tungstenite::WebSocket<TcpStream>>,
    groups: Vec<ClientGroup>,
}

impl TungsteniteBroadcaster {
    fn start(plan: &Plan, clients: usize) -> Res<TungsteniteBroadcaster> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let (done, accepted) = mpsc::channel();
        std::thread::spawn(move || {
            let result = (0..clients)
                .map(|_| -> Res<_> {
                    let (tcp, _) = listener.accept()?;
                    tcp.set_nodelay(true)?;
                    tcp.set_read_timeout(Some(IDLE_IO_WAIT))?;
                    tcp.set_write_timeout(Some(PEER_WAIT))?;
                    Ok(tungstenite::accept(tcp).map_err(|e| e.to_string())?)
                })
                .collect::<Res<Vec<_>>>();
            let _ = done.send(result);
        });
        let groups = start_client_groups(plan, port, clients)?;
        let clients = accepted
            .recv_timeout(BROADCAST_WAIT)
            .map_err(|_| "tungstenite: the clients were not all accepted in time")??;
        Ok(TungsteniteBroadcaster { clients, groups })
    }

    /// One run: per round, `send` (write and flush) to each client in turn.
    fn run(&mut self, rounds: usize, payload: &Bytes) -> Res<Delivered> {
        let clients = &mut self.clients;
        broadcast_run(&mut self.groups, rounds, || {
            for ws in clients.iter_mut() {
                ws.send(Wire::Binary(payload.clone()))?;
            }
            Ok(clients.len())
        })
    }
}

/// A `tungstenite-count-clients` child: `connections` clients of a
/// broadcasting server, answering lines on its stdin.
struct ClientGroup {
    child: Child,
    out: BufReader<ChildStdout>,
    connections: usize,
}

impl ClientGroup {
    fn line(&mut self) -> Res<String> {
        let mut line = String::new();
        if self.out.read_line(&mut line)? == 0 {
            return Err("a client child ended".into());
        }
        Ok(line.trim_end().to_owned())
    }

    fn expect_line(&mut self, expected: &str) -> Res<()> {
        match self.line()? {
            line if line == expected => Ok(()),
            line => Err(format!("a client child said {line:?}, not {expected:?}").into()),
        }
    }

    fn tell(&mut self, line: &str) -> Res<()> {
        let stdin = self.child.stdin.as_mut().ok_or("no stdin")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }
}

impl Drop for ClientGroup {
    fn drop(&mut self) {
        end_child(&mut self.child);
    }
}

/// Starts [`BROADCAST_CHILDREN`] client children sharing `clients`
/// connections to `port` (on the server's core 1 when pinned: this
/// process is the server), and waits until each has connected all of its
/// share (each bounds that by [`BROADCAST_WAIT`]).
fn start_client_groups(plan: &Plan, port: u16, clients: usize) -> Res<Vec<ClientGroup>> {
    let port = port.to_string();
    let mut groups = Vec::new();
    for i in 0..BROADCAST_CHILDREN {
        let share = clients / BROADCAST_CHILDREN + usize::from(i < clients % BROADCAST_CHILDREN);
        let n = share.to_string();
        let env = [
            (CONNECT_PORT_ENV, port.as_str()),
            (CONNECTIONS_ENV, n.as_str()),
        ];
        let mut child = spawn_child(
            "tungstenite-count-clients",
            plan.pinned.then_some(1),
            &env,
            false,
        )?;
        let out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        groups.push(ClientGroup {
            child,
            out,
            connections: share,
        });
    }
    for g in &mut groups {
        let expected = format!("ready {}", g.connections);
        g.expect_line(&expected)?;
    }
    Ok(groups)
}

/// The soft limit on open descriptors (`ulimit -n`), from
/// /proc/self/limits; unbounded where unknown.
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse().ok()
        })
        .unwrap_or(usize::MAX)
}

/// The binary messages all clients of a `tungstenite-count-clients` child
/// have received, and whether a run is on (the readers poll only then).
#[derive(Default)]
struct Counter {
    received: AtomicU64,
    target: AtomicU64,
    active: AtomicBool,
    lock: Mutex<()>,
    /// Notified when a run starts and when the count reaches the target.
    changed: Condvar,
}

impl Counter {
    fn held(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, n: u64) {
        let now = self.received.fetch_add(n, Ordering::SeqCst) + n;
        let target = self.target.load(Ordering::SeqCst);
        if now >= target && now - n < target {
            let _held = self.held();
            self.changed.notify_all();
        }
    }

    /// Between runs: waits until one starts or `time` has passed.
    fn idle(&self, time: Duration) {
        let held = self.held();
        if !self.active.load(Ordering::SeqCst) {
            drop(self.changed.wait_timeout(held, time));
        }
    }

    /// Sets the target `n` messages above the count so far, starts the
    /// readers, calls `armed`, and waits until the count reaches the target
    /// or `time` has passed; returns how many came.
    fn expect(&self, n: u64, time: Duration, armed: impl FnOnce() -> Res<()>) -> Res<u64> {
        let mut held = self.held();
        let base = self.received.load(Ordering::SeqCst);
        self.target.store(base + n, Ordering::SeqCst);
        self.active.store(true, Ordering::SeqCst);
        self.changed.notify_all();
        armed()?;
        let deadline = Instant::now() + time;
        while self.received.load(Ordering::SeqCst) < base + n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            held = self
                .changed
                .wait_timeout(held, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        self.active.store(false, Ordering::SeqCst);
        drop(held);
        Ok(self.received.load(Ordering::SeqCst) - base)
    }
}

/// The broadcast clients' child: opens [`CONNECTIONS_ENV`] tungstenite
/// clients (default config) to the port in [`CONNECT_PORT_ENV`] one after
/// another (bounded by [`BROADCAST_WAIT`]), then sets them non-blocking and
/// shares them among [`COUNT_READERS`] threads, each reading every one of
/// its connections until `WouldBlock`, pass after pass, and counting binary
/// messages (a thread per connection woke once per message and made the
/// clients, all on one core, the bottleneck). Prints "ready <connected>",
/// then answers each "expect <n> <ms>" line on stdin with "armed", and with
/// "got <count>" once its clients have received n more messages in all or
/// ms have passed. Between runs the readers make one pass per 100 ms (to
/// answer pings). Ends when stdin closes.
fn serve_count_clients() -> Res<()> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let port: u16 = var(CONNECT_PORT_ENV)?.parse()?;
    let connections: usize = var(CONNECTIONS_ENV)?.parse()?;
    let stop = Instant::now() + BROADCAST_WAIT;
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        if Instant::now() >= stop {
            eprintln!(
                "tungstenite-count-clients: out of time after {} connections",
                clients.len()
            );
            break;
        }
        match count_client(port) {
            Ok(ws) => clients.push(ws),
            Err(e) => {
                eprintln!("tungstenite-count-clients: {e}");
                break;
            }
        }
    }
    let connected = clients.len();
    let counter = Arc::new(Counter::default());
    let share = connected.div_ceil(COUNT_READERS).max(1);
    while !clients.is_empty() {
        let mut mine = clients.split_off(clients.len().saturating_sub(share));
        let counter = Arc::clone(&counter);
        std::thread::Builder::new()
            .name("count-clients".into())
            .spawn(move || {
                // Ends when every connection has ended (the server's close
                // or reset, any error), or when the process exits.
                while !mine.is_empty() {
                    if !counter.active.load(Ordering::SeqCst) {
                        counter.idle(Duration::from_millis(100));
                    }
                    let got = read_pass(&mut mine);
                    if got > 0 {
                        counter.add(got);
                    } else if counter.active.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
            })?;
    }
    say(&format!("ready {connected}"))?;
    for line in io::stdin().lock().lines() {
        let line = line?;
        let mut words = line.split_whitespace();
        let (Some("expect"), Some(n), Some(ms)) = (words.next(), words.next(), words.next()) else {
            return Err(format!("unexpected line {line:?}").into());
        };
        let time = Duration::from_millis(ms.parse()?);
        let got = counter.expect(n.parse()?, time, || say("armed"))?;
        say(&format!("got {got}"))?;
    }
    Ok(())
}

/// Reads every connection until `WouldBlock`; drops those that ended.
/// Returns how many binary messages came.
fn read_pass(clients: &mut Vec<tungstenite::WebSocket<TcpStream>>) -> u64 {
    let mut got = 0;
    clients.retain_mut(|ws| loop {
        match ws.read() {
            Ok(m) => got += u64::from(m.is_binary()),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    });
    got
}

/// One plain tungstenite client (default config), for `serve_count_clients`:
/// connected and upgraded blocking, then set non-blocking.
fn count_client(port: u16) -> Res<tungstenite::WebSocket<TcpStream>> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let tcp = TcpStream::connect_timeout(&addr, IDLE_IO_WAIT)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(IDLE_IO_WAIT))?;
    let (ws, _) = tungstenite::client(url(port), tcp).map_err(|e| e.to_string())?;
    ws.get_ref().set_nonblocking(true)?;
    Ok(ws)
}

// ---------------------------------------------------------------------------
// Clients (this process)
// ---------------------------------------------------------------------------

fn url(port: u16) -> String {
    format!("ws://127.0.0.1:{port}/bench")
}

/// Round-trip times in µs of one echo run (after a warm-up), bounded by
/// `plan.echo_trips` and `plan.echo_time`.
fn echo_loop(plan: &Plan, mut trip: impl FnMut() -> Res<()>) -> Res<Vec<f64>> {
    for _ in 0..plan.echo_warmup {
        trip()?;
    }
    let mut times = Vec::with_capacity(plan.echo_trips);
    let stop = Instant::now() + plan.echo_time;
    while times.len() < plan.echo_trips && Instant::now() < stop {
        let t = Instant::now();
        trip()?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(times)
}

fn echo_wsock(ws: MessageWebSocket, plan: &Plan) -> Res<Vec<f64>> {
    let times = echo_loop(plan, || {
        ws.send_text(ECHO_TEXT)?;
        match ws.recv_timeout(PEER_WAIT)? {
            Message::Text(t) if t.len() == ECHO_TEXT.len() => Ok(()),
            other => Err(format!("unexpected echo {other:?}").into()),
        }
    })?;
    ws.close(1000, "")?;
    Ok(times)
}

fn echo_tungstenite<S: Tcp>(mut ws: tungstenite::WebSocket<S>, plan: &Plan) -> Res<Vec<f64>> {
    let text = Utf8Bytes::from_static(ECHO_TEXT);
    let times = echo_loop(plan, || {
        ws.send(Wire::Text(text.clone()))?;
        match ws.read()? {
            Wire::Text(t) if t.len() == ECHO_TEXT.len() => Ok(()),
            other => Err(format!("unexpected echo {other:?}").into()),
        }
    })?;
    tungstenite_close(ws);
    Ok(times)
}

fn echo_raw(port: u16, plan: &Plan) -> Res<Vec<f64>> {
    let mut tcp = raw_client(port)?;
    let mut back = [0u8; 16];
    echo_loop(plan, || {
        tcp.write_all(ECHO_TEXT.as_bytes())?;
        tcp.read_exact(&mut back)?;
        Ok(())
    })
}

/// What one one-way run moved, and how long until the sink's ack.
struct Moved {
    messages: u64,
    bytes: u64,
    secs: f64,
    /// CPU time of this (client) process over the run, in cores (1.0 = one
    /// core busy all along): below 1 means the sender waited, not worked.
    cpu: f64,
}

impl Moved {
    /// Messages per second, or MB/s (10^6 bytes) when not `messages`.
    fn per_second(&self, messages: bool) -> f64 {
        if messages {
            self.messages as f64 / self.secs
        } else {
            self.bytes as f64 / 1e6 / self.secs
        }
    }

    /// For the progress lines: the rate, the count, the client's CPU use.
    fn show(&self, messages: bool) -> String {
        format!(
            "{} {} ({} messages, client cpu {:.2})",
            figure(self.per_second(messages)),
            if messages { "msg/s" } else { "MB/s" },
            self.messages,
            self.cpu
        )
    }
}

/// How many messages a sender sends between looks at the clock.
fn check_every(payload: &[u8]) -> usize {
    if payload.len() < 4096 {
        16
    } else {
        1
    }
}

/// Checks the sink's ack ("<messages> <bytes>") against what was sent.
fn check_ack(ack: &str, messages: u64, size: usize) -> Res<()> {
    let expected = format!("{messages} {}", messages * size as u64);
    if ack != expected {
        return Err(format!("sink acked {ack:?}, expected {expected:?}").into());
    }
    Ok(())
}

/// Sends `payload` from `threads` threads sharing one wsock socket until
/// `max` messages in all or `time` has passed, then "done"; waits for the ack.
fn send_wsock(
    ws: MessageWebSocket,
    payload: &[u8],
    threads: usize,
    max: usize,
    time: Duration,
) -> Res<Moved> {
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let stop = start + time;
    let send_share = |tx: &wsock::Sender, share: usize| -> Res<u64> {
        let mut sent = 0;
        while sent < share && (sent % check_every(payload) != 0 || Instant::now() < stop) {
            tx.send_binary(payload)?;
            sent += 1;
        }
        Ok(sent as u64)
    };
    let messages = if threads == 1 {
        send_share(&ws.sender(), max)?
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let tx = ws.sender();
                    s.spawn(move || send_share(&tx, max / threads))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| "a sender thread panicked")?)
                .sum::<Res<u64>>()
        })?
    };
    ws.send_text("done")?;
    let ack = ws.recv_timeout(PEER_WAIT)?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu) / secs;
    check_ack(ack.as_text().unwrap_or("<binary>"), messages, payload.len())?;
    ws.close(1000, "")?;
    Ok(Moved {
        messages,
        bytes: messages * payload.len() as u64,
        secs,
        cpu,
    })
}

/// The same with a blocking tungstenite client: `send` (write and flush)
/// per message.
fn send_tungstenite<S: Tcp>(
    mut ws: tungstenite::WebSocket<S>,
    payload: &[u8],
    max: usize,
    time: Duration,
) -> Res<Moved> {
    let data = Bytes::copy_from_slice(payload);
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let stop = start + time;
    let mut sent = 0usize;
    while sent < max && (sent % check_every(payload) != 0 || Instant::now() < stop) {
        ws.send(Wire::Binary(data.clone()))?;
        sent += 1;
    }
    ws.send(Wire::text("done"))?;
    let ack = ws.read()?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu) / secs;
    check_ack(ack.to_text()?, sent as u64, payload.len())?;
    tungstenite_close(ws);
    Ok(Moved {
        messages: sent as u64,
        bytes: (sent * payload.len()) as u64,
        secs,
        cpu,
    })
}

/// Frames encoded (and masked) once before the clock starts.
const PREMASKED_BATCH: usize = 1024;

/// The receive side's sender: after tungstenite's handshake, writes
/// `payload` as masked binary frames encoded once before the clock starts,
/// [`PREMASKED_BATCH`] per write straight to the socket, so sending costs
/// next to nothing and the row measures the receiver; then "done" through
/// tungstenite, and the ack.
fn send_premasked(
    mut ws: tungstenite::WebSocket<TcpStream>,
    payload: &[u8],
    max: usize,
    time: Duration,
) -> Res<Moved> {
    assert!(payload.len() < 126, "one-byte lengths only");
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x82, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let batch = frame.repeat(PREMASKED_BATCH);
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let stop = start + time;
    let mut sent = 0usize;
    while sent + PREMASKED_BATCH <= max && Instant::now() < stop {
        ws.get_mut().write_all(&batch)?;
        sent += PREMASKED_BATCH;
    }
    ws.send(Wire::text("done"))?;
    let ack = ws.read()?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu) / secs;
    check_ack(ack.to_text()?, sent as u64, payload.len())?;
    tungstenite_close(ws);
    Ok(Moved {
        messages: sent as u64,
        bytes: (sent * payload.len()) as u64,
        secs,
        cpu,
    })
}

/// Raw TCP: `payload`-sized writes, then FIN; the sink answers the byte
/// count as 8 bytes.
fn send_raw(port: u16, payload: &[u8], max: usize, time: Duration) -> Res<Moved> {
    let mut tcp = raw_client(port)?;
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let stop = start + time;
    let mut sent = 0usize;
    while sent < max && Instant::now() < stop {
        tcp.write_all(payload)?;
        sent += 1;
    }
    tcp.shutdown(Shutdown::Write)?;
    let mut ack = [0u8; 8];
    tcp.read_exact(&mut ack)?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu) / secs;
    let bytes = (sent * payload.len()) as u64;
    if u64::from_le_bytes(ack) != bytes {
        return Err(format!(
            "raw sink counted {} of {bytes} bytes",
            u64::from_le_bytes(ack)
        )
        .into());
    }
    Ok(Moved {
        messages: sent as u64,
        bytes,
        secs,
        cpu,
    })
}

/// Receives from a pusher child: asks for up to `plan.small_max` 64 B
/// messages for `plan.run_time`, counts them until its "done <count>",
/// and times them from the first message to the "done".
fn receive_pushed(port: u16, plan: &Plan) -> Res<Moved> {
    let url = format!(
        "ws://127.0.0.1:{port}/push?n={}&ms={}",
        plan.small_max,
        plan.run_time.as_millis()
    );
    let (mut ws, _) = tungstenite::client(url, raw_client(port)?).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + plan.run_time + PEER_WAIT;
    let (mut messages, mut bytes) = (0u64, 0u64);
    let mut first = None;
    let announced = loop {
        if messages % 4096 == 0 && Instant::now() >= deadline {
            return Err(format!("push: {messages} messages and no \"done\" in time").into());
        }
        match ws.read()? {
            Wire::Binary(b) => {
                if first.is_none() {
                    first = Some((Instant::now(), cpu_seconds()));
                }
                messages += 1;
                bytes += b.len() as u64;
            }
            Wire::Text(t) => {
                break t
                    .as_str()
                    .strip_prefix("done ")
                    .and_then(|n| n.parse::<u64>().ok())
                    .ok_or_else(|| format!("the pusher sent {:?}", t.as_str()))?
            }
            _ => {}
        }
    };
    let (start, cpu) = first.ok_or("the pusher sent no messages")?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu) / secs;
    if announced != messages {
        return Err(format!("the pusher announced {announced} messages, {messages} came").into());
    }
    tungstenite_close(ws);
    Ok(Moved {
        messages,
        bytes,
        secs,
        cpu,
    })
}

/// Stream mode: `count` writes of `payload` through a `StreamWebSocket`,
/// then a flush; the sink (told the total in the URL) acks the byte count.
fn stream_wsock(port: u16, payload: &[u8], count: usize) -> Res<Moved> {
    let total = (payload.len() * count) as u64;
    let mut s = StreamWebSocket::connect(&format!("ws://127.0.0.1:{port}/stream?bytes={total}"))?;
    s.set_read_timeout(Some(PEER_WAIT))?;
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let stop = start + STREAM_TIME;
    for i in 0..count {
        if i % 16 == 0 && Instant::now() >= stop {
            return Err(format!("stream: {i} of {count} writes in {STREAM_TIME:?}").into());
        }
        s.write_all(payload)?;
    }
    s.flush()?;
    let mut ack = [0u8; 8];
    s.read_exact(&mut ack)?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu) / secs;
    if u64::from_le_bytes(ack) != total {
        return Err(format!(
            "stream sink counted {} of {total} bytes",
            u64::from_le_bytes(ack)
        )
        .into());
    }
    s.close(1000, "")?;
    Ok(Moved {
        messages: count as u64,
        bytes: total,
        secs,
        cpu,
    })
}

fn raw_client(port: u16) -> Res<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(PEER_WAIT))?;
    Ok(tcp)
}

fn wsock_client(port: u16) -> Res<MessageWebSocket> {
    Ok(MessageWebSocket::connect(&url(port))?)
}

fn tungstenite_client(port: u16) -> Res<tungstenite::WebSocket<TcpStream>> {
    let tcp = raw_client(port)?;
    let (ws, _) = tungstenite::client(url(port), tcp).map_err(|e| e.to_string())?;
    Ok(ws)
}

/// A stream a tungstenite client runs over: TCP, or TLS over TCP.
trait Tcp: Read + Write {
    fn tcp(&self) -> &TcpStream;
}

impl Tcp for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

/// Closes a tungstenite client and waits (bounded) for the server's close.
fn tungstenite_close<S: Tcp>(mut ws: tungstenite::WebSocket<S>) {
    let _ = ws
        .get_ref()
        .tcp()
        .set_read_timeout(Some(Duration::from_secs(5)));
    let _ = ws.close(None);
    while ws.read().is_ok() {}
}

// ---------------------------------------------------------------------------
// Servers (the child process, `bench --serve ROLE`)
// ---------------------------------------------------------------------------

/// A child process serving one role on a port of 127.0.0.1.
struct Peer {
    child: std::process::Child,
    port: u16,
}

impl Peer {
    /// Starts `bench --serve role`, under `taskset -c core` if given.
    /// `BENCH_SERVER_WRAPPER` (split on spaces) goes before the bench in
    /// the command, e.g. `valgrind --tool=callgrind` to profile the servers.
    fn start(role: &str, core: Option<usize>) -> Res<Peer> {
        Peer::start_with(role, core, &[])
    }

    /// The same, with these variables added to the child's environment.
    fn start_with(role: &str, core: Option<usize>, env: &[(&str, &str)]) -> Res<Peer> {
        Peer::from_child(spawn_child(role, core, env, true)?, role)
    }

    /// Another program's server (the `deflate` row's peer scripts): the
    /// command line `argv`, under `taskset -c core` if given.
    fn start_program(argv: &[String], core: Option<usize>, env: &[(&str, &str)]) -> Res<Peer> {
        Peer::from_child(spawn_pinned(argv, core, env)?, &argv.join(" "))
    }

    /// Reads the port the child prints on stdout line 1 (waiting
    /// [`PEER_WAIT`] at most).
    fn from_child(mut child: Child, what: &str) -> Res<Peer> {
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(PEER_WAIT).unwrap_or_default();
        match line.trim().parse() {
            Ok(port) => Ok(Peer { child, port }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("server {what} did not print a port: {line:?}").into())
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        end_child(&mut self.child);
    }
}

/// Starts `bench --serve role` with piped stdin and stdout, under
/// `taskset -c core` if given, and after `BENCH_SERVER_WRAPPER` if `wrap`.
fn spawn_child(role: &str, core: Option<usize>, env: &[(&str, &str)], wrap: bool) -> Res<Child> {
    let mut argv: Vec<String> = Vec::new();
    if let (true, Ok(wrapper)) = (wrap, std::env::var("BENCH_SERVER_WRAPPER")) {
        argv.extend(wrapper.split_whitespace().map(str::to_owned));
    }
    argv.push(std::env::current_exe()?.to_string_lossy().into_owned());
    argv.extend(["--serve".into(), role.into()]);
    spawn_pinned(&argv, core, env)
}

/// Starts the command line `argv` with piped stdin and stdout, under
/// `taskset -c core` if given.
fn spawn_pinned(argv: &[String], core: Option<usize>, env: &[(&str, &str)]) -> Res<Child> {
    let mut pinned: Vec<String> = Vec::new();
    if let Some(c) = core {
        pinned.extend(["taskset".into(), "-c".into(), c.to_string()]);
    }
    pinned.extend(argv.iter().cloned());
    let mut cmd = Command::new(&pinned[0]);
    cmd.args(&pinned[1..])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    Ok(cmd.spawn()?)
}

/// Closes a child's stdin (it exits then), waits 5 s at most, then kills it.
fn end_child(child: &mut Child) {
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The child's body: bind, print the port, serve connections one after
/// another until stdin closes.
fn serve(role: &str) -> Res<()> {
    if role == "tungstenite-count-clients" {
        return serve_count_clients(); // a client: it reads its stdin itself
    }
    std::thread::spawn(|| {
        let _ = io::copy(&mut io::stdin(), &mut io::sink());
        std::process::exit(0);
    });
    match role {
        "wsock-hub-echo" => return serve_wsock_hub(),
        "tungstenite-threads-echo" => return serve_tungstenite_threads(),
        "wsock-text-sink" => return deflate::serve_wsock_text_sink(None),
        "wsock-text-sink-deflate" => {
            return deflate::serve_wsock_text_sink(Some(Deflate::default()))
        }
        #[cfg(feature = "tls")]
        "tungstenite-tls-echo" => return tls::serve_tungstenite(true),
        #[cfg(feature = "tls")]
        "tungstenite-tls-sink" => return tls::serve_tungstenite(false),
        _ => {}
    }
    if let Some(kind) = role.strip_prefix("wsock-") {
        let (kind, server) = match kind.strip_prefix("tls-") {
            #[cfg(feature = "tls")]
            Some(kind) => (kind, tls::wsock_server()?),
            _ => (
                kind,
                Server::builder().compression(None).bind("127.0.0.1:0")?,
            ),
        };
        if !["echo", "sink", "stream-sink", "pusher"].contains(&kind) {
            return Err(format!("unknown role {role}").into());
        }
        announce(server.local_addr()?.port())?;
        for request in server.incoming() {
            let request = request?;
            let served = match kind {
                "stream-sink" => serve_wsock_stream_sink(request),
                "pusher" => serve_wsock_pusher(request),
                "echo" => accept(request).and_then(|ws| serve_wsock_echo(&ws)),
                _ => accept(request).and_then(|ws| serve_wsock_sink(&ws)),
            };
            if let Err(e) = served {
                eprintln!("{role}: {e}");
            }
        }
        return Ok(());
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    announce(listener.local_addr()?.port())?;
    for tcp in listener.incoming() {
        let tcp = tcp?;
        tcp.set_nodelay(true)?;
        let served = match role {
            "tungstenite-echo" => serve_tungstenite(tcp, true),
            "tungstenite-sink" => serve_tungstenite(tcp, false),
            "tungstenite-pusher" => serve_tungstenite_pusher(tcp),
            "raw-echo" => serve_raw_echo(tcp),
            "raw-sink" => serve_raw_sink(tcp),
            _ => return Err(format!("unknown role {role}").into()),
        };
        if let Err(e) = served {
            eprintln!("{role}: {e}");
        }
    }
    Ok(())
}

fn announce(port: u16) -> Res<()> {
    say(&port.to_string())
}

/// One line on stdout, flushed.
fn say(line: &str) -> Res<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

fn accept(request: Request) -> Res<MessageWebSocket> {
    Ok(request.accept_message()?)
}

fn serve_wsock_echo(ws: &MessageWebSocket) -> Res<()> {
    for m in ws.messages() {
        ws.send(m?)?;
    }
    Ok(())
}

/// Counts binary messages; answers "done" with "<messages> <bytes>".
fn serve_wsock_sink(ws: &MessageWebSocket) -> Res<()> {
    let (mut messages, mut bytes) = (0u64, 0u64);
    for m in ws.messages() {
        match m? {
            Message::Binary(b) => (messages, bytes) = (messages + 1, bytes + b.len() as u64),
            Message::Text(_) => {
                ws.send_text(format!("{messages} {bytes}"))?;
                (messages, bytes) = (0, 0);
            }
        }
    }
    Ok(())
}

/// Stream mode: reads the number of bytes the query names (`bytes=N`) with
/// a 64 KiB buffer, acks the count (8 bytes, little endian), then reads until
/// the client's close.
fn serve_wsock_stream_sink(request: Request) -> Res<()> {
    let total: u64 = request
        .query()
        .and_then(|q| q.strip_prefix("bytes="))
        .and_then(|n| n.parse().ok())
        .ok_or("no bytes=N in the query")?;
    let mut s = request.accept_stream()?;
    s.set_read_timeout(Some(PEER_WAIT))?;
    let mut buf = vec![0u8; SINK_READ];
    let mut got = 0u64;
    while got < total {
        match s.read(&mut buf)? {
            0 => break,
            n => got += n as u64,
        }
    }
    s.write_all(&got.to_le_bytes())?;
    s.flush()?;
    while s.read(&mut buf)? > 0 {}
    Ok(())
}

/// The `idle` server under test: a wsock `Server` accepting into one `Hub`,
/// and one thread echoing every message through it. `max_connections` from
/// the environment ([`MAX_CONNECTIONS_ENV`]), else the default.
fn serve_wsock_hub() -> Res<()> {
    let mut builder = Server::builder().compression(None);
    if std::env::var_os(IDLE_DEFLATE_ENV).is_some() {
        builder = builder.compression(Deflate::default());
    }
    if let Ok(max) = std::env::var(MAX_CONNECTIONS_ENV) {
        builder = builder.max_connections(max.parse()?);
    }
    let server = builder.bind("127.0.0.1:0")?;
    let hub = Hub::new();
    let echoing = hub.clone();
    std::thread::Builder::new()
        .name("hub-echo".into())
        .spawn(move || loop {
            if let HubEvent::Message(from, message) = echoing.recv() {
                let _ = from.send(message);
            }
        })?;
    announce(server.local_addr()?.port())?;
    for request in server.incoming() {
        if let Err(e) = request.and_then(|r| r.accept_into(&hub)) {
            eprintln!("wsock-hub-echo: {e}");
        }
    }
    Ok(())
}

/// The `idle` reference: tungstenite, one thread per connection (default
/// config and stack size), `accept` and a read/echo loop.
fn serve_tungstenite_threads() -> Res<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    announce(listener.local_addr()?.port())?;
    for tcp in listener.incoming() {
        let tcp = match tcp {
            Ok(tcp) => tcp,
            Err(e) => {
                eprintln!("tungstenite-threads-echo: accept: {e}");
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let spawned = std::thread::Builder::new().spawn(move || {
            let Ok(mut ws) = tungstenite::accept(tcp) else {
                return;
            };
            // Ends at the client's close or reset, or at any error.
            while let Ok(m) = ws.read() {
                if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                    return;
                }
            }
        });
        if let Err(e) = spawned {
            eprintln!("tungstenite-threads-echo: cannot start a thread: {e}");
        }
    }
    Ok(())
}

/// A tungstenite server: echoes every message, or counts like the wsock sink.
fn serve_tungstenite<S: Read + Write>(stream: S, echo: bool) -> Res<()> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let mut ws =
        tungstenite::accept_with_config(stream, Some(config)).map_err(|e| e.to_string())?;
    let (mut messages, mut bytes) = (0u64, 0u64);
    loop {
        match ws.read() {
            Ok(m @ (Wire::Text(_) | Wire::Binary(_))) if echo => ws.send(m)?,
            Ok(Wire::Binary(b)) => (messages, bytes) = (messages + 1, bytes + b.len() as u64),
            Ok(Wire::Text(_)) => {
                ws.send(Wire::text(format!("{messages} {bytes}")))?;
                (messages, bytes) = (0, 0);
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(())
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The `n=N` and `ms=T` of a push request's query: how many messages at
/// most, and for how long.
fn push_query(query: Option<&str>) -> Res<(usize, Duration)> {
    let (mut n, mut ms) = (None, None);
    for pair in query.unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("n", v)) => n = Some(v.parse()?),
            Some(("ms", v)) => ms = Some(Duration::from_millis(v.parse()?)),
            _ => {}
        }
    }
    Ok((
        n.ok_or("no n=N in the query")?,
        ms.ok_or("no ms=T in the query")?,
    ))
}

/// Pushes 64 B binary messages with `send_all`, [`PUSH_BATCH`] per call,
/// until the query's count or time, then "done <count>"; then reads until
/// the client's close.
fn serve_wsock_pusher(request: Request) -> Res<()> {
    let (max, time) = push_query(request.query())?;
    let ws = request.accept_message()?;
    let payload = Bytes::from(vec![0x5au8; 64]);
    let stop = Instant::now() + time;
    let mut sent = 0;
    while sent < max && Instant::now() < stop {
        let batch = PUSH_BATCH.min(max - sent);
        sent += ws.send_all((0..batch).map(|_| Message::Binary(payload.clone())))?;
    }
    ws.send_text(format!("done {sent}"))?;
    for m in ws.messages() {
        m?;
    }
    Ok(())
}

/// The same with tungstenite: `write` per message, `flush` per
/// [`PUSH_BATCH`].
fn serve_tungstenite_pusher(tcp: TcpStream) -> Res<()> {
    use tungstenite::handshake::server::{Request as Upgrade, Response};
    let mut query = None;
    // The signature is tungstenite's `Callback`: its error is an HTTP response.
    #[allow(clippy::result_large_err)]
    let learn_query = |req: &Upgrade, response: Response| {
        query = req.uri().query().map(str::to_owned);
        Ok(response)
    };
    let mut ws = tungstenite::accept_hdr(tcp, learn_query).map_err(|e| e.to_string())?;
    let (max, time) = push_query(query.as_deref())?;
    let payload = Bytes::from(vec![0x5au8; 64]);
    let stop = Instant::now() + time;
    let mut sent = 0;
    while sent < max && Instant::now() < stop {
        let batch = PUSH_BATCH.min(max - sent);
        for _ in 0..batch {
            ws.write(Wire::Binary(payload.clone()))?;
        }
        ws.flush()?;
        sent += batch;
    }
    ws.send(Wire::text(format!("done {sent}")))?;
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(())
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn serve_raw_echo(mut tcp: TcpStream) -> Res<()> {
    let mut buf = [0u8; 16];
    loop {
        match tcp.read_exact(&mut buf) {
            Ok(()) => tcp.write_all(&buf)?,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads until FIN, then answers the byte count (8 bytes, little endian).
fn serve_raw_sink(mut tcp: TcpStream) -> Res<()> {
    let mut buf = vec![0u8; SINK_READ];
    let mut total = 0u64;
    loop {
        match tcp.read(&mut buf)? {
            0 => break,
            n => total += n as u64,
        }
    }
    tcp.write_all(&total.to_le_bytes())?;
    Ok(())
}

// ---------------------------------------------------------------------------
// wss:// (both processes)
// ---------------------------------------------------------------------------

/// The `wss` rows and the TLS servers: rustls with the ring provider on
/// both sides, a throwaway CA made by rcgen.
#[cfg(feature = "tls")]
mod tls {
    use std::sync::Arc;

    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    use wsock::rustls::pki_types::pem::PemObject;
    use wsock::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use wsock::rustls::{self, ClientConnection, ServerConnection, StreamOwned};

    use super::*;

    /// Children's environment: the server certificate and key (PEM).
    const CERT_ENV: &str = "BENCH_TLS_CERT_PEM";
    const KEY_ENV: &str = "BENCH_TLS_KEY_PEM";

    type TlsClient = tungstenite::WebSocket<StreamOwned<ClientConnection, TcpStream>>;

    impl Tcp for StreamOwned<ClientConnection, TcpStream> {
        fn tcp(&self) -> &TcpStream {
            &self.sock
        }
    }

    /// A CA, and a server certificate for 127.0.0.1 and localhost it signed.
    struct Pki {
        ca_pem: String,
        cert_pem: String,
        key_pem: String,
    }

    fn make_pki() -> Res<Pki> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "wsock bench CA (throwaway)");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        Ok(Pki {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    fn ring() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// rustls's defaults (TLS 1.3 and 1.2), trusting only the CA.
    fn client_config(ca_pem: &str) -> Res<Arc<rustls::ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(ca?)?;
        }
        let config = rustls::ClientConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    fn wss_url(port: u16) -> String {
        format!("wss://127.0.0.1:{port}/bench")
    }

    fn wsock_tls_client(port: u16, pki: &Pki) -> Res<MessageWebSocket> {
        Ok(MessageWebSocket::builder()
            .root_certificate_pem(pki.ca_pem.as_bytes())
            .connect(&wss_url(port))?)
    }

    /// A blocking tungstenite client over `rustls::StreamOwned`.
    fn tungstenite_tls_client(port: u16, config: &Arc<rustls::ClientConfig>) -> Res<TlsClient> {
        let tcp = raw_client(port)?;
        let name = ServerName::try_from("127.0.0.1")?;
        let tls = ClientConnection::new(Arc::clone(config), name)?;
        let (ws, _) = tungstenite::client(wss_url(port), StreamOwned::new(tls, tcp))
            .map_err(|e| e.to_string())?;
        Ok(ws)
    }

    /// 16 B echo and 1 MiB one way, each library against its own TLS server.
    pub(super) fn wss_rows(plan: &Plan) -> Res<Vec<Line>> {
        let pki = make_pki()?;
        let env = [
            (CERT_ENV, pki.cert_pem.as_str()),
            (KEY_ENV, pki.key_pem.as_str()),
        ];
        let core = plan.pinned.then_some(1);
        let wsock_echo = Peer::start_with("wsock-tls-echo", core, &env)?;
        let tung_echo = Peer::start_with("tungstenite-tls-echo", core, &env)?;
        let wsock_sink = Peer::start_with("wsock-tls-sink", core, &env)?;
        let tung_sink = Peer::start_with("tungstenite-tls-sink", core, &env)?;
        let config = client_config(&pki.ca_pem)?;
        {
            // Both sides negotiate the same: show it once.
            let ws = wsock_tls_client(wsock_echo.port, &pki)?;
            let tung = tungstenite_tls_client(tung_echo.port, &config)?;
            let conn = &tung.get_ref().conn;
            let info = ws
                .info()
                .tls
                .ok_or("a wss:// socket without TLS information")?;
            eprintln!(
                "  wsock: {} {}; tungstenite: {:?} {:?}",
                info.version,
                info.cipher_suite,
                conn.protocol_version(),
                conn.negotiated_cipher_suite().map(|c| c.suite())
            );
            ws.close(1000, "")?;
            tungstenite_close(tung);
        }
        let payload = vec![0x5au8; 1 << 20];
        let max = LARGE_RUN_BYTES / payload.len();
        let (mut we, mut te) = (Runs::default(), Runs::default());
        let (mut ws, mut ts) = (vec![], vec![]);
        // The receiving servers' CPU time per GB (where TLS costs most),
        // and this process's while it sends (the sending client).
        let (mut wcpu, mut tcpu) = (vec![], vec![]);
        let (mut wsend, mut tsend) = (vec![], vec![]);
        let sink_cpu = |sink: &Peer| cpu_seconds_of(sink.child.id());
        for run in 0..plan.runs {
            we.add(echo_wsock(wsock_tls_client(wsock_echo.port, &pki)?, plan)?);
            te.add(echo_tungstenite(
                tungstenite_tls_client(tung_echo.port, &config)?,
                plan,
            )?);
            let client = wsock_tls_client(wsock_sink.port, &pki)?;
            let (before, sent_before) = (sink_cpu(&wsock_sink), cpu_seconds());
            let a = send_wsock(client, &payload, 1, max, plan.run_time)?;
            let a_cpu = ms_per_gb(sink_cpu(&wsock_sink) - before, a.bytes);
            wsend.push(ms_per_gb(cpu_seconds() - sent_before, a.bytes));
            let client = tungstenite_tls_client(tung_sink.port, &config)?;
            let (before, sent_before) = (sink_cpu(&tung_sink), cpu_seconds());
            let b = send_tungstenite(client, &payload, max, plan.run_time)?;
            let b_cpu = ms_per_gb(sink_cpu(&tung_sink) - before, b.bytes);
            tsend.push(ms_per_gb(cpu_seconds() - sent_before, b.bytes));
            ws.push(a.per_second(false));
            ts.push(b.per_second(false));
            wcpu.push(a_cpu);
            tcpu.push(b_cpu);
            eprintln!(
                "  run {}: echo p50 wsock {:.1} tungstenite {:.1} µs; 1 MiB one way: wsock {} \
                 (server cpu {a_cpu:.0} ms/GB); tungstenite {} (server cpu {b_cpu:.0} ms/GB)",
                run + 1,
                we.p50[run],
                te.p50[run],
                a.show(false),
                b.show(false)
            );
        }
        let echo = |p: &str, w: &[f64], t: &[f64], target: Option<Target>| Line {
            row: format!("wss: echo 16 B text, {p} µs (lower is better)"),
            wsock: median(w),
            reference: median(t),
            reference_name: "tungstenite over rustls",
            higher_is_better: false,
            target,
        };
        Ok(vec![
            echo("p50", &we.p50, &te.p50, Some(Target::Ratio(1.1))),
            echo("p99", &we.p99, &te.p99, None),
            Line {
                row: "wss: 1 MiB binary one way, end to end, MB/s (higher is better)".into(),
                wsock: median(&ws),
                reference: median(&ts),
                reference_name: "tungstenite over rustls",
                higher_is_better: true,
                target: Some(Target::Ratio(1.3)),
            },
            Line {
                row:
                    "wss: 1 MiB binary one way, receiving server's CPU, ms per GB (lower is better)"
                        .into(),
                wsock: median(&wcpu),
                reference: median(&tcpu),
                reference_name: "tungstenite over rustls",
                higher_is_better: false,
                target: Some(Target::Ratio(0.75)),
            },
            Line {
                row: "wss: 1 MiB binary one way, sending client's CPU, ms per GB (lower is better)"
                    .into(),
                wsock: median(&wsend),
                reference: median(&tsend),
                reference_name: "tungstenite over rustls",
                higher_is_better: false,
                target: Some(Target::Ratio(0.75)),
            },
        ])
    }

    fn env_pem(name: &str) -> Res<String> {
        std::env::var(name).map_err(|_| format!("{name} is not set").into())
    }

    /// The child's wsock `wss://` server.
    pub(super) fn wsock_server() -> Res<Server> {
        let (cert, key) = (env_pem(CERT_ENV)?, env_pem(KEY_ENV)?);
        Ok(Server::builder()
            .compression(None)
            .tls_pem(cert.as_bytes(), key.as_bytes())
            .bind("127.0.0.1:0")?)
    }

    /// The child's tungstenite server over `rustls::StreamOwned`, serving
    /// connections one after another: echo, or count like the sink.
    pub(super) fn serve_tungstenite(echo: bool) -> Res<()> {
        let (cert, key) = (env_pem(CERT_ENV)?, env_pem(KEY_ENV)?);
        let chain = CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<_, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes())?;
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(ring())
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(chain, key)?,
        );
        let listener = TcpListener::bind("127.0.0.1:0")?;
        announce(listener.local_addr()?.port())?;
        for tcp in listener.incoming() {
            let tcp = tcp?;
            tcp.set_nodelay(true)?;
            let tls = ServerConnection::new(Arc::clone(&config))?;
            if let Err(e) = super::serve_tungstenite(StreamOwned::new(tls, tcp), echo) {
                eprintln!("tungstenite-tls: {e}");
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// permessage-deflate beside Python websockets and Node ws (both processes)
// ---------------------------------------------------------------------------

/// The `deflate` rows: a fixed JSON sample, each library's client sending
/// it to its own sink (compression on and off), the zlib level 6 reference,
/// and the wsock sink.
mod deflate {
    use std::path::{Path, PathBuf};

    use flate2::{Compress, Compression, FlushCompress};

    use super::*;

    /// Where the peers are: a venv with websockets (`bin/python`), and a
    /// folder whose `node_modules` holds ws (`node` itself from PATH).
    const VENV_ENV: &str = "WSOCK_BENCH_VENV";
    const NODE_DIR_ENV: &str = "WSOCK_BENCH_NODE_DIR";
    const DEFAULT_VENV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/ci/venv");
    const DEFAULT_NODE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/ci/node");
    const PYTHON_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/bench/deflate_peer.py");
    const NODE_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/bench/deflate_peer.js");
    /// Distinct ~1 KiB messages in the sample, and the large message's size.
    const SAMPLE_MESSAGES: usize = 256;
    const LARGE: usize = 1 << 20;
    /// Time bound of one client run (the peer scripts use the same).
    const RUN_TIME: Duration = Duration::from_secs(120);
    /// Bytes a client adds to each frame: the mask.
    const MASK: usize = 4;

    /// The libraries, each with its own client and its own sink.
    #[derive(Clone, Copy, PartialEq)]
    enum Lib {
        Wsock,
        Python,
        Node,
    }

    impl Lib {
        fn name(self) -> &'static str {
            match self {
                Lib::Wsock => "wsock",
                Lib::Python => "Python websockets",
                Lib::Node => "Node ws",
            }
        }
    }

    /// One of the two sample kinds: the ~1 KiB messages, or the 1 MiB one.
    struct Case<'a> {
        what: &'static str,
        messages: Vec<&'a str>,
        file: &'a Path,
        /// The peer scripts' reading of the file: "lines" or "whole".
        mode: &'static str,
        count: usize,
    }

    impl Case<'_> {
        /// Payload bytes of one run (`count` messages cycling the sample).
        fn payload(&self) -> u64 {
            let k = self.messages.len();
            let cycle: usize = self.messages.iter().map(|m| m.len()).sum();
            let rest: usize = self.messages[..self.count % k]
                .iter()
                .map(|m| m.len())
                .sum();
            ((self.count / k) * cycle + rest) as u64
        }

        /// The messages of one run, in order.
        fn stream(&self) -> impl Iterator<Item = &str> + '_ {
            self.messages.iter().copied().cycle().take(self.count)
        }
    }

    /// A library with compression on or off: its sink, and per run the
    /// rate and the wire bytes per message.
    struct Variant {
        lib: Lib,
        on: bool,
        sink: Peer,
        rates: Vec<f64>,
        wire: Vec<f64>,
    }

    impl Variant {
        fn new(lib: Lib, on: bool, sink: Peer) -> Variant {
            Variant {
                lib,
                on,
                sink,
                rates: vec![],
                wire: vec![],
            }
        }
    }

    /// What one client run measured, with the sink's answer.
    struct Sent {
        secs: f64,
        /// CPU seconds of the client process over the run.
        cpu: f64,
        messages: u64,
        payload: u64,
        /// Bytes the sink read off the socket, the final "done" included.
        wire: u64,
    }

    impl Sent {
        /// From the sink's answer "<messages> <payload bytes> <wire bytes>".
        fn new(secs: f64, cpu: f64, answer: &str) -> Res<Sent> {
            let f: Vec<u64> = answer
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|_| format!("the sink answered {answer:?}"))?;
            match f[..] {
                [messages, payload, wire] => Ok(Sent {
                    secs,
                    cpu,
                    messages,
                    payload,
                    wire,
                }),
                _ => Err(format!("the sink answered {answer:?}").into()),
            }
        }

        /// The sink got every message, every byte, and compressed ones if
        /// compression is on (under 90% of the payload on the wire).
        fn check(&self, case: &Case, on: bool) -> Res<()> {
            let (n, payload) = (case.count as u64, case.payload());
            if (self.messages, self.payload) != (n, payload) {
                return Err(format!(
                    "the sink counted {} messages, {} bytes; sent {n}, {payload}",
                    self.messages, self.payload
                )
                .into());
            }
            if on && self.wire as f64 > 0.9 * payload as f64 {
                return Err(format!(
                    "compression on, but {} wire bytes for {payload}: not agreed?",
                    self.wire
                )
                .into());
            }
            Ok(())
        }
    }

    /// Python websockets or Node ws: the command line that runs its script.
    struct External {
        lib: Lib,
        argv: Vec<String>,
        env: Vec<(&'static str, String)>,
        version: String,
    }

    impl External {
        fn env(&self) -> Vec<(&str, &str)> {
            self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
        }

        fn command(&self, args: &[&str]) -> Vec<String> {
            let mut argv = self.argv.clone();
            argv.extend(args.iter().map(|a| a.to_string()));
            argv
        }

        /// The sink, compression on or off.
        fn sink(&self, on: bool, core: Option<usize>) -> Res<Peer> {
            Peer::start_program(&self.command(&["serve", on_off(on)]), core, &self.env())
        }

        /// One client run: the script prints "result <secs> <cpu secs>
        /// <the sink's answer>".
        fn send(&self, port: u16, on: bool, case: &Case, core: Option<usize>) -> Res<Sent> {
            let args = [
                "send",
                on_off(on),
                &port.to_string(),
                &case.file.to_string_lossy(),
                &case.count.to_string(),
                case.mode,
            ];
            let out = run_bounded(
                &self.command(&args),
                core,
                &self.env(),
                RUN_TIME + PEER_WAIT,
            )?;
            let line = out
                .lines()
                .find_map(|l| l.strip_prefix("result "))
                .ok_or_else(|| format!("{}: no result in {out:?}", self.lib.name()))?;
            let mut fields = line.splitn(3, ' ');
            let mut number =
                || -> Res<f64> { Ok(fields.next().ok_or("a short result")?.parse::<f64>()?) };
            let (secs, cpu) = (number()?, number()?);
            Sent::new(secs, cpu, fields.next().unwrap_or(""))
        }
    }

    fn on_off(on: bool) -> &'static str {
        if on {
            "on"
        } else {
            "off"
        }
    }

    /// Runs `argv` (under `taskset -c core` if given) to its end, for
    /// `limit` at most, and returns its stdout (its stderr passes through).
    fn run_bounded(
        argv: &[String],
        core: Option<usize>,
        env: &[(&str, &str)],
        limit: Duration,
    ) -> Res<String> {
        let mut child = spawn_pinned(argv, core, env)?;
        drop(child.stdin.take());
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} ran over {limit:?}", argv.join(" ")).into());
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let mut out = String::new();
        child
            .stdout
            .take()
            .ok_or("no stdout")?
            .read_to_string(&mut out)?;
        if !status.success() {
            return Err(format!("{} failed ({status}): {out:?}", argv.join(" ")).into());
        }
        Ok(out)
    }

    /// Python websockets, if the venv has it; else why its column is skipped.
    fn find_python() -> Result<External, String> {
        let venv = std::env::var(VENV_ENV).unwrap_or_else(|_| DEFAULT_VENV.into());
        let python = Path::new(&venv).join("bin/python");
        if !python.exists() {
            return Err(format!("no {} (set {VENV_ENV})", python.display()));
        }
        let python = python.to_string_lossy().into_owned();
        let probe = [
            python.clone(),
            "-c".into(),
            "import websockets; print(websockets.__version__)".into(),
        ];
        let version = run_bounded(&probe, None, &[], PEER_WAIT)
            .map_err(|e| format!("websockets not importable: {e}"))?;
        Ok(External {
            lib: Lib::Python,
            argv: vec![python, PYTHON_SCRIPT.into()],
            env: vec![],
            version: format!("Python websockets {}", version.trim()),
        })
    }

    /// Node ws, if `node` runs and the folder has ws; else why skipped.
    fn find_node() -> Result<External, String> {
        let dir = std::env::var(NODE_DIR_ENV).unwrap_or_else(|_| DEFAULT_NODE_DIR.into());
        let package = Path::new(&dir).join("node_modules/ws/package.json");
        let package = std::fs::read_to_string(&package)
            .map_err(|e| format!("no {} ({e}; set {NODE_DIR_ENV})", package.display()))?;
        let version = package
            .lines()
            .find_map(|l| l.trim().strip_prefix("\"version\": "))
            .map_or("?", |v| v.trim_matches(|c| c == '"' || c == ','))
            .to_owned();
        let node = run_bounded(&["node".into(), "--version".into()], None, &[], PEER_WAIT)
            .map_err(|e| format!("node does not run: {e}"))?;
        Ok(External {
            lib: Lib::Node,
            argv: vec!["node".into(), NODE_SCRIPT.into()],
            env: vec![(NODE_DIR_ENV, dir)],
            version: format!("Node ws {version} (node {})", node.trim()),
        })
    }

    /// One wsock client run, in this process: `case.count` text messages
    /// cycling the sample, then "done"; the clock stops at the sink's answer.
    fn send_wsock(port: u16, on: bool, case: &Case) -> Res<Sent> {
        let ws = MessageWebSocket::builder()
            .compression(on.then(Deflate::default))
            .connect(&url(port))?;
        if ws.info().compression.is_some() != on {
            return Err(format!("wsock: compression {:?}", ws.info().compression).into());
        }
        let (start, cpu) = (Instant::now(), cpu_seconds());
        let stop = start + RUN_TIME;
        for (i, message) in case.stream().enumerate() {
            if i % 16 == 0 && Instant::now() >= stop {
                return Err(
                    format!("wsock: {i} of {} messages in {RUN_TIME:?}", case.count).into(),
                );
            }
            ws.send_text(message)?;
        }
        ws.send_text("done")?;
        let answer = ws.recv_timeout(PEER_WAIT)?;
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        ws.close(1000, "")?;
        Sent::new(secs, cpu, answer.as_text().unwrap_or("<binary>"))
    }

    /// The `deflate` rows: for the ~1 KiB sample and for 1 MiB, every
    /// library's client into its own sink, compression on and off, runs
    /// interleaved; then msg/s and wire bytes per message side by side.
    pub(super) fn deflate_rows(plan: &Plan, notes: &mut Vec<String>) -> Res<Vec<Line>> {
        let sample = Sample::write()?;
        let mut externals = Vec::new();
        let mut skipped = Vec::new();
        for found in [find_python(), find_node()] {
            match found {
                Ok(peer) => externals.push(peer),
                Err(why) => skipped.push(why),
            }
        }
        for why in &skipped {
            eprintln!("  a column skipped: {why}");
        }
        let versions: Vec<&str> = externals.iter().map(|e| e.version.as_str()).collect();
        if !versions.is_empty() {
            eprintln!("  peers: {}", versions.join(", "));
        }
        let (client_core, sink_core) = (plan.pinned.then_some(0), plan.pinned.then_some(1));
        let mut variants = Vec::new();
        for on in [true, false] {
            let role = if on {
                "wsock-text-sink-deflate"
            } else {
                "wsock-text-sink"
            };
            variants.push(Variant::new(Lib::Wsock, on, Peer::start(role, sink_core)?));
            for e in &externals {
                variants.push(Variant::new(e.lib, on, e.sink(on, sink_core)?));
            }
        }
        let cases = [
            Case {
                what: "1 KiB JSON text",
                messages: sample.small.iter().map(String::as_str).collect(),
                file: &sample.small_file,
                mode: "lines",
                count: plan.deflate_messages[0],
            },
            Case {
                what: "1 MiB JSON-lines text",
                messages: vec![&sample.large],
                file: &sample.large_file,
                mode: "whole",
                count: plan.deflate_messages[1],
            },
        ];
        let mut lines = Vec::new();
        for case in &cases {
            for v in &mut variants {
                (v.rates, v.wire) = (vec![], vec![]);
            }
            for run in 0..plan.runs {
                let mut progress = Vec::new();
                for v in &mut variants {
                    let sink_cpu = cpu_seconds_of(v.sink.child.id());
                    let sent = match externals.iter().find(|e| e.lib == v.lib) {
                        None => send_wsock(v.sink.port, v.on, case)?,
                        Some(e) => e.send(v.sink.port, v.on, case, client_core)?,
                    };
                    let sink_cpu = cpu_seconds_of(v.sink.child.id()) - sink_cpu;
                    sent.check(case, v.on)?;
                    let n = case.count as f64;
                    v.rates.push(n / sent.secs);
                    v.wire.push(sent.wire as f64 / n);
                    progress.push(format!(
                        "{} {}: {} msg/s, {} B/msg, cpu µs/msg client {} sink {}",
                        v.lib.name(),
                        on_off(v.on),
                        figure(n / sent.secs),
                        figure(sent.wire as f64 / n),
                        figure(sent.cpu * 1e6 / n),
                        figure(sink_cpu * 1e6 / n),
                    ));
                }
                eprintln!("  {}, run {}: {}", case.what, run + 1, progress.join("; "));
            }
            let zlib = zlib6_wire_per_message(case)?;
            eprintln!(
                "  {}: zlib level 6 (flate2) would put {} B/msg on the wire",
                case.what,
                figure(zlib)
            );
            lines.extend(case_lines(case, &variants, zlib));
        }
        notes.push(report_note(&sample, plan, &versions, &skipped));
        Ok(lines)
    }

    /// The report's note on the `deflate` rows: the sample, the settings,
    /// how the wire bytes were counted, the peers' versions.
    fn report_note(sample: &Sample, plan: &Plan, versions: &[&str], skipped: &[String]) -> String {
        let lengths = || sample.small.iter().map(String::len);
        format!(
            "deflate: {} distinct compact JSON messages of {}-{} B ({} B on average; ticker \
             and chat objects made by a fixed generator) sent in order, {} per run, cycling; \
             the 1 MiB message is {} lines of the same kind, {} per run. Each library's client \
             sends to its own sink, one way, then \"done\"; the clock stops at the sink's \
             answer. Compression on: wsock's defaults (level 6, 15-bit windows, context \
             takeover, threshold 128 B); Python websockets' defaults (level 6, memLevel 5, \
             every message compressed); Node ws with perMessageDeflate {{ threshold: 128 }} \
             (ws's default threshold, 1,024 B, would leave the smaller half of the sample \
             uncompressed), zlib's defaults otherwise. Wire bytes per message: what each \
             sink read after the handshake, the \"done\" frame included, over the count. The \
             zlib level 6 reference: flate2 (zlib-rs) raw deflate, 15-bit window, context \
             takeover, a sync flush per message without its 4-byte trailer, plus a client's \
             frame header and mask. Peers: {}.",
            SAMPLE_MESSAGES,
            lengths().min().unwrap_or(0),
            lengths().max().unwrap_or(0),
            lengths().sum::<usize>() / SAMPLE_MESSAGES,
            figure(plan.deflate_messages[0] as f64),
            sample.large.lines().count(),
            plan.deflate_messages[1],
            if skipped.is_empty() {
                versions.join(", ")
            } else {
                format!("{}; skipped: {}", versions.join(", "), skipped.join("; "))
            }
        )
    }

    /// The table lines of one case: msg/s with compression on and off,
    /// wsock beside Node ws and Python websockets; wire bytes per message
    /// with compression on, beside zlib level 6 and the two.
    fn case_lines(case: &Case, variants: &[Variant], zlib: f64) -> Vec<Line> {
        let figure_of = |lib: Lib, on: bool, wire: bool| {
            variants
                .iter()
                .find(|v| v.lib == lib && v.on == on)
                .map_or(f64::NAN, |v| median(if wire { &v.wire } else { &v.rates }))
        };
        let reference_name = |lib: Lib| match (lib, variants.iter().any(|v| v.lib == lib)) {
            (Lib::Node, true) => "Node ws",
            (Lib::Node, false) => "Node ws: skipped, not found",
            (_, true) => "Python websockets",
            (_, false) => "Python websockets: skipped, not found",
        };
        let mut lines = Vec::new();
        for on in [true, false] {
            for lib in [Lib::Node, Lib::Python] {
                lines.push(Line {
                    row: format!(
                        "deflate: {} one way, compression {}, msg/s (higher is better)",
                        case.what,
                        on_off(on)
                    ),
                    wsock: figure_of(Lib::Wsock, on, false),
                    reference: figure_of(lib, on, false),
                    reference_name: reference_name(lib),
                    higher_is_better: true,
                    target: (on && lib == Lib::Node).then_some(Target::Ratio(1.0)),
                });
            }
        }
        let wire_row = format!(
            "deflate: {} one way, compression on, wire bytes/msg (lower is better)",
            case.what
        );
        let wsock_wire = figure_of(Lib::Wsock, true, true);
        lines.push(Line {
            row: wire_row.clone(),
            wsock: wsock_wire,
            reference: zlib,
            reference_name: "zlib level 6 (flate2), same framing",
            higher_is_better: false,
            target: Some(Target::Ratio(1.05)),
        });
        for lib in [Lib::Node, Lib::Python] {
            lines.push(Line {
                row: wire_row.clone(),
                wsock: wsock_wire,
                reference: figure_of(lib, true, true),
                reference_name: reference_name(lib),
                higher_is_better: false,
                target: None,
            });
        }
        lines
    }

    /// Wire bytes per message of `case`'s run compressed as zlib level 6
    /// would: raw deflate, a 15-bit window, context takeover, a sync flush
    /// per message without its trailing `00 00 ff ff`, plus a client's
    /// frame header (2, 4 or 10 bytes by payload length) and mask.
    fn zlib6_wire_per_message(case: &Case) -> Res<f64> {
        let mut zlib = Compress::new_with_window_bits(Compression::new(6), false, 15);
        let mut out = Vec::new();
        let mut total = 0usize;
        for message in case.stream() {
            out.clear();
            let mut input = message.as_bytes();
            // Each pass takes some input or adds output; a message needs
            // a few at most.
            for pass in 0.. {
                if pass == 64 {
                    return Err("zlib reference: compression does not end".into());
                }
                out.reserve(input.len() + 1024);
                let before = zlib.total_in();
                zlib.compress_vec(input, &mut out, FlushCompress::Sync)?;
                input = &input[(zlib.total_in() - before) as usize..];
                if input.is_empty() && out.len() < out.capacity() {
                    break;
                }
            }
            let payload = out
                .strip_suffix(&[0x00, 0x00, 0xff, 0xff])
                .ok_or("zlib reference: a sync flush without its trailer")?
                .len();
            let header = match payload {
                0..=125 => 2,
                126..=0xffff => 4,
                _ => 10,
            };
            total += header + MASK + payload;
        }
        Ok(total as f64 / case.count as f64)
    }

    // --- The sample -------------------------------------------------------

    /// The sample every library sends, in this process and in two files
    /// (in a fresh temporary folder, removed on drop) for the peer scripts:
    /// [`SAMPLE_MESSAGES`] compact JSON messages of about 1 KiB, one per
    /// line, and a 1 MiB text of JSON lines (exactly [`LARGE`] bytes).
    struct Sample {
        dir: PathBuf,
        small: Vec<String>,
        small_file: PathBuf,
        large: String,
        large_file: PathBuf,
    }

    impl Sample {
        fn write() -> Res<Sample> {
            let dir =
                std::env::temp_dir().join(format!("wsock-bench-deflate-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let mut gen = Generator::new(0x0005_eed0_fdef_1a7e);
            let small: Vec<String> = (0..SAMPLE_MESSAGES).map(|_| gen.message()).collect();
            let mut large = String::with_capacity(LARGE);
            loop {
                let m = gen.message();
                // Room left for a last line of at least 64 bytes.
                if large.len() + m.len() + 1 + 64 > LARGE {
                    break;
                }
                large.push_str(&m);
                large.push('\n');
            }
            large.push_str(&gen.padding(LARGE - large.len() - 1));
            large.push('\n');
            assert_eq!(large.len(), LARGE);
            assert!(small.iter().all(|m| m.is_ascii() && !m.contains('\n')));
            let (small_file, large_file) = (dir.join("messages.jsonl"), dir.join("one-mib.jsonl"));
            std::fs::write(&small_file, small.join("\n") + "\n")?;
            std::fs::write(&large_file, &large)?;
            Ok(Sample {
                dir,
                small,
                small_file,
                large,
                large_file,
            })
        }
    }

    impl Drop for Sample {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    const FIRST_NAMES: &[&str] = &[
        "Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Greta", "Hiro", "Ines", "Jonas",
        "Kavya", "Liam", "Mira", "Nikolai", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tariq",
        "Uma", "Viktor", "Wen", "Yara",
    ];
    const LAST_NAMES: &[&str] = &[
        "Andersen",
        "Barros",
        "Castillo",
        "Dubois",
        "Eriksson",
        "Fujita",
        "Garcia",
        "Haddad",
        "Ivanova",
        "Jensen",
        "Kowalski",
        "Lindqvist",
        "Moreau",
        "Nakamura",
        "Okafor",
        "Petrov",
        "Rossi",
        "Schmidt",
        "Tanaka",
        "Weber",
    ];
    const ROOMS: &[&str] = &[
        "general",
        "support-eu",
        "support-us",
        "release-train",
        "random",
        "ops-alerts",
        "design-review",
        "sales-apac",
    ];
    const SYMBOLS: &[(&str, f64)] = &[
        ("BTC-USD", 67_250.0),
        ("ETH-USD", 3_480.0),
        ("SOL-USD", 152.4),
        ("AAPL", 189.3),
        ("MSFT", 421.9),
        ("NVDA", 903.5),
        ("EUR-USD", 1.0842),
        ("XAU-USD", 2_331.2),
    ];
    const VENUES: &[&str] = &["XNAS", "XNYS", "BATS", "ARCX", "CBSX", "IEXG"];
    const WORDS: &[&str] = &[
        "the",
        "a",
        "to",
        "and",
        "of",
        "is",
        "it",
        "for",
        "on",
        "we",
        "you",
        "that",
        "this",
        "with",
        "be",
        "can",
        "have",
        "not",
        "are",
        "just",
        "will",
        "so",
        "if",
        "but",
        "at",
        "deploy",
        "build",
        "release",
        "staging",
        "production",
        "rollback",
        "ticket",
        "customer",
        "invoice",
        "latency",
        "dashboard",
        "alert",
        "metrics",
        "server",
        "client",
        "database",
        "migration",
        "schema",
        "branch",
        "review",
        "merge",
        "tests",
        "flaky",
        "timeout",
        "retry",
        "cache",
        "config",
        "meeting",
        "tomorrow",
        "today",
        "morning",
        "afternoon",
        "thanks",
        "please",
        "sure",
        "sounds",
        "good",
        "looks",
        "fine",
        "broken",
        "fixed",
        "again",
        "still",
        "after",
        "before",
        "update",
        "issue",
        "question",
        "answer",
        "docs",
        "page",
        "link",
        "screenshot",
        "logs",
        "error",
        "warning",
        "memory",
        "disk",
        "cpu",
        "network",
        "region",
        "cluster",
        "node",
        "pod",
        "queue",
        "worker",
        "job",
        "batch",
        "report",
        "numbers",
        "week",
        "month",
        "quarter",
        "budget",
        "plan",
        "team",
        "on-call",
        "handover",
        "incident",
        "postmortem",
        "owner",
        "priority",
        "blocked",
        "waiting",
        "approved",
        "shipped",
        "soon",
        "maybe",
        "definitely",
        "probably",
        "let",
        "me",
        "check",
        "know",
        "think",
        "see",
        "need",
        "want",
        "try",
        "run",
        "look",
        "ask",
        "send",
        "call",
    ];
    const EMOJI: &[&str] = &[
        "thumbsup",
        "tada",
        "eyes",
        "heart",
        "rocket",
        "white_check_mark",
    ];

    /// A deterministic generator of ticker and chat messages (splitmix64),
    /// with a clock and prices that move like a feed's.
    struct Generator {
        state: u64,
        seq: u64,
        /// Milliseconds since 2026-05-09T00:00:00Z.
        clock: u64,
        prices: Vec<f64>,
    }

    impl Generator {
        fn new(seed: u64) -> Generator {
            Generator {
                state: seed,
                seq: 48_112_000,
                clock: 7 * 3_600_000 + 35 * 60_000,
                prices: SYMBOLS.iter().map(|s| s.1).collect(),
            }
        }

        fn next(&mut self) -> u64 {
            self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len() as u64) as usize]
        }

        /// The clock moved on by up to `max_ms`, as epoch milliseconds.
        fn tick(&mut self, max_ms: u64) -> u64 {
            self.clock += 1 + self.below(max_ms);
            1_778_284_800_000 + self.clock
        }

        fn iso_time(&mut self) -> String {
            self.tick(400);
            let ms = self.clock % 86_400_000;
            format!(
                "2026-05-09T{:02}:{:02}:{:02}.{:03}Z",
                ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000
            )
        }

        /// A message of about 1 KiB (896 to about 1,200 bytes): a ticker
        /// update with recent trades, or a chat message.
        fn message(&mut self) -> String {
            self.seq += 1 + self.below(3);
            let target = 896 + self.below(256) as usize;
            if self.below(5) < 2 {
                self.ticker(target)
            } else {
                self.chat(target)
            }
        }

        fn ticker(&mut self, target: usize) -> String {
            let i = self.below(SYMBOLS.len() as u64) as usize;
            let (symbol, base) = SYMBOLS[i];
            let decimals = if base < 10.0 { 4 } else { 2 };
            let step = base * 0.0004;
            let drift = (self.below(2001) as f64 - 1000.0) / 1000.0;
            self.prices[i] = (self.prices[i] + drift * step * 5.0).max(base * 0.5);
            let last = self.prices[i];
            let spread = step * (1 + self.below(3)) as f64;
            let (seq, ts, venue) = (self.seq, self.tick(50), self.pick(VENUES));
            let volume = 1_000_000 + self.below(90_000_000);
            let mut m = format!(
                "{{\"type\":\"ticker\",\"seq\":{seq},\"ts\":{ts},\"symbol\":\"{symbol}\",\
                 \"venue\":\"{venue}\",\"last\":{last:.decimals$},\"bid\":{:.decimals$},\
                 \"ask\":{:.decimals$},\"high\":{:.decimals$},\"low\":{:.decimals$},\
                 \"volume\":{volume},\"change_pct\":{:.2},\"trades\":[",
                last - spread / 2.0,
                last + spread / 2.0,
                base.max(last) * 1.012,
                base.min(last) * 0.987,
                (last / base - 1.0) * 100.0,
            );
            for k in 0..64 {
                if k > 0 && m.len() + 2 >= target {
                    break;
                }
                if k > 0 {
                    m.push(',');
                }
                let price = last + (self.below(21) as f64 - 10.0) * step;
                let side = if self.below(2) == 0 { "buy" } else { "sell" };
                let id = 9_200_000_000 + self.seq * 16 + k;
                let (qty, ts) = ((1 + self.below(400)) * 25, self.tick(20));
                m += &format!(
                    "{{\"id\":{id},\"price\":{price:.decimals$},\"qty\":{qty},\
                     \"side\":\"{side}\",\"ts\":{ts}}}",
                );
            }
            m.push_str("]}");
            m
        }

        fn chat(&mut self, target: usize) -> String {
            let (first, last) = (self.pick(FIRST_NAMES), self.pick(LAST_NAMES));
            let user = 1000 + self.below(9000);
            let handle = format!("{}.{}", first.to_lowercase(), &last[..3].to_lowercase());
            let mentions = format!("\"{}\"", self.pick(FIRST_NAMES).to_lowercase());
            let emoji = self.pick(EMOJI);
            let (seq, room, ts) = (self.seq, self.pick(ROOMS), self.iso_time());
            let roles = if user % 7 == 0 { ",\"moderator\"" } else { "" };
            let status = if self.below(4) == 0 { "away" } else { "online" };
            let reply_to = seq - 1 - self.below(40);
            let (count, edited) = (1 + self.below(9), self.below(6) == 0);
            let mut m = format!(
                "{{\"type\":\"chat\",\"id\":\"m-{seq:08}\",\"room\":\"{room}\",\"ts\":\"{ts}\",\
                 \"user\":{{\"id\":{user},\"name\":\"{first} {last}\",\"handle\":\"{handle}\",\
                 \"avatar\":\"https://cdn.example.com/avatars/{user}/64.png\",\
                 \"roles\":[\"member\"{roles}],\"status\":\"{status}\"}},\
                 \"reply_to\":\"m-{reply_to:08}\",\"mentions\":[{mentions}],\
                 \"reactions\":[{{\"emoji\":\"{emoji}\",\"count\":{count}}}],\
                 \"edited\":{edited},\"text\":\"",
            );
            let end = "\"}";
            for k in 0..400 {
                let word = self.pick(WORDS);
                if m.len() + word.len() + 2 + end.len() > target {
                    break;
                }
                if k > 0 {
                    m.push(if self.below(9) == 0 { ',' } else { ' ' });
                    if m.ends_with(',') {
                        m.push(' ');
                    }
                }
                m.push_str(word);
            }
            m.push_str(end);
            m
        }

        /// A last line of exactly `len` bytes (64 at least): a note whose
        /// text is words, padded with dots.
        fn padding(&mut self, len: usize) -> String {
            let mut m = String::from("{\"type\":\"note\",\"text\":\"");
            let end = "\"}";
            for _ in 0..len {
                let word = self.pick(WORDS);
                if m.len() + word.len() + 1 + end.len() > len {
                    break;
                }
                m.push_str(word);
                m.push(' ');
            }
            while m.len() + end.len() < len {
                m.push('.');
            }
            m.push_str(end);
            m
        }
    }

    // --- The wsock sink (the child, `bench --serve wsock-text-sink[-deflate]`)

    /// Serves connections one after another with compression as given:
    /// counts text messages until a "done" text, then answers
    /// "<messages> <payload bytes> <wire bytes>", the wire bytes being
    /// `info().bytes_received` since the handshake or the last answer.
    pub(super) fn serve_wsock_text_sink(deflate: Option<Deflate>) -> Res<()> {
        let server = Server::builder().compression(deflate).bind("127.0.0.1:0")?;
        announce(server.local_addr()?.port())?;
        for request in server.incoming() {
            if let Err(e) = accept(request?).and_then(|ws| count_text(&ws)) {
                eprintln!("wsock-text-sink: {e}");
            }
        }
        Ok(())
    }

    fn count_text(ws: &MessageWebSocket) -> Res<()> {
        let (mut messages, mut bytes, mut base) = (0u64, 0u64, 0u64);
        for m in ws.messages() {
            match m? {
                Message::Text(t) if t.as_str() == "done" => {
                    let wire = ws.info().bytes_received;
                    ws.send_text(format!("{messages} {bytes} {}", wire - base))?;
                    (messages, bytes, base) = (0, 0, wire);
                }
                Message::Text(t) => (messages, bytes) = (messages + 1, bytes + t.len() as u64),
                Message::Binary(_) => return Err("a binary message".into()),
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Stats, machine, output
// ---------------------------------------------------------------------------

/// The median of some figures (the mean of the middle two for an even count).
/// CPU seconds spent on `bytes`, as milliseconds per GB (10^9 bytes).
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
fn ms_per_gb(cpu_seconds: f64, bytes: u64) -> f64 {
    cpu_seconds * 1e3 / (bytes.max(1) as f64 / 1e9)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The `p`-th percentile (nearest rank) of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The p50 and p99 of each echo run, in µs, and how many trips took over 1 ms.
#[derive(Default)]
struct Runs {
    p50: Vec<f64>,
    p99: Vec<f64>,
    over_1ms: Vec<usize>,
}

impl Runs {
    /// Adds one run's round-trip times; returns how many there were.
    fn add(&mut self, mut times: Vec<f64>) -> usize {
        times.sort_by(f64::total_cmp);
        self.p50.push(percentile(&times, 50.0));
        self.p99.push(percentile(&times, 99.0));
        self.over_1ms
            .push(times.iter().filter(|&&t| t > 1000.0).count());
        times.len()
    }
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// CPU time (user + system) this process has used so far, in seconds, from
/// /proc/self/stat (10 ms resolution); 0 where that is not available.
fn cpu_seconds() -> f64 {
    cpu_seconds_in("/proc/self/stat")
}

/// The same for another process (all its threads).
fn cpu_seconds_of(pid: u32) -> f64 {
    cpu_seconds_in(&format!("/proc/{pid}/stat"))
}

fn cpu_seconds_in(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0, // USER_HZ is 100 on Linux
        _ => 0.0,
    }
}

/// The share of all cores (0 to 1) busy during [`LOAD_SAMPLE`], from
/// /proc/stat; called while the bench itself is idle, so it is other load.
fn other_load() -> f64 {
    fn busy_and_total() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let v: Vec<u64> = line
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let idle = v.get(3)? + v.get(4)?;
        let total: u64 = v.iter().take(8).sum();
        Some((total - idle, total))
    }
    let Some((b0, t0)) = busy_and_total() else {
        return f64::NAN;
    };
    std::thread::sleep(LOAD_SAMPLE);
    match busy_and_total() {
        Some((b1, t1)) if t1 > t0 => (b1 - b0) as f64 / (t1 - t0) as f64,
        _ => f64::NAN,
    }
}

fn core_count() -> usize {
    let listed = std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    if listed > 0 {
        listed
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Pins this process's main thread to core 0 with `taskset -cp 0 <pid>`.
fn pin_self_to_core0() -> bool {
    let pid = std::process::id().to_string();
    Command::new("taskset")
        .args(["-cp", "0", &pid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// tungstenite's version from the Cargo.lock next to this crate.
fn tungstenite_version() -> String {
    let lock = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock");
    std::fs::read_to_string(lock)
        .ok()
        .and_then(|s| {
            let at = s.find("name = \"tungstenite\"")?;
            let rest = &s[at..];
            let v = rest.lines().nth(1)?.strip_prefix("version = ")?;
            Some(v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "0.30 (from Cargo.toml)".into())
}

fn figure(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else if v >= 1000.0 {
        // Thousands separators keep msg/s readable.
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v == 0.0 {
        "0".into()
    } else if v < 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// The report's "Machine:" line (also the `--svg` chart's subtitle).
fn machine_line(plan: &Plan) -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    format!(
        "Machine: {} cores, {}, Linux {kernel}; {}.",
        core_count(),
        cpu_model(),
        if plan.pinned {
            "client pinned to core 0, server to core 1 (1-core rows: both on core 0) with taskset"
        } else {
            "unpinned (no taskset, or fewer than 2 cores)"
        }
    )
}

/// `git describe --always --dirty` of this checkout, if git can say.
fn checkout() -> Option<String> {
    command_output(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ],
    )
}

fn print_report(
    table: &[Line],
    notes: &[String],
    plan: &Plan,
    loads: &[(&str, f64)],
    quick: bool,
    took: Duration,
) {
    println!("| row | wsock | reference | ratio wsock/reference |");
    println!("|---|---:|---:|---|");
    for l in table {
        let ratio = l.wsock / l.reference;
        let met = |ok: bool| if ok { "met" } else { "MISSED" };
        let (at_least, sign) = match l.higher_is_better {
            true => (true, "≥"),
            false => (false, "≤"),
        };
        let verdict = match l.target {
            Some(Target::Ratio(t)) if ratio.is_nan() => {
                format!(" (target {sign} {t:.2}: not measured)")
            }
            Some(Target::Ratio(t)) => format!(
                " (target {sign} {t:.2}: {})",
                met(if at_least { ratio >= t } else { ratio <= t })
            ),
            Some(Target::Figure(t)) => format!(
                " (target: wsock {sign} {}: {})",
                figure(t),
                met(if at_least { l.wsock >= t } else { l.wsock <= t })
            ),
            Some(Target::Exactly(t)) => {
                format!(" (expected {}: {})", figure(t), met(l.wsock == t))
            }
            None => String::new(),
        };
        let (reference, ratio) = if l.reference.is_nan() {
            (format!("— ({})", l.reference_name), "—".to_owned())
        } else {
            (
                format!("{} ({})", figure(l.reference), l.reference_name),
                format!("{ratio:.2}"),
            )
        };
        println!(
            "| {} | {} | {reference} | {ratio}{verdict} |",
            l.row,
            figure(l.wsock),
        );
    }
    println!();
    println!(
        "Ratios are wsock / reference: above 1 is better for msg/s and MB/s rows, \
         below 1 is better for µs, s, MiB, KiB, thread and wire bytes rows."
    );
    println!();
    for note in notes {
        println!("{note}");
        println!();
    }
    println!("{}", machine_line(plan));
    let loads_text: Vec<String> = loads
        .iter()
        .map(|(row, busy)| format!("{row} {:.0}%", busy * 100.0))
        .collect();
    println!(
        "Other load (share of all cores busy in the {:?} before each row, while the bench \
         was idle): {}.{}",
        LOAD_SAMPLE,
        loads_text.join(", "),
        if loads.iter().any(|(_, b)| *b > 0.1) {
            " WARNING: other processes were running; these figures are unreliable."
        } else {
            ""
        }
    );
    let git = checkout();
    println!(
        "Versions: wsock {}{}, tungstenite {}, {}.",
        env!("CARGO_PKG_VERSION"),
        git.map(|g| format!(" (checkout {g})")).unwrap_or_default(),
        tungstenite_version(),
        command_output("rustc", &["--version"]).unwrap_or_else(|| "rustc unknown".into())
    );
    let idle_counts: Vec<String> = plan.idle_counts.iter().map(|&n| figure(n as f64)).collect();
    println!(
        "Counts: median of {} runs per figure{}; echo: {} warm-up + up to {} round trips \
         (≤ {:?}) per run; one way: sending for {:?} per run, at most {} 64 B messages \
         or {} of large ones (push64: the same bounds, {PUSH_BATCH} per batch); stream: {} \
         per run; broadcast: {} rounds of 64 B and {} of 4 KiB per run to up to \
         {BROADCAST_CLIENTS} clients in {BROADCAST_CHILDREN} child processes; deflate: {} \
         messages of the 1 KiB sample and {} of 1 MiB per run; idle: {} connections, {} \
         runs, {LOAD_THREADS} client threads; total {:.0} s.",
        plan.runs,
        if quick { " (--quick)" } else { "" },
        plan.echo_warmup,
        plan.echo_trips,
        plan.echo_time,
        plan.run_time,
        plan.small_max,
        size_name(LARGE_RUN_BYTES),
        size_name(plan.stream_bytes),
        plan.broadcast_rounds[0],
        plan.broadcast_rounds[1],
        plan.deflate_messages[0],
        plan.deflate_messages[1],
        idle_counts.join(", "),
        plan.runs.min(IDLE_RUNS),
        took.as_secs_f64()
    );
    println!(
        "Command: cargo run --release --example bench{}",
        if quick { " -- --quick" } else { "" }
    );
}

// ---------------------------------------------------------------------------
// Chart (`--svg PATH`)
// ---------------------------------------------------------------------------

/// Writes the table's ratios as an SVG chart for the README, as plain text
/// (a plotting crate would be a large build for one small chart). One bar
/// per line that has a reference (lines without one, NaN, are left out),
/// drawn from the line at 1 to wsock / reference on a log-2 scale, so twice
/// and half are as far from 1; green where wsock is better given
/// `higher_is_better`, red where worse; the ratio at the bar's end, the
/// row's name and reference at the left. The title gives the date, the
/// checkout and the run kind, and the report's machine line. 800 px wide;
/// a row is 32 px high, 13 px more for each line a long name wraps to.
fn write_svg(path: &str, table: &[Line], plan: &Plan, quick: bool) -> Res<()> {
    const WIDTH: f64 = 800.0;
    const PLOT: (f64, f64) = (420.0, 785.0); // x range of the bars' area
    const PAD: f64 = 34.0; // room for a ratio past either end of the scale
    const NAME_CHARS: usize = 64; // per line of a row name, about 6.2 px each
    const TOP: f64 = 84.0;
    const COLOURS: [&str; 3] = ["#2e7d32", "#c62828", "#888"]; // better, worse, even
    let rows: Vec<(&Line, f64)> = table
        .iter()
        .map(|l| (l, l.wsock / l.reference))
        .filter(|(_, r)| r.is_finite() && *r > 0.0)
        .collect();
    // The scale: powers of 2 around every ratio, 1/2 to 2 at least and 1/4
    // to 4 at most (so that ±10% still shows); bars past it are cut.
    let logs = || rows.iter().map(|(_, r)| r.log2());
    let lo = logs().fold(-1.0, f64::min).floor().max(-2.0);
    let hi = logs().fold(1.0, f64::max).ceil().min(2.0);
    let span = PLOT.1 - PLOT.0 - 2.0 * PAD;
    let x = |ratio: f64| PLOT.0 + PAD + (ratio.log2().clamp(lo, hi) - lo) / (hi - lo) * span;
    let (mut stripes, mut bars, mut y) = (String::new(), String::new(), TOP);
    for (i, &(l, ratio)) in rows.iter().enumerate() {
        let name = l.row.replace(" (higher is better)", "");
        let mut texts = wrap(&name.replace(" (lower is better)", ""), NAME_CHARS);
        let better = ["lower", "higher"][usize::from(l.higher_is_better)];
        texts.push(format!("vs {}; {better} is better", l.reference_name));
        let height = 13.0 * texts.len() as f64 + 6.0;
        stripes += &svg_rect(0.0, y, WIDTH, height, ["#f1f3f5", "#fff"][i % 2]);
        for (k, text) in texts.iter().enumerate() {
            let class = if k + 1 == texts.len() { "ref" } else { "" };
            let ty = y + 14.0 + 13.0 * k as f64;
            bars += &svg_text(PLOT.0 - 10.0, ty, "end", class, text);
        }
        let good = (ratio > 1.0) == l.higher_is_better;
        let even = (ratio - 1.0).abs() < 0.005; // printed as 1.00
        let fill = COLOURS[if even { 2 } else { usize::from(!good) }];
        let (x0, x1) = (x(1.0).min(x(ratio)), x(1.0).max(x(ratio)));
        let mid = y + height / 2.0;
        bars += &svg_rect(x0, mid - 7.0, (x1 - x0).max(1.5), 14.0, fill);
        if ratio.log2() < lo || ratio.log2() > hi {
            let cut = if ratio < 1.0 { x0 + 6.0 } else { x1 - 9.0 };
            bars += &svg_rect(cut, mid - 7.0, 3.0, 14.0, "#fff");
        }
        let (tx, anchor) = [(x0 - 4.0, "end"), (x1 + 4.0, "start")][usize::from(ratio >= 1.0)];
        bars += &svg_text(tx, mid + 4.0, anchor, "", &format!("{ratio:.2}"));
        y += height;
    }
    let mut grid = String::new();
    for k in lo as i32..=hi as i32 {
        let gx = x(2f64.powi(k));
        let (stroke, width) = if k == 0 { ("#222", 1.5) } else { ("#ccc", 1.0) };
        grid += &format!(
            "<line x1=\"{gx:.1}\" y1=\"{}\" x2=\"{gx:.1}\" y2=\"{y}\" stroke=\"{stroke}\" \
             stroke-width=\"{width}\"/>\n",
            TOP - 4.0
        );
        grid += &svg_text(gx, y + 14.0, "middle", "ref", &2f64.powi(k).to_string());
    }
    let date = command_output("date", &["+%Y-%m-%d"]).unwrap_or_default();
    let checkout = checkout().map_or(String::new(), |g| format!(", checkout {g}"));
    let kind = if quick { "--quick" } else { "full" };
    let title = format!("wsock / reference, per row: {date}{checkout}, a {kind} run");
    let mut head = svg_text(10.0, 20.0, "start", "title", &title);
    for (k, text) in wrap(&machine_line(plan), 130).iter().enumerate() {
        head += &svg_text(10.0, 36.0 + 13.0 * k as f64, "start", "small", text);
    }
    let ly = TOP - 16.0;
    let legend = "log scale; each bar runs from 1 to wsock / reference (cut: off the scale)";
    head += &svg_text(PLOT.0 - 10.0, ly, "end", "small", legend);
    for (k, what) in ["wsock better", "wsock worse"].iter().enumerate() {
        let lx = PLOT.0 + 100.0 * k as f64;
        head += &svg_rect(lx, ly - 9.0, 10.0, 10.0, COLOURS[k]);
        head += &svg_text(lx + 14.0, ly, "start", "small", what);
    }
    let height = y + 24.0;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\">\n<style>text {{ font-family: sans-serif; \
         font-size: 12px; fill: #222 }} .ref, .small {{ font-size: 10.5px; fill: #555 }} \
         .title {{ font-size: 14px; font-weight: bold }}</style>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n{head}{stripes}{grid}{bars}</svg>\n"
    );
    std::fs::write(path, svg).map_err(|e| format!("--svg {path}: {e}").into())
}

/// An SVG `<text>` line, with `&`, `<` and `>` in `content` escaped.
fn svg_text(x: f64, y: f64, anchor: &str, class: &str, content: &str) -> String {
    let content = content
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" class=\"{class}\">{content}</text>\n"
    )
}

/// An SVG `<rect>`.
fn svg_rect(x: f64, y: f64, width: f64, height: f64, fill: &str) -> String {
    format!(
        "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{height:.1}\" \
         fill=\"{fill}\"/>\n"
    )
}

/// `text` in lines of at most `width` characters (but for longer words),
/// broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                *line = format!("{line} {word}")
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}
