//! `/healthz` and `/metrics`, on the observability listener: the health probe's verdict and
//! the metrics page read at scrape time.

use super::answer::{not_allowed, text, Answer, Reply};
use super::router::{Caller, Listener, Path, Route, Router};
use crate::engine::HealthProbe;
use crate::metrics::{render, CONTENT_TYPE};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;

/// The routes of the daemon's own state.
#[derive(Debug, Clone)]
pub struct Observability {
    probe: HealthProbe,
}

impl Observability {
    /// `/healthz` and `/metrics` of `probe`, mounted on `router`.
    pub fn mount(probe: HealthProbe, router: Router) -> Router {
        let paths = [Path::Exact("/healthz"), Path::Exact("/metrics")];
        router.mount(&paths, Listener::Observability, Arc::new(Self { probe }))
    }

    async fn health(&self, method: &Method) -> Answer {
        if method != Method::GET && method != Method::HEAD {
            return not_allowed("GET, HEAD");
        }
        let health = self.probe.check().await;
        if health.is_healthy() {
            text(StatusCode::OK, "ok\n")
        } else {
            let body = format!("unhealthy: {}\n", health.problems.join("; "));
            text(StatusCode::SERVICE_UNAVAILABLE, &body)
        }
    }

    async fn metrics(&self, method: &Method) -> Answer {
        if method != Method::GET && method != Method::HEAD {
            return not_allowed("GET, HEAD");
        }
        let healthy = self.probe.check().await.is_healthy();
        let services = self.probe.services();
        let page = render(&services.store, &services.stats, healthy).await;
        let mut answer = Response::new(Full::new(Bytes::from(page)));
        answer
            .headers_mut()
            .insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(CONTENT_TYPE));
        answer
    }
}

impl Route for Observability {
    fn answer<'a>(&'a self, req: Request<Incoming>, _: Caller<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let answer = match req.uri().path() {
                "/healthz" => self.health(req.method()).await,
                _ => self.metrics(req.method()).await,
            };
            answer.map(Either::Left)
        })
    }
}
