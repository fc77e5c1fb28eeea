//! Fault injection shared by both simulators.

use rand::Rng;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// One way a simulated call can go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 500 with the service's error envelope.
    ServerError,
    /// HTTP 502 with an HTML body, as a proxy in front of the service would send.
    BadGateway,
    /// The connection is closed without an answer.
    Reset,
    /// No answer for [`Faults::hang`] (longer than the client's timeout), then a reset.
    Timeout,
    /// The answer comes after [`Faults::slow`], otherwise normal.
    Slow,
    /// The service's own rate-limit answer.
    RateLimit,
    /// HTTP 200 with a body that is not JSON.
    Malformed,
    /// The answer's body is cut in the middle.
    Truncated,
}

impl FaultKind {
    /// Every kind, for chaos runs.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::ServerError,
        FaultKind::BadGateway,
        FaultKind::Reset,
        FaultKind::Timeout,
        FaultKind::Slow,
        FaultKind::RateLimit,
        FaultKind::Malformed,
        FaultKind::Truncated,
    ];
}

/// The fault plan of one simulator: scripted faults for the next calls, a random rate,
/// and a latency added to every call. All knobs can change while the simulator runs.
#[derive(Debug)]
pub struct Faults {
    plan: Mutex<Plan>,
}

#[derive(Debug)]
struct Plan {
    scripted: VecDeque<FaultKind>,
    rate: f64,
    kinds: Vec<FaultKind>,
    latency: Duration,
    answer_hold: Duration,
    slow: Duration,
    hang: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            plan: Mutex::new(Plan {
                scripted: VecDeque::new(),
                rate: 0.0,
                kinds: FaultKind::ALL.to_vec(),
                latency: Duration::ZERO,
                answer_hold: Duration::ZERO,
                slow: Duration::from_millis(300),
                hang: Duration::from_secs(5),
            }),
        }
    }
}

impl Faults {
    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().expect("fault plan lock")
    }

    /// The next calls get these faults, in order, before any random one.
    pub fn script(&self, kinds: impl IntoIterator<Item = FaultKind>) {
        self.plan().scripted.extend(kinds);
    }

    /// Each call fails with probability `rate` (0..=1), with a kind drawn from `kinds`.
    pub fn set_random(&self, rate: f64, kinds: &[FaultKind]) {
        let mut p = self.plan();
        p.rate = rate.clamp(0.0, 1.0);
        p.kinds = if kinds.is_empty() {
            FaultKind::ALL.to_vec()
        } else {
            kinds.to_vec()
        };
    }

    /// Latency added to every call.
    pub fn set_latency(&self, latency: Duration) {
        self.plan().latency = latency;
    }

    /// How long every answer is held after the call took effect (a client killed or timed
    /// out meanwhile cannot know whether its write landed).
    pub fn set_answer_hold(&self, hold: Duration) {
        self.plan().answer_hold = hold;
    }

    /// How long a [`FaultKind::Slow`] answer is delayed.
    pub fn set_slow(&self, slow: Duration) {
        self.plan().slow = slow;
    }

    /// How long a [`FaultKind::Timeout`] call hangs before the connection is reset.
    pub fn set_hang(&self, hang: Duration) {
        self.plan().hang = hang;
    }

    /// Removes every scripted and random fault, the latency and the answer hold.
    pub fn clear(&self) {
        let mut p = self.plan();
        p.scripted.clear();
        p.rate = 0.0;
        p.latency = Duration::ZERO;
        p.answer_hold = Duration::ZERO;
    }

    /// The fault for the call being served, if any.
    pub fn next(&self) -> Option<FaultKind> {
        let mut p = self.plan();
        if let Some(kind) = p.scripted.pop_front() {
            return Some(kind);
        }
        if p.rate > 0.0 && !p.kinds.is_empty() {
            let mut rng = rand::thread_rng();
            if rng.gen_bool(p.rate) {
                return Some(p.kinds[rng.gen_range(0..p.kinds.len())]);
            }
        }
        None
    }

    /// Latency added to every call.
    pub fn latency(&self) -> Duration {
        self.plan().latency
    }

    /// How long every answer is held after the call took effect.
    pub fn answer_hold(&self) -> Duration {
        self.plan().answer_hold
    }

    /// Delay of a slow answer.
    pub fn slow(&self) -> Duration {
        self.plan().slow
    }

    /// Hang time of a timeout.
    pub fn hang(&self) -> Duration {
        self.plan().hang
    }
}
