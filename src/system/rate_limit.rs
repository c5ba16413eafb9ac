//! Per-user application limits on session starts, as the app enforces them: a daily count that
//! resets every 24 simulated hours, checked and incremented first, then a cap on open sessions
//! that only an explicit close lowers. Either failure answers 429.

/// Outcome of a session-start check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The session may start.
    Allowed,
    /// Over the daily count.
    DailyLimit,
    /// Over the open-session cap.
    ConcurrentLimit,
}

/// Limits and per-user counters (users are dense ids).
#[derive(Clone, Debug)]
pub struct RateLimiter {
    per_day: Option<u32>,
    concurrent: Option<u32>,
    day_of_count: Vec<u32>,
    count_today: Vec<u32>,
    open: Vec<u32>,
}

impl RateLimiter {
    /// A limiter for `users` users.
    pub fn new(per_day: Option<u32>, concurrent: Option<u32>, users: usize) -> Self {
        Self {
            per_day,
            concurrent,
            day_of_count: vec![0; users],
            count_today: vec![0; users],
            open: vec![0; users],
        }
    }

    /// Checks a start by `user` at `now` and updates the counters as the app does.
    pub fn admit_start(&mut self, user: usize, now: f64) -> Admission {
        if user >= self.open.len() {
            return Admission::Allowed;
        }
        let day = (now / 86_400.0) as u32;
        if self.day_of_count[user] != day {
            self.day_of_count[user] = day;
            self.count_today[user] = 0;
        }
        if let Some(limit) = self.per_day
            && self.count_today[user] >= limit
        {
            return Admission::DailyLimit;
        }
        self.count_today[user] += 1;
        if let Some(limit) = self.concurrent
            && self.open[user] >= limit
        {
            return Admission::ConcurrentLimit;
        }
        self.open[user] += 1;
        Admission::Allowed
    }

    /// An explicit close by `user`.
    pub fn close(&mut self, user: usize) {
        if let Some(o) = self.open.get_mut(user) {
            *o = o.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_limit_resets_next_day() {
        let mut r = RateLimiter::new(Some(2), None, 1);
        assert_eq!(r.admit_start(0, 0.0), Admission::Allowed);
        assert_eq!(r.admit_start(0, 10.0), Admission::Allowed);
        assert_eq!(r.admit_start(0, 20.0), Admission::DailyLimit);
        assert_eq!(r.admit_start(0, 86_400.0 + 1.0), Admission::Allowed);
    }

    #[test]
    fn concurrent_limit_counts_only_explicit_closes() {
        let mut r = RateLimiter::new(Some(10), Some(2), 1);
        assert_eq!(r.admit_start(0, 0.0), Admission::Allowed);
        assert_eq!(r.admit_start(0, 0.0), Admission::Allowed);
        assert_eq!(r.admit_start(0, 0.0), Admission::ConcurrentLimit);
        r.close(0);
        assert_eq!(r.admit_start(0, 0.0), Admission::Allowed);
        // The rejected start still used up one of the day's starts, as in the app.
        let mut d = RateLimiter::new(Some(2), Some(1), 1);
        d.admit_start(0, 0.0);
        assert_eq!(d.admit_start(0, 0.0), Admission::ConcurrentLimit);
        d.close(0);
        assert_eq!(d.admit_start(0, 0.0), Admission::DailyLimit);
    }

    #[test]
    fn unknown_users_are_not_limited() {
        let mut r = RateLimiter::new(Some(0), Some(0), 0);
        assert_eq!(r.admit_start(5, 0.0), Admission::Allowed);
    }
}
