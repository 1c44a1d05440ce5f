//! Customers: CRM segments that really behave differently (loyal customers visit often,
//! bargain hunters favour cheap items, premium buyers the expensive ones, dormant accounts
//! almost never come back), regions of a German-speaking shop, and sign-up times that grow
//! towards the present. The CRM exports local shop time without an offset, so sign-ups are
//! written as Europe/Berlin wall-clock time, as the `users` pipeline expects.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Europe::Berlin;
use rand::Rng;
use rand::rngs::StdRng;

use super::dist;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    BargainHunter,
    Casual,
    Loyal,
    Premium,
    Dormant,
}

impl Segment {
    pub const ALL: [Segment; 5] = [
        Segment::BargainHunter,
        Segment::Casual,
        Segment::Loyal,
        Segment::Premium,
        Segment::Dormant,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Segment::BargainHunter => "bargain_hunter",
            Segment::Casual => "casual",
            Segment::Loyal => "loyal",
            Segment::Premium => "premium",
            Segment::Dormant => "dormant",
        }
    }

    /// Share of the customer base.
    fn share(self) -> f64 {
        match self {
            Segment::BargainHunter => 0.25,
            Segment::Casual => 0.38,
            Segment::Loyal => 0.17,
            Segment::Premium => 0.12,
            Segment::Dormant => 0.08,
        }
    }

    /// Relative visit frequency.
    pub fn activity(self) -> f64 {
        match self {
            Segment::BargainHunter => 1.0,
            Segment::Casual => 0.6,
            Segment::Loyal => 2.6,
            Segment::Premium => 1.4,
            Segment::Dormant => 0.06,
        }
    }

    /// Weight on an item's standardised log price when choosing what to look at.
    pub fn price_preference(self) -> f64 {
        match self {
            Segment::BargainHunter => -0.9,
            Segment::Premium => 0.8,
            Segment::Loyal => 0.1,
            Segment::Casual | Segment::Dormant => -0.2,
        }
    }

    /// Probability that a session with a filled cart ends in a purchase.
    pub fn checkout_rate(self) -> f64 {
        match self {
            Segment::BargainHunter => 0.35,
            Segment::Casual => 0.30,
            Segment::Loyal => 0.50,
            Segment::Premium => 0.45,
            Segment::Dormant => 0.25,
        }
    }
}

/// Regions (ISO 3166-2 for Germany, countries for Austria and Switzerland) and their shares.
pub const REGIONS: &[(&str, f64)] = &[
    ("DE-NW", 0.21),
    ("DE-BY", 0.16),
    ("DE-BW", 0.13),
    ("DE-NI", 0.09),
    ("DE-HE", 0.08),
    ("DE-BE", 0.07),
    ("DE-SN", 0.05),
    ("DE-HH", 0.04),
    ("AT", 0.10),
    ("CH", 0.07),
];

#[derive(Debug, Clone)]
pub struct User {
    /// `u00042`.
    pub id: String,
    pub segment: Segment,
    pub region: &'static str,
    pub signup: DateTime<Utc>,
    /// Expected visits relative to the average customer (segment and personal habit).
    pub activity: f64,
}

impl User {
    /// Sign-up as the CRM exports it: local Berlin wall-clock time, no offset.
    pub fn signup_local(&self) -> String {
        local_time(self.signup)
    }
}

/// `%Y-%m-%d %H:%M:%S` in Europe/Berlin.
pub fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Berlin)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// `n` customers who signed up before `end`, over the three years before it, with more
/// recent sign-ups more frequent (the shop is growing).
pub fn generate(n: usize, end: DateTime<Utc>, rng: &mut StdRng) -> Vec<User> {
    let segment_weights: Vec<f64> = Segment::ALL.iter().map(|s| s.share()).collect();
    let region_weights: Vec<f64> = REGIONS.iter().map(|r| r.1).collect();
    let horizon = 3.0 * 365.0 * 86_400.0;
    (0..n)
        .map(|i| {
            let segment = Segment::ALL[dist::weighted(rng, &segment_weights)];
            let region = REGIONS[dist::weighted(rng, &region_weights)].0;
            // Age of the account: u^1.6 puts more mass near the present.
            let age = horizon * rng.random::<f64>().powf(1.6) + 3_600.0;
            let signup = end - Duration::seconds(age as i64);
            let activity = segment.activity() * dist::lognormal(rng, 1.0, 0.6);
            User {
                id: format!("u{:05}", i + 1),
                segment,
                region,
                signup,
                activity,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_sign_up_before_the_end_in_local_time() {
        let end = DateTime::parse_from_rfc3339("2025-06-30T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        let users = generate(1000, end, &mut dist::stream(5, "users"));
        assert!(users.iter().all(|u| u.signup < end));
        assert!(
            Segment::ALL
                .iter()
                .all(|s| users.iter().any(|u| u.segment == *s))
        );
        let summer = DateTime::parse_from_rfc3339("2025-06-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(local_time(summer), "2025-06-01 12:00:00");
    }
}
