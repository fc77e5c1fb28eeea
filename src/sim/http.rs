//! The HTTP layer both simulators share: a real hyper server on loopback that hands each
//! request to a [`SimService`] and applies the fault plan around it.

use super::faults::{FaultKind, Faults};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A request as a simulator sees it: everything read, nothing streamed.
#[derive(Debug, Clone)]
pub struct SimRequest {
    /// HTTP method.
    pub method: Method,
    /// Path without the query string, percent-decoding left to the service.
    pub path: String,
    /// The raw query string (without `?`), empty when absent.
    pub query: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
    /// The peer's address.
    pub peer: SocketAddr,
}

impl SimRequest {
    /// Query parameters, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The first query parameter named `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A simulator's answer.
#[derive(Debug, Clone)]
pub struct SimResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// How long the answer is held back after the service acted (the "the write landed but
    /// the answer is late" window a crash test kills the client in).
    pub hold: std::time::Duration,
}

impl SimResponse {
    /// A JSON answer.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json; charset=utf-8",
            headers: Vec::new(),
            body: serde_json::to_vec(value).expect("JSON value serialises"),
            hold: std::time::Duration::ZERO,
        }
    }

    /// A plain-text or HTML answer.
    pub fn text(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
            hold: std::time::Duration::ZERO,
        }
    }
}

/// What a simulator implements: its routes, and how it says "server error" and "rate limited".
pub trait SimService: Send + Sync + 'static {
    /// Answers one request (state changes happen here).
    fn handle(&self, req: SimRequest) -> SimResponse;
    /// The service's own rate-limit answer.
    fn rate_limited(&self) -> SimResponse;
    /// The service's own internal-error answer.
    fn server_error(&self) -> SimResponse;
}

/// A running simulator server. Dropping it does not stop it; call [`SimServer::stop`].
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    stop: CancellationToken,
    requests: Arc<AtomicU64>,
}

impl SimServer {
    /// Serves `service` on `addr` (use `127.0.0.1:0` for a free port) until stopped.
    pub async fn start<S: SimService>(
        addr: SocketAddr,
        service: Arc<S>,
        faults: Arc<Faults>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let requests = Arc::new(AtomicU64::new(0));
        tokio::spawn(accept_loop(
            listener,
            service,
            faults,
            stop.clone(),
            requests.clone(),
        ));
        Ok(Self {
            addr,
            stop,
            requests,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// HTTP requests received so far (faulted ones included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

async fn accept_loop<S: SimService>(
    listener: TcpListener,
    service: Arc<S>,
    faults: Arc<Faults>,
    stop: CancellationToken,
    requests: Arc<AtomicU64>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => continue,
            },
        };
        let service = service.clone();
        let faults = faults.clone();
        let requests = requests.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                requests.fetch_add(1, Ordering::Relaxed);
                serve_one(req, peer, service.clone(), faults.clone())
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

type SimBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// The error that makes hyper drop the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated connection reset")
    }
}

impl std::error::Error for Dropped {}

async fn serve_one<S: SimService>(
    req: Request<Incoming>,
    peer: SocketAddr,
    service: Arc<S>,
    faults: Arc<Faults>,
) -> Result<Response<SimBody>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let latency = faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = faults.next();
    let answer = match fault {
        Some(FaultKind::Reset) => return Err(Dropped),
        Some(FaultKind::Timeout) => {
            tokio::time::sleep(faults.hang()).await;
            return Err(Dropped);
        }
        Some(FaultKind::ServerError) => service.server_error(),
        Some(FaultKind::BadGateway) => SimResponse::text(
            502,
            "text/html",
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        ),
        Some(FaultKind::RateLimit) => service.rate_limited(),
        Some(FaultKind::Malformed) => {
            SimResponse::text(200, "application/json", "{\"result\": <html>oops")
        }
        Some(FaultKind::Slow) | Some(FaultKind::Truncated) | None => {
            if fault == Some(FaultKind::Slow) {
                tokio::time::sleep(faults.slow()).await;
            }
            let sim_req = SimRequest {
                method: parts.method,
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or("").to_string(),
                headers: parts.headers,
                body,
                peer,
            };
            // The state change happens even when the answer is then cut: that is the
            // "did my write land?" case clients must survive.
            service.handle(sim_req)
        }
    };
    let hold = answer.hold.max(faults.answer_hold());
    if !hold.is_zero() {
        tokio::time::sleep(hold).await;
    }
    Ok(build_response(answer, fault == Some(FaultKind::Truncated)))
}

fn build_response(answer: SimResponse, truncate: bool) -> Response<SimBody> {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let full_len = answer.body.len();
    let body: SimBody = if truncate {
        // Announce the whole length, send half, then fail the stream: the client sees the
        // connection end mid-body.
        let half = Bytes::from(answer.body[..full_len / 2].to_vec());
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(half)),
            Err(std::io::Error::other("simulated truncation")),
        ];
        StreamBody::new(futures_util::stream::iter(frames)).boxed()
    } else {
        Full::new(Bytes::from(answer.body))
            .map_err(|never: Infallible| match never {})
            .boxed()
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
    if truncate {
        headers.insert(
            hyper::header::CONTENT_LENGTH,
            HeaderValue::from_str(&full_len.to_string()).expect("digits are a valid header"),
        );
    }
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}
