//! Pieces shared by both HTTP clients: retry delays and a request budget. Imports nothing
//! of ours.

mod backoff;
mod ratelimit;

pub use backoff::Backoff;
pub use ratelimit::RateLimiter;
