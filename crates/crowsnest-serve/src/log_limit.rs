//! A log line at most once per period, with the count of the lines left out since.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Says when a repeated event may be logged: at most once per `every`.
#[derive(Debug)]
pub struct RateLimitedLog {
    every: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> RateLimitedLog {
        RateLimitedLog {
            every,
            state: Mutex::new(State::default()),
        }
    }

    /// The event happened at `now`: `Some(n)` when it is to be logged, `n` being the events
    /// left unlogged since the previous line; `None` when it is to be left out (and counted).
    pub fn hit(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.last
            .is_none_or(|l| now.saturating_duration_since(l) >= self.every)
        {
            s.last = Some(now);
            Some(std::mem::take(&mut s.suppressed))
        } else {
            s.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_left_out() {
        let log = RateLimitedLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.hit(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(log.hit(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(log.hit(t0 + Duration::from_millis(9_999)), None);
        assert_eq!(log.hit(t0 + Duration::from_secs(10)), Some(6));
        assert_eq!(log.hit(t0 + Duration::from_secs(11)), None);
        assert_eq!(log.hit(t0 + Duration::from_secs(25)), Some(1));
    }
}
