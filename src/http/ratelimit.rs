//! The request budget shared by every task that calls one remote service: `governor`'s GCRA
//! (a token bucket) for the steady rate and burst, plus the one thing it lacks, ours: a pause
//! for everyone after the remote side said "too many requests".

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::Quota;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

type Bucket = governor::RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// `rate` requests per second, at most `burst` at once; a rate of 0 means unlimited.
/// [`RateLimiter::pause_until`] holds every caller back after a "too many requests".
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Option<Bucket>,
    paused_until: Mutex<Option<Instant>>,
}

/// tokio's clock for governor, so paused-time tests see the limiter wait.
#[derive(Debug, Clone)]
struct TokioClock(Instant);

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

impl RateLimiter {
    /// A limiter of `rate` requests per second with bursts of `burst` (at least 1).
    pub fn new(rate: f64, burst: u32) -> Self {
        let bucket = (rate > 0.0).then(|| {
            let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
            let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
            let quota = Quota::with_period(period)
                .expect("a positive period")
                .allow_burst(burst);
            Bucket::direct_with_clock(quota, TokioClock(Instant::now()))
        });
        Self {
            bucket,
            paused_until: Mutex::new(None),
        }
    }

    /// True when the limiter never waits (rate 0).
    pub fn is_unlimited(&self) -> bool {
        self.bucket.is_none()
    }

    /// Waits until a request may be sent, then takes one token.
    pub async fn acquire(&self) {
        loop {
            let paused = *self.paused_until.lock().expect("rate limiter lock");
            if let Some(until) = paused.filter(|u| *u > Instant::now()) {
                tokio::time::sleep_until(until).await;
                continue;
            }
            let Some(bucket) = &self.bucket else { return };
            match bucket.check() {
                Ok(()) => return,
                Err(later) => tokio::time::sleep(later.wait_time_from(bucket.clock().now())).await,
            }
        }
    }

    /// Makes every caller wait until `until` (the remote side asked us to slow down);
    /// the saved-up burst is dropped.
    pub fn pause_until(&self, until: Instant) {
        let mut paused = self.paused_until.lock().expect("rate limiter lock");
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
        while self.bucket.as_ref().is_some_and(|b| b.check().is_ok()) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_steady_rate() {
        let limiter = RateLimiter::new(2.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(1));
        for _ in 0..4 {
            limiter.acquire().await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        assert!((1.99..2.1).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_everyone_back() {
        let limiter = RateLimiter::new(0.0, 1);
        let start = Instant::now();
        limiter.pause_until(start + Duration::from_secs(5));
        limiter.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(5));
    }
}
