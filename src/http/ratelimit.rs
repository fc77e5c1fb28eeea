//! A token bucket shared by every task that calls one remote service.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Token bucket: `rate` tokens per second, at most `burst` saved up. A rate of 0 means
/// unlimited. [`RateLimiter::pause_until`] holds every caller back after the remote side
/// said "too many requests".
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    updated: Instant,
    paused_until: Option<Instant>,
}

impl RateLimiter {
    /// A limiter of `rate` requests per second with bursts of `burst` (at least 1).
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: rate.max(0.0),
            burst,
            state: Mutex::new(State {
                tokens: burst,
                updated: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// True when the limiter never waits (rate 0).
    pub fn is_unlimited(&self) -> bool {
        self.rate == 0.0
    }

    /// Waits until a request may be sent, then takes one token.
    pub async fn acquire(&self) {
        loop {
            match self.try_take(Instant::now()) {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Makes every caller wait until `until` (the remote side asked us to slow down);
    /// the saved-up burst is dropped.
    pub fn pause_until(&self, until: Instant) {
        let mut s = self.state.lock().expect("rate limiter lock");
        if s.paused_until.is_none_or(|p| p < until) {
            s.paused_until = Some(until);
        }
        s.tokens = s.tokens.min(1.0);
    }

    /// Takes a token now, or says how long to wait before trying again.
    fn try_take(&self, now: Instant) -> Option<Duration> {
        let mut s = self.state.lock().expect("rate limiter lock");
        if let Some(until) = s.paused_until {
            if now < until {
                return Some(until - now);
            }
            s.paused_until = None;
        }
        if self.is_unlimited() {
            return None;
        }
        let elapsed = now.saturating_duration_since(s.updated).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.updated = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - s.tokens) / self.rate))
        }
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
