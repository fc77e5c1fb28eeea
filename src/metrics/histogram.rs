//! A fixed-bucket latency histogram in seconds, Prometheus style (cumulative buckets).

use std::time::Duration;

/// Upper bounds of the buckets, in seconds (`+Inf` is implied).
pub const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

/// Observations counted per bucket, with their sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    /// No observations (usable in `const` context).
    pub const ZERO: Histogram = Histogram {
        counts: [0; BUCKETS.len()],
        count: 0,
        sum: 0.0,
    };

    /// Adds one observation.
    pub fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|le| secs <= *le) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += secs;
    }

    /// `(upper bound, cumulative count)` per bucket, without `+Inf`.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        BUCKETS
            .iter()
            .zip(self.counts.iter())
            .scan(0, |acc, (le, n)| {
                *acc += n;
                Some((*le, *acc))
            })
    }

    /// Observations so far (the `+Inf` bucket).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of the observations in seconds.
    pub fn sum(&self) -> f64 {
        self.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(100));
        let c: Vec<(f64, u64)> = h.cumulative().collect();
        assert_eq!(c[0], (0.001, 1));
        assert_eq!(c[5], (0.05, 2));
        assert_eq!(c.last(), Some(&(30.0, 2)));
        assert_eq!(h.count(), 3);
    }
}
