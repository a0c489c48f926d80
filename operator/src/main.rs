use clap::Parser;
use kube::CustomResourceExt;

#[derive(Parser)]
#[command(name = "herd-operator", version, about)]
enum Cli {
    /// Print the StatelessService CustomResourceDefinition as YAML.
    Crd,
    /// Validate StatelessService manifests as the API server would and print their children as YAML.
    Render {
        /// Manifest file (a YAML stream); `-` reads stdin. Repeat for several files.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse() {
        Cli::Crd => print!(
            "{}",
            serde_yaml::to_string(&herd_operator::crd::StatelessService::crd())?
        ),
        Cli::Render { files } => {
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
    }
    Ok(())
}
