//! The `recast` command line. The binary only calls [`main`]; commands live here so they are
//! part of the library, testable and documented in one place. Human output goes to stdout,
//! logs and progress to stderr; `--json` where a script reads the result.

mod bar;
mod demo;
mod experiment;
mod features;
mod forecasts;
mod keys;
mod lake;
mod models;
mod pipeline;
mod serve;
mod train;
mod train_forecast;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Settings, Sources};
use crate::error::Error;

#[derive(Parser, Debug)]
#[command(name = "recast", version, about = "Recommendations, demand forecasts and a feature store", long_about = None)]
pub struct Cli {
    /// Config file (default: $RECAST_CONFIG, else ./recast.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP API with the scheduler and one embedded worker.
    Serve {
        /// Address to listen on (overrides `listen`).
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
    },
    /// Run job workers only (scale-out: many machines share one DB and one lake).
    Worker {
        /// Jobs run at the same time (overrides `worker.concurrency`).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Pipelines: list, run now, past runs.
    Pipeline {
        #[command(subcommand)]
        command: pipeline::PipelineCommand,
    },
    /// Generate a realistic demo shop into the landing zone, land it, print an admin key.
    Demo(demo::DemoArgs),
    /// Train a model, evaluate it on a holdout and register it as a candidate version.
    Train {
        #[command(subcommand)]
        command: train::TrainCommand,
    },
    /// Model registry: list versions, promote, roll back.
    Models {
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Feature store: views, materialization, historical and online retrieval.
    Features {
        #[command(subcommand)]
        command: features::FeaturesCommand,
    },
    /// Forecast accuracy as actuals land: per series or run, and scoring on demand.
    Forecasts {
        #[command(subcommand)]
        command: forecasts::ForecastsCommand,
    },
    /// A/B experiments: create, list, show, start, stop, results.
    Experiment {
        #[command(subcommand)]
        command: experiment::ExperimentCommand,
    },
    /// Lake maintenance: publish the Delta logs of an existing lake.
    Lake {
        #[command(subcommand)]
        command: lake::LakeCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Print the effective configuration (secrets redacted).
    Config,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_settings(cli: &Cli) -> Result<Settings, Error> {
    let mut sources = Sources::from_process(cli.config.clone());
    match &cli.command {
        Command::Serve {
            listen: Some(listen),
        }
        | Command::Demo(demo::DemoArgs {
            listen: Some(listen),
            ..
        }) => sources
            .overrides
            .push(("listen".into(), toml::Value::String(listen.clone()))),
        Command::Worker {
            concurrency: Some(n),
        } => sources.overrides.push((
            "worker.concurrency".into(),
            toml::Value::Integer(i64::try_from(*n).unwrap_or(i64::MAX)),
        )),
        _ => {}
    }
    Ok(Settings::load(&sources)?)
}

async fn run(cli: Cli) -> Result<(), Error> {
    // Commands that need no settings at all.
    if let Command::Openapi = cli.command {
        print!("{}", crate::api::openapi::document());
        return Ok(());
    }
    let settings = load_settings(&cli)?;
    crate::telemetry::init_logging(&settings);
    match cli.command {
        Command::Openapi => unreachable!("handled above"),
        Command::Config => {
            print!("{}", settings.redacted_toml());
            Ok(())
        }
        Command::Migrate => {
            let db = crate::db::Db::open(&settings.database_url).await?;
            db.close().await;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Demo(args) => demo::run(settings, args).await,
        Command::Keys { command } => keys::run(settings, command).await,
        Command::Pipeline { command } => pipeline::run(settings, command).await,
        Command::Train { command } => train::run(settings, command).await,
        Command::Models { command } => models::run(settings, command).await,
        Command::Features { command } => features::run(settings, command).await,
        Command::Forecasts { command } => forecasts::run(settings, command).await,
        Command::Experiment { command } => experiment::run(settings, command).await,
        Command::Lake { command } => lake::run(settings, command).await,
        Command::Serve { .. } => serve::serve(settings).await,
        Command::Worker { .. } => serve::worker(settings).await,
    }
}
