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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PipelineLabels {
    pub pipeline: String,
}

type GaugeFamily<T> = Family<PipelineLabels, T>;

/// A streaming pipeline's figures for `/metrics` (from `db::streams`).
pub struct StreamFigures {
    pub pipeline: String,
    /// Messages in the stream not yet acknowledged by the consumer.
    pub lag_messages: i64,
    pub landed_rows: i64,
    /// Publication to serving of the newest batch.
    pub visible_lag_seconds: Option<f64>,
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
    consumer_lag: GaugeFamily<Gauge<i64, AtomicI64>>,
    stream_landed: GaugeFamily<Gauge<i64, AtomicI64>>,
    visible_lag: GaugeFamily<Gauge<f64, AtomicU64>>,
    buffer_waiting: Gauge<i64, AtomicI64>,
    activity_users: Gauge<i64, AtomicI64>,
    activity_events: Gauge<i64, AtomicI64>,
    activity_current: Gauge<i64, AtomicI64>,
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
        let consumer_lag = GaugeFamily::<Gauge<i64, AtomicI64>>::default();
        registry.register(
            "stream_consumer_lag_messages",
            "Messages a stream pipeline's consumer has not acknowledged yet (pending + in flight)",
            consumer_lag.clone(),
        );
        let stream_landed = GaugeFamily::<Gauge<i64, AtomicI64>>::default();
        registry.register(
            "stream_landed_rows",
            "Rows a stream pipeline has landed in the lake",
            stream_landed.clone(),
        );
        let visible_lag = GaugeFamily::<Gauge<f64, AtomicU64>>::default();
        registry.register(
            "event_visible_lag_seconds",
            "Publication to serving (recent activity) of a stream pipeline's newest batch; \
             POST /v1/events is visible when acknowledged",
            visible_lag.clone(),
        );
        let buffer_waiting = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "event_buffer_waiting",
            "Acknowledged POST /v1/events events waiting for their flush into the lake",
            buffer_waiting.clone(),
        );
        let activity_users = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "activity_copy_users",
            "Users whose recent activity this replica holds in memory",
            activity_users.clone(),
        );
        let activity_events = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "activity_copy_events",
            "Recent events this replica holds in memory",
            activity_events.clone(),
        );
        let activity_current = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "activity_copy_current",
            "1 while the tail keeps this replica's copy of the recent activity current, else 0 (reads go to the DB)",
            activity_current.clone(),
        );
        Metrics {
            registry,
            activity_users,
            activity_events,
            activity_current,
            consumer_lag,
            stream_landed,
            visible_lag,
            buffer_waiting,
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

    /// Replaces the stream pipelines' figures and the event buffer's backlog.
    pub fn set_streams(&self, streams: &[StreamFigures], buffer_waiting: i64) {
        self.consumer_lag.clear();
        self.stream_landed.clear();
        self.visible_lag.clear();
        for s in streams {
            let labels = PipelineLabels {
                pipeline: s.pipeline.clone(),
            };
            self.consumer_lag.get_or_create(&labels).set(s.lag_messages);
            self.stream_landed.get_or_create(&labels).set(s.landed_rows);
            if let Some(lag) = s.visible_lag_seconds {
                self.visible_lag.get_or_create(&labels).set(lag);
            }
        }
        self.buffer_waiting.set(buffer_waiting);
    }

    /// This replica's copy of the recent activity.
    pub fn set_activity(&self, users: usize, events: usize, current: bool) {
        self.activity_users.set(users as i64);
        self.activity_events.set(events as i64);
        self.activity_current.set(i64::from(current));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
