//! `recast experiment`: create, list, show, start, stop and read the results of A/B
//! experiments, against the same DB and lake the servers use. Serving replicas see a start or
//! stop within seconds (they re-read the running experiments every 2 s).

use std::path::PathBuf;

use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::config::Settings;
use crate::db::ms_to_rfc3339;
use crate::error::{Error, Result};
use crate::experiments::model::{Experiment, ExperimentSpec, ExperimentStore, Status};
use crate::experiments::results::{self, Readout};

#[derive(Subcommand, Debug)]
pub enum ExperimentCommand {
    /// Create a draft from a JSON definition (the body of `POST /v1/experiments`).
    Create {
        /// The definition file; `-` reads stdin.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// List experiments, newest first.
    List {
        /// Only draft, running or stopped ones.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one experiment's definition and state.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Start a draft.
    Start { id: String },
    /// Stop a running experiment (final).
    Stop { id: String },
    /// Results: per-variant metrics and every variant against the control.
    Results {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn read_spec(file: &PathBuf) -> Result<ExperimentSpec> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| Error::invalid("file", format!("cannot read stdin: {e}")))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| Error::invalid("file", format!("cannot read {}: {e}", file.display())))?
    };
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        Error::invalid(path.clone(), format!("{path}: {}", e.inner()))
    })
}

