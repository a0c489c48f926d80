//! herd-operator binary: parses the command line and hands over to the library.

use clap::Parser;
use herd_operator::{run, telemetry};
use kube::CustomResourceExt;

#[derive(Parser)]
#[command(
    name = "herd-operator",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Log line format of `run` and `metrics-api`.
    #[arg(
        long,
        env = "HERD_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: telemetry::LogFormat,
    /// Without a subcommand, `run`'s flags are taken here: `herd-operator --probe-addr ...` is `run`.
    #[command(flatten)]
    run: run::RunArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Run the controller (the default).
    Run(run::RunArgs),
    /// Print the StatelessService CustomResourceDefinition as YAML.
    Crd,
    /// Serve per-pod request rates as custom.metrics.k8s.io/v1beta2 for the HPA (its own Deployment).
    MetricsApi(herd_operator::traffic::run::MetricsApiArgs),
    /// Validate StatelessService manifests as the API server would and print their children as YAML.
    Render {
        /// Manifest file (a YAML stream); `-` reads stdin. Repeat for several files.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crd) => print!(
            "{}",
            serde_yaml::to_string(&herd_operator::crd::StatelessService::crd())?
        ),
        Some(Command::Render { files }) => {
            let rendered = herd_operator::render::run(
                &files,
                &mut std::io::stdin(),
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            if !rendered {
                std::process::exit(1);
            }
        }
        Some(Command::MetricsApi(args)) => {
            telemetry::init(cli.log_format)?;
            herd_operator::traffic::run::run(args).await?;
        }
        Some(Command::Run(args)) => {
            telemetry::init(cli.log_format)?;
            run::run(args).await?;
        }
        None => {
            telemetry::init(cli.log_format)?;
            run::run(cli.run).await?;
        }
    }
    Ok(())
}
