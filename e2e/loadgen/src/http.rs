//! A minimal HTTP/1.1 keep-alive client: one TCP connection per worker, requests sent one at
//! a time on it. hyper's connection-level API is used directly (no pool, no URL parsing, no
//! redirects) so the generator spends as little CPU per request as possible.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// Longest wait for one response before the request counts as a `timeout` error.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;

/// The token every new [`Conn`] sends unless told otherwise: the benchmark and the chaos
/// suite each act as one platform client (see [`use_token`]).
static DEFAULT_TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Makes `token` the bearer token of every connection opened from now on; the first call
/// wins (one identity provider per process).
pub fn use_token(token: String) {
    let _ = DEFAULT_TOKEN.set(token);
}

/// One keep-alive connection to the service.
pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
    timeout: Duration,
    /// `Bearer <token>` sent with every request, unless a request names another.
    authorization: Option<HeaderValue>,
}

/// Status and body of one response.
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Conn {
    /// A connection that dials lazily, on its first request.
    pub fn new(addr: SocketAddr) -> Self {
        let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid header");
        Self {
            addr,
            host,
            sender: None,
            timeout: Duration::from_millis(REQUEST_TIMEOUT_MS),
            authorization: DEFAULT_TOKEN.get().map(|t| bearer(t)),
        }
    }

    /// The same connection, sending `token` as its bearer token.
    pub fn with_token(mut self, token: &str) -> Self {
        self.authorization = Some(bearer(token));
        self
    }

    /// The same connection with a longer (or shorter) per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn dial(&mut self) -> Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                // The connection ends when the sender is dropped or the server closes it;
                // either way the next request dials again.
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("dialled above"))
    }

    /// Sends one request with the connection's token and reads the whole response body.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply> {
        self.send_as(None, method, path, body, idempotency_key)
            .await
    }

    /// Sends one request with `authorization` (`Bearer <token>`, see [`bearer`]) instead of
    /// the connection's token, when given.
    pub async fn send_as(
        &mut self,
        authorization: Option<HeaderValue>,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply> {
        let host = self.host.clone();
        let timeout = self.timeout;
        let authorization = authorization.or_else(|| self.authorization.clone());
        let sender = self.dial().await?;
        sender.ready().await?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, host);
        if body.is_some() {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(key) = idempotency_key {
            req = req.header("idempotency-key", key);
        }
        if let Some(authorization) = authorization {
            req = req.header(AUTHORIZATION, authorization);
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        let exchange = async {
            let res = sender.send_request(req).await?;
            let status = res.status();
            let body = res.into_body().collect().await?.to_bytes();
            Ok::<_, Error>(Reply { status, body })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(Error::Timeout(format!("{path} took over {timeout:?}")))
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> Result<Reply> {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn post_json(
        &mut self,
        path: &str,
        body: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> Result<Reply> {
        let bytes = Bytes::from(serde_json::to_vec(body)?);
        self.send(Method::POST, path, Some(bytes), idempotency_key)
            .await
    }
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// The `Authorization` value of a bearer token.
pub fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("a JWT is a valid header value")
}
