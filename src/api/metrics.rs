//! Prometheus metrics: per-route request counts and latency histograms, recorded by the
//! request middleware, plus job counts by state read from the queue at scrape time (the DB is
//! the truth for jobs, shared by every replica, so there is nothing to keep in step).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServedLabels {
    pub kind: String,
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub kind: String,
    pub outcome: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    jobs: Family<StateLabels, Gauge<i64, AtomicI64>>,
    served: Family<ServedLabels, Gauge<i64, AtomicI64>>,
    decisions: Family<DecisionLabels, Gauge<i64, AtomicI64>>,
    realised_mase: Gauge<f64, AtomicU64>,
    realised_points: Gauge<i64, AtomicI64>,
}

type AtomicI64 = std::sync::atomic::AtomicI64;

fn latency_histogram() -> Histogram {
    // 0.25 ms .. ~8 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("recast");
        let requests = Family::<RequestLabels, Counter<u64, AtomicU64>>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let jobs = Family::<StateLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route pattern and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route pattern",
            latency.clone(),
        );
        registry.register("jobs", "Jobs in the queue by state", jobs.clone());
        let served = Family::<ServedLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "served_model",
            "The promoted model version per kind (1 for the served version)",
            served.clone(),
        );
        let decisions = Family::<DecisionLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "promotion_decisions",
            "Gated training runs among the latest 1,000 versions, by outcome",
            decisions.clone(),
        );
        let realised_mase = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "forecast_realised_mase",
            "Realised MASE of the served forecaster run over the periods whose actuals landed (NaN before any)",
            realised_mase.clone(),
        );
        let realised_points = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "forecast_realised_points",
            "Forecast points of the served forecaster run scored against actuals so far",
            realised_points.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            jobs,
            served,
            decisions,
            realised_mase,
            realised_points,
        }
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(seconds);
    }

    pub fn set_job_count(&self, state: &str, count: i64) {
        self.jobs
            .get_or_create(&StateLabels {
                state: state.to_string(),
            })
            .set(count);
    }

    /// Replaces the served versions (one per kind).
    pub fn set_served(&self, served: &[(String, String)]) {
        self.served.clear();
        for (kind, version) in served {
            self.served
                .get_or_create(&ServedLabels {
                    kind: kind.clone(),
                    version: version.clone(),
                })
                .set(1);
        }
    }

    /// Replaces the counts of gate decisions per kind and outcome.
    pub fn set_decisions(&self, counts: &[(String, String, i64)]) {
        self.decisions.clear();
        for (kind, outcome, n) in counts {
            self.decisions
                .get_or_create(&DecisionLabels {
                    kind: kind.clone(),
                    outcome: outcome.clone(),
                })
                .set(*n);
        }
    }

    /// The served forecaster run's realised accuracy so far.
    pub fn set_realised(&self, mase: Option<f64>, points: usize) {
        self.realised_mase.set(mase.unwrap_or(f64::NAN));
        self.realised_points.set(points as i64);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