fn parse_status(s: Option<String>) -> Result<Option<Status>> {
    match s.as_deref() {
        None => Ok(None),
        Some("draft") => Ok(Some(Status::Draft)),
        Some("running") => Ok(Some(Status::Running)),
        Some("stopped") => Ok(Some(Status::Stopped)),
        Some(other) => Err(Error::invalid(
            "status",
            format!("status `{other}`: must be draft, running or stopped"),
        )),
    }
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn describe(e: &Experiment) {
    let s = &e.spec;
    println!("{} ({})  {}", s.name, e.id, e.status.as_str());
    if !s.hypothesis.is_empty() {
        println!("hypothesis: {}", s.hypothesis);
    }
    println!(
        "layer {}  salt {}  coverage {:.1} %  primary {}  guardrails [{}]",
        s.layer,
        e.salt,
        s.coverage * 100.0,
        s.primary_metric.name(),
        s.guardrails
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(t) = e.started_at {
        println!("started {}", ms_to_rfc3339(t));
    }
    if let Some(t) = e.stopped_at {
        println!("stopped {}", ms_to_rfc3339(t));
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec!["variant", "weight", "model version", "diversity"]);
    for v in &s.variants {
        t.add_row(vec![
            v.name.clone(),
            format!("{:.3}", v.weight),
            v.model_version
                .clone()
                .unwrap_or_else(|| "(promoted)".into()),
            v.diversity.map(|d| d.to_string()).unwrap_or_default(),
        ]);
    }
    println!("{t}");
}

fn num(x: Option<f64>, digits: usize) -> String {
    x.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:+.2} %", v * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn pct_ci(x: Option<[f64; 2]>) -> String {
    x.map(|[a, b]| format!("[{:+.2} %, {:+.2} %]", a * 100.0, b * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn p(x: Option<f64>) -> String {
    match x {
        Some(v) if v < 0.0001 => "<0.0001".into(),
        Some(v) => format!("{v:.4}"),
        None => "–".into(),
    }
}

/// The readout as tables: what a data scientist reads first.
pub fn render(r: &Readout) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{} ({})  {}  exposures until {}\n",
        r.name,
        r.experiment_id,
        serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        r.until
    ));
    let mut v = Table::new();
    v.load_preset(UTF8_FULL_CONDENSED);
    v.set_header(vec![
        "variant",
        "users",
        "exposures",
        "clicks",
        "purchases",
        "CTR",
        "conversion",
        "revenue/user",
        "AOV",
    ]);
    for s in &r.variants {
        v.add_row(vec![
            if s.control {
                format!("{} (control)", s.name)
            } else {
                s.name.clone()
            },
            s.users.to_string(),
            s.exposures.to_string(),
            s.clicks.to_string(),
            s.purchases.to_string(),
            num(s.ctr, 4),
            num(s.conversion_rate, 4),
            num(s.revenue_per_user, 2),
            num(s.average_order_value, 2),
        ]);
    }
    out.push_str(&format!("{v}\n"));
    let mut c = Table::new();
    c.load_preset(UTF8_FULL_CONDENSED);
    c.set_header(vec![
        "variant",
        "metric",
        "role",
        "control",
        "treatment",
        "lift",
        "CI",
        "p",
        if r.sequential {
            "seq. p (Holm)"
        } else {
            "p (Holm)"
        },
        "P(beat)",
        "verdict",
    ]);
    for x in &r.comparisons {
        let decided = if r.sequential {
            x.sequential_p_value_adjusted
        } else {
            x.p_value_adjusted
        };
        let verdict = if x.guardrail_breached {
            "GUARDRAIL BREACHED"
        } else if x.significant && x.abs_lift.unwrap_or(0.0) > 0.0 {
            "better"
        } else if x.significant {
            "worse"
        } else {
            "inconclusive"
        };
        c.add_row(vec![
            x.variant.clone(),
            format!(
                "{}{}",
                x.metric.name(),
                if x.cuped_theta.is_some() {
                    " (CUPED)"
                } else {
                    ""
                }
            ),
            x.role.clone(),
            num(x.control_value, 4),
            num(x.treatment_value, 4),
            pct(x.rel_lift),
            pct_ci(x.rel_ci),
            p(x.p_value),
            p(decided),
            num(x.chance_to_beat_control, 3),
            verdict.into(),
        ]);
    }
    out.push_str(&format!("{c}\n"));
    out.push_str(&format!(
        "sample ratio: users [{}], expected [{}], chi-square p = {}{}\n",
        r.srm
            .observed
            .iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        r.srm
            .expected
            .iter()
            .map(|e| format!("{e:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        p(r.srm.p_value),
        if r.srm.mismatch { "  MISMATCH" } else { "  ok" }
    ));
    for note in &r.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

pub async fn run(settings: Settings, command: ExperimentCommand) -> Result<()> {
    let app = crate::service::open_existing(settings).await?;
    let store = ExperimentStore::new(app.db.clone(), app.models.clone());
    let outcome: Result<()> = async {
        match command {
            ExperimentCommand::Create { file, json } => {
                let e = store.create(read_spec(&file)?).await?;
                if json {
                    print_json(&e);
                } else {
                    println!("created experiment {} ({}) as a draft", e.id, e.spec.name);
                }
            }
            ExperimentCommand::List { status, json } => {
                let list = store.list(parse_status(status)?).await?;
                if json {
                    print_json(&list);
                } else {
                    let mut t = Table::new();
                    t.load_preset(UTF8_FULL_CONDENSED);
                    t.set_header(vec![
                        "id", "name", "status", "layer", "variants", "primary", "started",
                    ]);
                    for e in list {
                        t.add_row(vec![
                            e.id.clone(),
                            e.spec.name.clone(),
                            e.status.as_str().into(),
                            e.spec.layer.clone(),
                            e.spec
                                .variants
                                .iter()
                                .map(|v| v.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            e.spec.primary_metric.name().into(),
                            e.started_at.map(ms_to_rfc3339).unwrap_or_default(),
                        ]);
                    }
                    println!("{t}");
                }
            }
            ExperimentCommand::Show { id, json } => {
                let e = store.get(&id).await?;
                if json {
                    print_json(&e);
                } else {
                    describe(&e);
                }
            }
            ExperimentCommand::Start { id } => {
                let e = store.start(&id).await?;
                println!("started experiment {} ({})", e.id, e.spec.name);
            }
            ExperimentCommand::Stop { id } => {
                let e = store.stop(&id).await?;
                println!("stopped experiment {} ({})", e.id, e.spec.name);
            }
            ExperimentCommand::Results { id, json } => {
                let e = store.get(&id).await?;
                let r = results::readout(&app.db, &app.lake, &e).await?;
                if json {
                    print_json(&r);
                } else {
                    print!("{}", render(&r));
                }
            }
        }
        Ok(())
    }
    .await;
    app.db.close().await;
    outcome
}
