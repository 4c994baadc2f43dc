//! The fault proxy's modes, each against a real echo server on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loyalty_chaos::proxy::{FaultProxy, Mode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a test waits for bytes that must not arrive.
const SILENCE_MS: u64 = 300;
/// How long a test waits for bytes that must arrive.
const ARRIVAL_MS: u64 = 2_000;

/// An echo server that counts the bytes it received.
async fn echo() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    count.fetch_add(n, Ordering::SeqCst);
                }
            });
        }
    });
    (addr, received)
}

/// Sends `ping` and waits up to `wait_ms` for its echo; `None` if nothing came back.
async fn round_trip(stream: &mut TcpStream, wait_ms: u64) -> Option<Vec<u8>> {
    stream.write_all(b"ping").await.ok()?;
    let mut buf = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_millis(wait_ms), stream.read_exact(&mut buf));
    match read.await {
        Ok(Ok(_)) => Some(buf.to_vec()),
        _ => None,
    }
}

async fn setup() -> (FaultProxy, Arc<AtomicUsize>) {
    let (upstream, received) = echo().await;
    let proxy = FaultProxy::start("test", upstream).await.unwrap();
    (proxy, received)
}

#[tokio::test]
async fn pass_forwards_both_ways_and_delay_holds_each_chunk_back() {
    let (proxy, _) = setup().await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(
        round_trip(&mut stream, ARRIVAL_MS).await.as_deref(),
        Some(&b"ping"[..])
    );
    proxy.set_mode(Mode::Delay { ms: 200 });
    let start = Instant::now();
    assert!(round_trip(&mut stream, ARRIVAL_MS).await.is_some());
    // Delayed once on the way up and once on the way down.
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn drop_resets_new_connections_but_lets_open_ones_work() {
    let (proxy, _) = setup().await;
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(round_trip(&mut open, ARRIVAL_MS).await.is_some());
    proxy.set_mode(Mode::Drop);
    let mut fresh = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(round_trip(&mut fresh, SILENCE_MS).await.is_none());
    assert!(round_trip(&mut open, ARRIVAL_MS).await.is_some());
}

#[tokio::test]
async fn black_hole_keeps_connections_open_and_silent_until_healed() {
    let (proxy, received) = setup().await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(round_trip(&mut stream, ARRIVAL_MS).await.is_some());
    proxy.set_mode(Mode::BlackHole);
    let before = received.load(Ordering::SeqCst);
    assert!(round_trip(&mut stream, SILENCE_MS).await.is_none());
    assert_eq!(
        received.load(Ordering::SeqCst),
        before,
        "nothing reached the upstream"
    );
    proxy.set_mode(Mode::Pass);
    let mut buf = [0u8; 4];
    tokio::time::timeout(
        Duration::from_millis(ARRIVAL_MS),
        stream.read_exact(&mut buf),
    )
    .await
    .expect("the held bytes arrive once healed")
    .unwrap();
}

#[tokio::test]
async fn reset_breaks_every_open_connection() {
    let (proxy, _) = setup().await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(round_trip(&mut stream, ARRIVAL_MS).await.is_some());
    proxy.set_mode(Mode::Reset);
    let mut buf = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_millis(ARRIVAL_MS), stream.read(&mut buf))
        .await
        .expect("the reset arrives at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn half_open_delivers_requests_but_no_answers() {
    let (proxy, received) = setup().await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    proxy.set_mode(Mode::HalfOpen);
    assert!(round_trip(&mut stream, SILENCE_MS).await.is_none());
    assert_eq!(
        received.load(Ordering::SeqCst),
        4,
        "the upstream got the request"
    );
}
